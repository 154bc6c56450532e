"""The loss as a function of the prediction ŷ, and the gradient it sends back.

For classes 0/1, left: cross-entropy −log ŷ (target 1) and −log(1 − ŷ) (target 0) beside the
squared error (ŷ − y)² for the same targets. Right: the size of ∂L/∂z for target 1, z the sum
before the sigmoid: cross-entropy's is 1 − ŷ, largest when the network is confidently wrong
(ŷ → 0); squared error's is 2(1 − ŷ)·ŷ(1 − ŷ), which vanishes there, so a sigmoid trained on it
can sit wrong for a long time. Ticks along the bottom of the left chart show where the first
training samples sit now (their colour is their target). For numbers, the same against the
error ŷ − y: squared error and Huber, and their gradients.
"""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from tui.drawing import number
from tui.session.probes_learn import (
    LossAtSamples,
    grad_z,
    loss_at_samples,
    loss_of,
    lossfn_applies,
    measured_by,
)
from tui.session.records import Scene
from tui.session.views import Subject, ViewDef, register
from tui.widgets.chart import Chart, Series
from tui.widgets.text_lines import Line, TextLines

P = np.linspace(0.002, 0.998, 300)
ROOMY = 10  # panel lines from which the heading takes two lines
LOSS_TOP = 4.0  # the loss axis stops here (−log ŷ grows without bound)


