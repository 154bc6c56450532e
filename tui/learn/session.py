"""The training session of a lesson: a step's set-up carried out in one go on the training thread.

A lesson step may start a run, set weights by hand, choose the view, the selected weight, the
pace and the plot, and open paused. :meth:`LessonSession.begin` queues all of it as one command,
so no mini-batch trains between the new network and its hand-set weights, and the screen learns
which scene is the step's (:attr:`LessonSession.ready`) to count its waits from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.experiment.config import Experiment, Run
from tui.session.pace import FULL_SPEED
from tui.session.params import is_entry
from tui.session.worker import TrainingSession


@dataclass(frozen=True)
class Setup:
    """What entering a step asks of the session (None: leave as it is).

    Attributes:
        experiment: start a fresh run of it (its own seed and initial weights).
        label: the new run's label in the comparison (None: what changed).
        clear_runs: forget the earlier runs first.
        weights: parameters to set by hand in the new run.
        view, select, paused, pace, plot: as in the step (``pace`` 0: full speed).
        default_pace: go back to the experiment's default pace (a step without ``pace``).
    """

    experiment: Experiment | None = None
    label: str | None = None
    clear_runs: bool = False
    weights: Mapping[str, Any] = field(default_factory=dict)
    view: str | None = None
    select: str | None = None
    paused: bool | None = None
    pace: float | None = None
    plot: str | None = None
    default_pace: bool = False


class LessonSession(TrainingSession):
    """A training session that a lesson drives.

    Args:
        fixed_pace: a pace that overrides every step's (tests train at full speed); None: each
            step's own, or the experiment's default.
        Other arguments: as :class:`TrainingSession`.
    """

    def __init__(
        self,
        experiment: Experiment,
        paused: bool = False,
        run: Run | None = None,
        fixed_pace: float | None = None,
    ) -> None:
        super().__init__(experiment, paused=paused, run=run, pace=fixed_pace)
        self.fixed_pace = fixed_pace
        self.ready: tuple[int, int] = (0, 0)
        """(token, scene generation) of the last set-up carried out: the screen compares the
        token with the one :meth:`begin` returned."""
        self._tokens = 0

    def begin(self, setup: Setup) -> int:
        """Queues a step's set-up; returns the token :attr:`ready` shows once it is done."""
        self._tokens += 1
        token = self._tokens
        self._send(lambda: self._begin(setup, token))
        return token

    def leave(self) -> None:
        """The lesson is over: the run trains on at the app's own pace (a run that ended stays
        as it is: space trains on)."""
        self._send(self._leave)

    # ------------------------------------------------------------------ on the training thread
    def _begin(self, setup: Setup, token: int) -> None:
        try:
            if setup.clear_runs:
                self._clear_runs()
            if setup.experiment is not None:
                self._rebuild(setup.experiment, setup.label, fresh=True)
            elif setup.label:  # the run the session opened on: it takes the step's label
                self.run_label = setup.label
            if setup.weights:
                self.run.net.set_params(setup.weights)
            scene = self.scene
            if setup.view is not None and setup.view in (*scene.views, scene.view):
                self.shown = setup.view
                self._remeasure()
            if setup.select is not None and is_entry(
                setup.select, scene.param_names, scene.param_shapes
            ):
                self.selected = setup.select
                self._remeasure()
            if setup.plot is not None:
                self.plot, self._sent_curve = setup.plot, -1
            if setup.pace is not None or setup.default_pace:
                self._set_pace(setup.pace)
            if setup.paused is not None:
                self.paused = setup.paused
                self._resumed()
        finally:  # a set-up that failed (a Notice says why) must not leave the step waiting
            self.ready = (token, self.scene.generation)

    def _set_pace(self, pace: float | None) -> None:
        if self.fixed_pace is not None:
            return
        if pace is None:
            self._pacer.chosen = False
            self._fit_pace()
        else:
            self._pacer.choose(FULL_SPEED if pace == 0 else pace)

    def _leave(self) -> None:
        self._set_pace(None)
        if self.paused and self._state == "training":  # held by a step, not ended
            self.paused = False
            self._resumed()
