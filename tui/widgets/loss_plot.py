"""The live loss plot: training and test loss (or accuracy) with a legend, beside earlier runs.

Three ways to look (``Snapshot.plot``, keys ``b`` and ``K``):

* "epochs": loss measured on the training and test sets against epochs, the session's earlier
  runs (``Snapshot.runs``) as dimmer lines of their test loss, each labelled by what it changed;
* "steps": the loss of each mini-batch against steps, where the noise of small batches shows,
  the earlier runs' mini-batch losses beside it;
* "table": each run's label, epochs, final and best figures.
"""

from __future__ import annotations

import math

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive

from tui.drawing import number, percent
from tui.session.records import LossPoint, RunRecord, Scene, Snapshot, StepCurve
from tui.widgets.chart import RUN_COLOURS, Chart, Series, finite_or_nan
from tui.widgets.text_lines import Line, TextLines

MAX_POINTS = 4000  # beyond this the history is thinned to every other point
RUNS_NOTE = "k clears, K table"


class LossPlot(Vertical):
    """Loss (or accuracy) of the training and test sets since the network was built.

    The history is a plain list owned here; snapshots bring only the new points.
    """

    DEFAULT_CSS = """
    LossPlot > #runs-table { height: 1fr; display: none; }
    LossPlot.-table > #runs-table { display: block; }
    LossPlot.-table > #loss-chart { display: none; }
    """

    log_scale: reactive[bool] = reactive(False)
    """Whether the loss axis is logarithmic."""
    accuracy: reactive[bool] = reactive(False)
    """Whether to plot accuracy instead of loss (classification only)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[LossPoint] = []
        self._columns = np.zeros((5, 0))  # step, train/test loss, train/test accuracy
        self.runs: tuple[RunRecord, ...] = ()
        self.mode = "epochs"
        self.label = ""
        self.per_epoch = 1
        self.step_curve: StepCurve | None = None
        self.current: RunRecord | None = None
        self._scene: Scene | None = None

    def compose(self) -> ComposeResult:
        yield TextLines(id="loss-legend")
        yield Chart(id="loss-chart", nice=True)
        yield TextLines(id="runs-table")

    def clear(self) -> None:
        """Forgets the history (a new network starts)."""
        self.history = []
        self._columns = np.zeros((5, 0))
        self.step_curve = None
        self._redraw()

    def show(self, snap: Snapshot) -> None:
        """Takes what a snapshot brings: new points, earlier runs, the mode and its curve."""
        if snap.scene is not self._scene:
            self._scene = snap.scene
            self.history, self._columns, self.step_curve = [], np.zeros((5, 0)), None
        self.runs, self.mode, self.label = snap.runs, snap.plot, snap.run_label
        self.current = snap.current
        self.per_epoch = max(snap.per_epoch, 1)
        if snap.step_curve is not None:
            self.step_curve = snap.step_curve
        self.set_class(self.mode == "table", "-table")
        self.add(snap.losses, redraw=False)
        self._redraw()

    def add(self, points: tuple[LossPoint, ...], redraw: bool = True) -> None:
        """Appends measured points and redraws; a long history keeps every other point."""
        if points:
            self.history.extend(points)
            fields = ("step", "train_loss", "test_loss", "train_acc", "test_acc")
            new = np.array([finite_or_nan([getattr(p, f) for f in fields]) for p in points]).T
            self._columns = np.concatenate([self._columns, new], axis=1)
            if len(self.history) > MAX_POINTS:
                keep = np.r_[0 : len(self.history) - 1 : 2, len(self.history) - 1]
                self.history = [self.history[i] for i in keep]
                self._columns = self._columns[:, keep]
        if redraw and points:
            self._redraw()

    def watch_log_scale(self) -> None:
        self._redraw()

    def watch_accuracy(self) -> None:
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    @property
    def has_accuracy(self) -> bool:
        """Whether the data set has an accuracy (classification)."""
        return bool(self.history) and self.history[-1].train_acc is not None

    @property
    def shows_accuracy(self) -> bool:
        """Whether the chart draws accuracy now (asked for, the task has one, per epoch)."""
        return self.accuracy and self.has_accuracy and self.mode == "epochs"

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        legend = self.query_one("#loss-legend", TextLines)
        legend.show_lines([self._legend(legend.size.width or 80)])
        if self.mode == "table":
            table = self.query_one("#runs-table", TextLines)
            table.show_lines(self._table(table.size.width or self.size.width or 60))
            return
        show_acc = self.shows_accuracy
        if self.mode == "steps":
            series, x_label = self._step_series(), "step"
        else:
            series, x_label = self._epoch_series(show_acc), "epoch"
        y_range = (0.0, 1.0) if show_acc else None
        log = self.log_scale and not show_acc
        self.query_one(Chart).plot(series, log=log, y_range=y_range, x_label=x_label)

    def _epoch_series(self, show_acc: bool) -> list[Series]:
        """Earlier runs' test figure (dim, labelled), then this run's test and train."""
        out = []
        for i, run in enumerate(self.runs):
            x = np.array([p.step for p in run.points], dtype=np.float64) / max(run.per_epoch, 1)
            y = finite_or_nan([p.test_acc if show_acc else p.test_loss for p in run.points])
            out.append(Series(x, y, RUN_COLOURS[i % len(RUN_COLOURS)], label=run.label))
        steps, train, test = self._columns[[0, 3, 4] if show_acc else [0, 1, 2]]
        epochs = steps / self.per_epoch
        label = self.label if self.runs else ""
        out += [Series(epochs, test, "chart--b"), Series(epochs, train, "chart--a", label=label)]
        return out

    def _step_series(self) -> list[Series]:
        """Earlier runs' mini-batch losses (dim, labelled), then this run's."""
        out = []
        for i, run in enumerate(self.runs):
            c = run.step_curve
            out.append(
                Series(c.steps, c.losses, RUN_COLOURS[i % len(RUN_COLOURS)], label=run.label)
            )
        if self.step_curve is not None:
            label = self.label if self.runs else ""
            c = self.step_curve
            out.append(Series(c.steps, c.losses, "chart--a", label=label))
        return out

    def _legend(self, width: int) -> Line:
        """The longest of a few forms of the legend that fits ``width`` (a narrow panel drops
        the other measure, then the words, rather than cut a number)."""
        forms = self._legends()
        return next((f for f in forms if sum(len(t) for t, _ in f) <= width), forms[-1])

    def _legends(self) -> list[Line]:
        if self.mode == "table":
            head: Line = [("runs: final and best figures", "bold")]
            return [[*head, ("  (K: the plot again)", "dim")], head, [("runs", "bold")]]
        if self.mode == "steps":
            return self._step_legends()
        if not self.history:
            return [[("loss: waiting for the first measurement", "dim")], [("loss…", "dim")]]
        p = self.history[-1]
        if self.shows_accuracy:
            what, train, test = "accuracy", percent(p.train_acc), percent(p.test_acc)
            other = f"  loss {number(p.train_loss)} / {number(p.test_loss)}"
        else:
            what, train, test = "loss", number(p.train_loss), number(p.test_loss)
            other = "" if p.train_acc is None else f"  acc {percent(p.train_acc)} / "
            other += "" if p.train_acc is None else percent(p.test_acc)
        scale = " (log)" if self.log_scale and what == "loss" else ""
        runs = f"  · {len(self.runs)} earlier (test), {RUNS_NOTE}" if self.runs else ""
        few = f"  · {len(self.runs)} earlier" if self.runs else ""
        a, b = self._colour("chart--a"), self._colour("chart--b")
        forms = []
        for words, gap, extra in (
            (True, "  ", other + runs),
            (True, "  ", other + few),
            (True, "  ", few),
            (True, "  ", other),
            (True, "  ", ""),
            (True, " ", ""),
            (False, " ", ""),
        ):
            name = (" train ", " test ") if words else (" ", " ")
            line: Line = [(f"{what}{scale}{gap}", "bold"), ("━", a)]
            line += [(f"{name[0]}{train}{gap}", ""), ("━", b), (f"{name[1]}{test}", "")]
            forms.append([*line, (extra, "dim")] if extra else line)
        return forms

    def _step_legends(self) -> list[Line]:
        curve = self.step_curve
        last = number(float(curve.losses[-1])) if curve is not None and curve.losses.size else "–"
        scale = " (log)" if self.log_scale else ""
        a = self._colour("chart--a")
        head: Line = [(f"loss per mini-batch{scale}  ", "bold"), ("━", a), (f" {last}", "")]
        runs = f"  · {len(self.runs)} earlier, {RUNS_NOTE}" if self.runs else ""
        short: Line = [(f"batch loss{scale} ", "bold"), ("━", a), (f" {last}", "")]
        return [[*head, (runs, "dim")], head, short]

    def _table(self, width: int) -> list[Line]:
        """A row per run, the current one last: label, epochs, final and best figures; a
        narrow panel drops the final training loss."""
        runs = [*self.runs, *([self.current] if self.current is not None else [])]
        val = any(getattr(r.experiment.train, "validation", 0) for r in runs)
        held_out = "val" if val else "test"
        columns = [("ep", 5), ("train", 7), (held_out, 7), ("best", 7), ("acc", 6)]
        if width - sum(w + 1 for _, w in columns) < 12:
            columns.pop(1)
        label_width = max(width - sum(w + 1 for _, w in columns), 6)
        header = "run".ljust(label_width) + "".join(f" {n:>{w}}" for n, w in columns)
        lines: list[Line] = [[(header, "bold")]]
        for run in runs:
            label = (
                run.label if len(run.label) <= label_width else run.label[: label_width - 1] + "…"
            )
            cells = cells_of(run)
            text = label.ljust(label_width) + "".join(f" {cells[n]:>{w}}" for n, w in columns)
            current = run is self.current
            lines.append([(text, "bold" if current else "")])
        if not self.runs:
            lines.append([("a reset or a setup change starts a new run", "dim")])
        return lines

    def _colour(self, component: str) -> str:
        """The chart's colour for a series, as a Rich style."""
        return self.query_one(Chart).get_component_styles(component).color.hex


def cells_of(run: RunRecord) -> dict[str, str]:
    """A run's figures as the table writes them: epochs, the last epoch's training and test
    (or validation) loss, the best test loss and the best test accuracy."""
    final, best = run.final, run.best_test_loss
    held_out = number(final.test_loss) if final else "–"
    return {
        "ep": f"{run.epochs:,}",
        "train": number(final.train_loss) if final else "–",
        "test": held_out,
        "val": held_out,
        "best": number(best) if math.isfinite(best) else "–",
        "acc": percent(run.best_test_acc),
    }