class LossFnView(Vertical):
    """Loss against ŷ (left) and |∂L/∂z| against ŷ (right), with the samples' ŷ marked."""

    DEFAULT_CSS = """
    LossFnView #lossfn-head { height: 2; }
    LossFnView #lossfn-charts { height: 1fr; }
    LossFnView #lossfn-legend { height: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.samples: LossAtSamples | None = None

    def compose(self) -> ComposeResult:
        yield TextLines(id="lossfn-head")
        with Horizontal(id="lossfn-charts"):
            yield Chart(id="lossfn-loss")
            yield Chart(id="lossfn-grad")
        yield TextLines(id="lossfn-legend")

    def show(self, scene: Scene, samples: LossAtSamples | None) -> None:
        """Draws the curves and the samples' places; None keeps the last ones."""
        if samples is not None:
            self.samples = samples
            self._plot()

    def _colour(self, chart: Chart, part: str) -> str:
        return chart.get_component_styles(part).color.hex6

    def _plot(self) -> None:
        s = self.samples
        if s is None or not self.is_mounted:
            return
        if s.z is not None:
            self._plot_perceptron(s, s.z)
        elif s.regression:
            self._plot_numbers(s)
        else:
            self._plot_classes(s)

    def _plot_classes(self, s: LossAtSamples) -> None:
        left, right = self.query_one("#lossfn-loss", Chart), self.query_one("#lossfn-grad", Chart)
        ones, zeros = np.ones_like(P), np.zeros_like(P)
        ce1, ce0 = loss_of("bce", P, ones), loss_of("bce", P, zeros)
        se1, se0 = loss_of("mse", P, ones), loss_of("mse", P, zeros)
        tick = np.full(len(s.yhat), 0.03 * LOSS_TOP)
        at = np.clip(s.yhat, P[0], P[-1])  # a sure prediction's tick sits at the axis's end
        one = s.y > 0.5
        left.plot(
            [
                Series(P, np.minimum(ce1, LOSS_TOP), "chart--a"),
                Series(P, np.minimum(ce0, LOSS_TOP), "chart--b"),
                Series(P, se1, "chart--d"),
                Series(P, se0, "chart--c"),
                Series(at[one], tick[one], "chart--a", points=True),
                Series(at[~one], tick[~one], "chart--b", points=True),
            ],
            y_range=(0.0, LOSS_TOP),
        )
        right.plot(
            [
                Series(P, np.abs(grad_z("bce", P, ones, True)), "chart--a"),
                Series(P, np.abs(grad_z("mse", P, ones, True)), "chart--d"),
            ],
            y_range=(0.0, 1.0),
        )
        current = "cross-entropy" if s.loss in ("bce", "bce_logits") else "squared error"
        through = "ŷ = σ(z)" if s.sigmoid else "ŷ = z (no sigmoid)"
        head: list[Line] = [
            [
                (f"{s.loss} ({current})", "bold"),
                (f" · {through} · loss on {len(s.y)} samples ", "dim"),
                (number(s.mean, 3), "bold"),
            ],
            [("left L(ŷ) · right |∂L/∂z| for y = 1, z before the sigmoid", "dim")],
        ]
        a, b = self._colour(left, "chart--a"), self._colour(left, "chart--b")
        d, c = self._colour(left, "chart--d"), self._colour(left, "chart--c")
        legend: Line = [
            ("━ CE y=1 ", a),
            ("━ CE y=0 ", b),
            ("━ (ŷ−y)² y=1 ", d),
            ("━ y=0 ", c),
            ("· samples' ŷ", "dim"),
        ]
        self._head(head, s)
        self.query_one("#lossfn-legend", TextLines).show_lines([legend])

    def _head(self, head: list[Line], s: LossAtSamples) -> None:
        """The heading: two lines, or one where the panel is short."""
        if self.size.height < ROOMY:
            head = [[(s.loss, "bold"), (" · loss now ", "dim"), (number(s.mean, 3), "bold")]]
        header = self.query_one("#lossfn-head", TextLines)
        header.styles.height = len(head)
        header.show_lines(head)

    def on_resize(self) -> None:
        self._plot()

    def _plot_perceptron(self, s: LossAtSamples, z_at: np.ndarray) -> None:
        """The perceptron's 0/1 loss against z, beside cross-entropy's of σ(z)."""
        left, right = self.query_one("#lossfn-loss", Chart), self.query_one("#lossfn-grad", Chart)
        reach = max(float(np.max(np.abs(z_at))) if z_at.size else 0.0, 3.0) * 1.2
        z = np.linspace(-reach, reach, 301)
        step, p = (z > 0).astype(np.float64), 1.0 / (1.0 + np.exp(-z))
        ones, zeros = np.ones_like(z), np.zeros_like(z)
        one = s.y > 0.5
        tick = np.full(len(z_at), 0.03 * LOSS_TOP)
        left.plot(
            [
                Series(z, loss_of("perceptron", step, ones), "chart--a"),
                Series(z, loss_of("perceptron", step, zeros), "chart--b"),
                Series(z, np.minimum(loss_of("bce", p, ones), LOSS_TOP), "chart--c"),
                Series(z_at[one], tick[one], "chart--a", points=True),
                Series(z_at[~one], tick[~one], "chart--b", points=True),
            ],
            y_range=(0.0, 2.0),
        )
        right.plot(
            [
                Series(z, np.abs(grad_z("perceptron", step, ones, False)), "chart--a"),
                Series(z, np.abs(grad_z("bce", p, ones, True)), "chart--c"),
            ],
            y_range=(0.0, 1.1),
        )
        head: list[Line] = [
            [
                ("perceptron", "bold"),
                (f" · ŷ = H(z) · share wrong of {len(s.y)} samples ", "dim"),
                (number(s.mean, 3), "bold"),
            ],
            [("left L(z) · right |∂L/∂z| for y = 1: only mistakes teach", "dim")],
        ]
        legend: Line = [
            ("━ y=1 ", self._colour(left, "chart--a")),
            ("━ y=0 ", self._colour(left, "chart--b")),
            ("━ CE of σ(z), y=1 ", self._colour(left, "chart--c")),
            ("· samples' z", "dim"),
        ]
        self._head(head, s)
        self.query_one("#lossfn-legend", TextLines).show_lines([legend])

    def _plot_numbers(self, s: LossAtSamples) -> None:
        left, right = self.query_one("#lossfn-loss", Chart), self.query_one("#lossfn-grad", Chart)
        errors = s.yhat - s.y
        reach = max(float(np.max(np.abs(errors))) if errors.size else 0.0, 1.0) * 1.2
        r = np.linspace(-reach, reach, 300)
        zero = np.zeros_like(r)
        se, hub = loss_of("mse", r, zero), loss_of("huber", r, zero, s.delta)
        top = float(se.max())
        left.plot(
            [
                Series(r, se, "chart--a"),
                Series(r, hub, "chart--d"),
                Series(errors, np.full(len(errors), 0.03 * top), "chart--b", points=True),
            ],
            y_range=(0.0, top),
        )
        right.plot(
            [
                Series(r, grad_z("mse", r, zero, False), "chart--a"),
                Series(r, grad_z("huber", r, zero, False, s.delta), "chart--d"),
            ]
        )
        head: list[Line] = [
            [
                (s.loss, "bold"),
                (f" · loss on {len(s.y)} samples ", "dim"),
                (number(s.mean, 3), "bold"),
            ],
            [("left L against the error ŷ − y · right ∂L/∂ŷ", "dim")],
        ]
        a, d = self._colour(left, "chart--a"), self._colour(left, "chart--d")
        legend: Line = [
            ("━ (ŷ−y)² ", a),
            (f"━ Huber δ={s.delta:g} ", d),
            ("· samples' ŷ − y", self._colour(left, "chart--b")),
        ]
        self._head(head, s)
        self.query_one("#lossfn-legend", TextLines).show_lines([legend])


def _applies(s: Subject) -> bool:
    return lossfn_applies(
        s.experiment.train.loss, s.net.out_features, s.data.task, len(s.net.output_shape)
    )


register(
    ViewDef(
        "lossfn",
        "loss against ŷ · its gradient",
        LossFnView,
        "lossfn",
        applies=_applies,
        probe=measured_by(lambda p: loss_at_samples(p.scene, p.net, p.trainer)),
        record=LossAtSamples,
        help="one output: the loss against ŷ, cross-entropy beside squared error, and ∂L/∂z",
        extra=True,
    ),
)
