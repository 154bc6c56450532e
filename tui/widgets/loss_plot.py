"""The live loss plot: training and test loss against steps, or accuracy, with a legend."""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive

from tui.drawing import number, percent
from tui.session.records import LossPoint
from tui.widgets.chart import Chart, Series, finite_or_nan
from tui.widgets.text_lines import Line, TextLines

MAX_POINTS = 4000  # beyond this the history is thinned to every other point


class LossPlot(Vertical):
    """Loss (or accuracy) of the training and test sets since the network was built.

    The history is a plain list owned here; snapshots bring only the new points.
    """

    log_scale: reactive[bool] = reactive(False)
    """Whether the loss axis is logarithmic."""
    accuracy: reactive[bool] = reactive(False)
    """Whether to plot accuracy instead of loss (classification only)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[LossPoint] = []
        self._columns = np.zeros((5, 0))  # step, train/test loss, train/test accuracy

    def compose(self) -> ComposeResult:
        yield TextLines(id="loss-legend")
        yield Chart(id="loss-chart", nice=True)

    def clear(self) -> None:
        """Forgets the history (a new network starts)."""
        self.history = []
        self._columns = np.zeros((5, 0))
        self._redraw()

    def add(self, points: tuple[LossPoint, ...]) -> None:
        """Appends measured points and redraws; a long history keeps every other point."""
        if not points:
            return
        self.history.extend(points)
        fields = ("step", "train_loss", "test_loss", "train_acc", "test_acc")
        new = np.array([finite_or_nan([getattr(p, f) for f in fields]) for p in points]).T
        self._columns = np.concatenate([self._columns, new], axis=1)
        if len(self.history) > MAX_POINTS:
            keep = np.r_[0 : len(self.history) - 1 : 2, len(self.history) - 1]
            self.history = [self.history[i] for i in keep]
            self._columns = self._columns[:, keep]
        self._redraw()

    def watch_log_scale(self) -> None:
        self._redraw()

    def watch_accuracy(self) -> None:
        self._redraw()

    @property
    def has_accuracy(self) -> bool:
        """Whether the data set has an accuracy (classification)."""
        return bool(self.history) and self.history[-1].train_acc is not None

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#loss-legend", TextLines).show_lines([self._legend()])
        show_acc = self.shows_accuracy
        steps, train, test = self._columns[[0, 3, 4] if show_acc else [0, 1, 2]]
        series = [Series(steps, test, "chart--b"), Series(steps, train, "chart--a")]
        y_range = (0.0, 1.0) if show_acc else None
        self.query_one(Chart).plot(series, log=self.log_scale and not show_acc, y_range=y_range)

    @property
    def shows_accuracy(self) -> bool:
        """Whether the chart draws accuracy now (asked for, and the task has one)."""
        return self.accuracy and self.has_accuracy

    def _legend(self) -> Line:
        """The plotted measure's latest train and test values by their colours; the other after."""
        if not self.history:
            return [("loss: waiting for the first measurement", "dim")]
        p = self.history[-1]
        if self.shows_accuracy:
            what, train, test = "accuracy", percent(p.train_acc), percent(p.test_acc)
            other = f"  loss {number(p.train_loss)} / {number(p.test_loss)}"
        else:
            what, train, test = "loss", number(p.train_loss), number(p.test_loss)
            other = "" if p.train_acc is None else f"  acc {percent(p.train_acc)} / "
            other += "" if p.train_acc is None else percent(p.test_acc)
        scale = " (log)" if self.log_scale and what == "loss" else ""
        line: Line = [(f"{what}{scale}  ", "bold"), ("━", self._colour("chart--a"))]
        line += [(f" train {train}  ", ""), ("━", self._colour("chart--b"))]
        line += [(f" test {test}", ""), (other, "dim")]
        return line

    def _colour(self, component: str) -> str:
        """The chart's colour for a series, as a Rich style."""
        return self.query_one(Chart).get_component_styles(component).color.hex
