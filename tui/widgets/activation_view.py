"""An activation function beside its derivative, and how the network's activation layers fare.

Left, σ(z); right, σ′(z), the factor every gradient passing back through the layer is multiplied
by, with its largest value (0.25 for the sigmoid: ten sigmoid layers shrink a gradient at least
4¹⁰ ≈ 10⁶ times). The stretches of z where |σ′| < 0.01 are marked under both curves: a unit whose
sum sits there is saturated and passes almost nothing back. Below, live, each activation layer of
the network: the share of its units that are dead (never above zero on the training rows, for
the ReLU family) and the share of unit-sample pairs that are saturated. ``z``/``Z`` step through
every activation the engine knows, to compare them.
"""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from engine.activations import ACTIVATIONS
from tui.drawing import number, percent
from tui.session.probes import loss_rows
from tui.session.probes_learn import (
    SATURATED,
    Activity,
    activity,
    curves,
    has_activation,
    measured_by,
    saturated_ranges,
)
from tui.session.records import Scene
from tui.session.views import ViewDef, ViewKey, register
from tui.widgets.chart import Chart, Series
from tui.widgets.text_lines import Line, TextLines

Z = np.linspace(-6.0, 6.0, 241)
STAT_LINES = 4  # lines of the live shares, their heading included
ROOMY = 10  # panel lines from which the curves get two lines of heading
NAMES = tuple(ACTIVATIONS)  # every registered activation, the identity included


class ActivationView(Vertical):
    """σ and σ′ of one activation, side by side, and the network's dead and saturated shares."""

    DEFAULT_CSS = """
    ActivationView #act-head { height: 2; }
    ActivationView #act-charts { height: 1fr; }
    ActivationView #act-stats { height: 3; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None
        self.activity: Activity | None = None
        self.function = "sigmoid"
        self._pick = True  # the next measurement chooses the network's first activation

    def compose(self) -> ComposeResult:
        yield TextLines(id="act-head")
        with Horizontal(id="act-charts"):
            yield Chart(id="act-curve")
            yield Chart(id="act-slope")
        yield TextLines(id="act-stats")

    def show(self, scene: Scene, measured: Activity | None) -> None:
        """Draws the curves (the network's first activation for a new network) and the shares."""
        if scene is not self.scene:
            self.scene, self._pick = scene, True
        if measured is not None:
            self.activity = measured
            if self._pick and measured.layers:
                self.function, self._pick = measured.layers[0].name, False
                self._plot()
            self._stats()

    def action_next_activation(self) -> None:
        """Shows the next activation the engine knows."""
        self.function = NAMES[(NAMES.index(self.function) + 1) % len(NAMES)]
        self._plot()

    def action_previous_activation(self) -> None:
        """Shows the previous activation the engine knows."""
        self.function = NAMES[(NAMES.index(self.function) - 1) % len(NAMES)]
        self._plot()

    def on_mount(self) -> None:
        self._plot()

    def _plot(self) -> None:
        if not self.is_mounted:
            return
        defn = ACTIVATIONS[self.function]
        a, slope = curves(self.function, Z)
        flat = saturated_ranges(Z, slope)
        lo_a, hi_a = float(a.min()), float(a.max())
        pad = 0.08 * ((hi_a - lo_a) or 1.0)
        marks_a = [Series(np.array(r), np.full(2, lo_a - pad), "chart--b") for r in flat]
        top = float(slope.max())
        marks_s = [Series(np.array(r), np.zeros(2), "chart--b") for r in flat]
        self.query_one("#act-curve", Chart).plot(
            [Series(Z, a, "chart--a"), *marks_a], y_range=(lo_a - pad, hi_a + pad)
        )
        self.query_one("#act-slope", Chart).plot(
            [Series(Z, slope, "chart--d"), *marks_s],
            y_range=(-0.05 * (top or 1.0), 1.1 * (top or 1.0)),
        )
        at = float(Z[int(np.argmax(slope))])
        where = "z > 0" if np.allclose(slope[Z > 0], top) and top > 0 else f"z = {number(at, 2)}"
        shown = NAMES.index(self.function) + 1
        prime = defn.prime_rule.removeprefix("derivative of ").split(": ", 1)[-1]
        head: list[Line] = [
            [(defn.rule, "bold"), (f"  · z/Z: others ({shown}/{len(NAMES)})", "dim")],
            [
                ("σ′ = ", "dim"),
                (prime, ""),
                (" · max ", "dim"),
                (number(top, 3), "bold"),
                (f" at {where}", "dim"),
                (f" · ━ |σ′| < {SATURATED:g}", "dim") if flat else ("", ""),
            ],
        ]
        if self.size.height < ROOMY:  # one line: the name, σ′'s largest value and the keys
            head = [
                [
                    (f"{defn.name} ", "bold"),
                    ("max σ′ ", "dim"),
                    (number(top, 3), "bold"),
                    (f" at {where} · z/Z: others", "dim"),
                ]
            ]
        header = self.query_one("#act-head", TextLines)
        header.styles.height = len(head)
        header.show_lines(head)

    def on_resize(self) -> None:
        self._plot()
        self._stats()

    def _stats(self) -> None:
        if self.activity is None or not self.is_mounted:
            return
        rows = self.activity.layers
        width = max(self.size.width, 20)
        most = STAT_LINES if self.size.height >= 16 else 2 if self.size.height >= ROOMY else 1
        lines: list[Line] = []
        if most > 1:
            heading = f"per layer, {self.activity.rows} training rows · dead: never > 0 · "
            lines.append([(heading, "dim"), (f"sat: |σ′| < {SATURATED:g}", "dim")])
        line: Line = []
        used = 0
        for k, r in enumerate(rows):
            dead = f"dead {percent(r.dead)} " if r.dead is not None else ""
            bad = "bold red" if (r.dead or 0) >= 0.5 or r.saturated >= 0.5 else ""
            name, value = f"{r.layer} {r.name}×{r.units} ", f"{dead}sat {percent(r.saturated)}"
            size = len(name) + len(value) + 2
            if line and used + size > width:
                if len(lines) == most - 1:
                    line.append((f"… {len(rows) - k} more", "dim"))
                    break
                lines.append(line)
                line, used = [], 0
            line += [(name, "dim"), (value, bad), ("  ", "")]
            used += size
        lines.append(line or [("no activation layers", "dim")])
        stats = self.query_one("#act-stats", TextLines)
        stats.styles.height = len(lines)
        stats.show_lines(lines)


register(
    ViewDef(
        "activations",
        "activation σ(z) and σ′(z) · dead and saturated units",
        ActivationView,
        "activations",
        applies=lambda s: has_activation(s.net),
        probe=measured_by(lambda p: activity(p.net, p.data.X_train[loss_rows(p.net, p.data)[0]])),
        record=Activity,
        keys_note="z/Z: next/previous activation function σ(z)",
        keys=(
            ViewKey(
                "z",
                "next_activation",
                does="shows the next activation function's curves",
                missing="this picture has none",
                help="activations: the next activation function (sigmoid, tanh, ReLU …)",
            ),
            ViewKey(
                "Z",
                "previous_activation",
                does="shows the previous activation function's curves",
                missing="this picture has none",
                help="activations: the previous activation function",
            ),
        ),
        help="σ and σ′ of an activation, saturation marked; dead and saturated units per layer",
        extra=True,
    ),
)
