"""What a snapshot measures: losses, the shown view, the selected parameter's chain rule.

Measuring costs time the thread would train in, so :class:`Measures` keeps to a share of it:
while training, losses and the view are measured again only after a wait that grows with what
the last measurement cost (between ``POST_INTERVAL`` and ``MEASURE_EVERY``); paused, at every
snapshot. Everything here runs on the training thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from engine.experiment.config import Run
from engine.network import Sequential
from tui.session import probes, probes_nets
from tui.session.loop import POST_INTERVAL
from tui.session.records import ChainRule, LossPoint, ParamNote, Scene, View
from tui.session.steps import KEPT_POINTS, thinned
from tui.session.views import Probe, measure

MEASURE_SHARE = 0.05  # at most this share of the time goes to measuring losses and views
MEASURE_EVERY = 2.0  # seconds: the longest wait between two measurements while training


class Measures:
    """Losses and the view of one run, measured when due.

    The first measurement of a network fixes which rows losses are measured on
    (``probes.loss_rows``): all, up to ``EVAL_ROWS``, for small networks; fewer, spread over each
    set, for a transformer. The same rows are used from then on, so the curve stays smooth.
    """

    def __init__(self) -> None:
        self.measured_step = -1
        self.rows: tuple[probes.Rows, probes.Rows] = (slice(None), slice(None))
        self.next_at = 0.0
        self.points: list[LossPoint] = []  # every point measured (or loaded), thinned
        self._loaded: tuple[LossPoint, ...] = ()

    def load(self, points: Sequence[LossPoint]) -> None:
        """Points of an opened run's past, handed out with the next measurement."""
        self._loaded = tuple(points)
        self.points = thinned(points)
        self.next_at = 0.0

    def again(self) -> None:
        """Measures at the next snapshot (a new sample or head to show)."""
        self.next_at = 0.0

    def take(
        self, run: Run, view: str, probe: Probe, paused: bool
    ) -> tuple[tuple[LossPoint, ...], View | None]:
        """The losses (none if this step was measured) and the view, when due; else nothing."""
        now = time.perf_counter()
        if not paused and now < self.next_at:
            return (), None
        losses, self._loaded = self._loaded, ()
        if run.trainer.step != self.measured_step:
            point = self._losses(run)
            losses += (point,)
            self.points.append(point)
            if len(self.points) > 2 * KEPT_POINTS:
                self.points = thinned(self.points)
            self.measured_step = run.trainer.step
        shown = measure(view, probe)
        cost = time.perf_counter() - now
        self.next_at = now + min(max(POST_INTERVAL, cost / MEASURE_SHARE), MEASURE_EVERY)
        return losses, shown

    def _losses(self, run: Run) -> LossPoint:
        """Loss and accuracy on the training and test sets."""
        data, trainer = run.data, run.trainer
        if self.measured_step < 0:
            self.rows = probes.loss_rows(run.net, data)
        train, test = self.rows
        train_loss, train_acc = trainer.evaluate(data.X_train[train], data.y_train[train])
        test_loss, test_acc = trainer.evaluate(data.X_test[test], data.y_test[test])
        return LossPoint(trainer.step, train_loss, test_loss, train_acc, test_acc)


def chain(
    net: Sequential, run: Run, scene: Scene, selected: str, sample: int
) -> ChainRule | ParamNote | None:
    """The selected entry's chain rule ``δ·a`` on a plain Dense stack, else its note; ``net`` is
    the run's network as the views read it (on the host)."""
    data = run.data
    try:
        if scene.mlp:
            return probes.chain_rule(net, run.trainer, data.X_train, data.y_train, selected, sample)
    except (ValueError, FloatingPointError):
        pass
    try:
        return probes_nets.param_note(net, selected)
    except (ValueError, IndexError):
        return None
