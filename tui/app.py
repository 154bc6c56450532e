"""The ``dltui`` app: wires the screens together, nothing more.

It opens on the main screen (live training) — or first on the warm-up screen when the kernels of
the run's first step have never been compiled — and pushes the derivation, setup, help and
open-run screens from there. The training itself lives in
:class:`tui.session.worker.TrainingSession`, driven by the main screen. ``dltui learn`` opens it
on the lesson picker (``tui.screens.lessons``) or on one lesson: the main screen in lesson mode,
its session a :class:`tui.learn.session.LessonSession`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from engine.experiment.config import Experiment, Run
from engine.warmup import first_step_cached, kernels_cached
from tui.screens.main import MainScreen
from tui.screens.warmup import WarmupScreen
from tui.session.worker import TrainingSession

if TYPE_CHECKING:  # the course loads with a lesson, not with every start of the app
    from tui.learn.lesson import Lesson
    from tui.learn.progress import Progress


class DltuiApp(App[int]):
    """Learn deep learning by watching it happen.

    Args:
        experiment: what to train.
        run: the experiment already built (data loaded), or None to build it here.
        paused: open paused (tests and snapshots step by hand).
        check_kernels: show the warm-up screen when the kernels are not compiled yet.
        pace: steps per second to train at (``tui.session.pace.FULL_SPEED``: no cap); None: each
            experiment's default pace (tests that need many steps pass full speed). In a lesson,
            a pace given here overrides the steps' own.
        lessons: the course, to open on the lesson picker (``dltui learn``); ``experiment`` and
            ``run`` are then unused until a lesson is picked.
        lesson: a lesson to open at once, at the step its progress saved (``dltui learn N``).
        progress: the learner's progress (default: read from the user's data directory).
    """

    CSS_PATH = Path(__file__).with_name("dltui.tcss")
    TITLE = "dltui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit", show=False)]

    def __init__(
        self,
        experiment: Experiment,
        run: Run | None = None,
        paused: bool = False,
        check_kernels: bool = True,
        pace: float | None = None,
        lessons: tuple[Lesson, ...] | None = None,
        lesson: Lesson | None = None,
        progress: Progress | None = None,
    ) -> None:
        super().__init__()
        self.experiment = experiment
        self._run = run
        self._paused = paused
        self._check_kernels = check_kernels
        self._pace = pace
        self._lessons = lessons
        self._lesson = lesson
        self.progress = progress
        self.session: TrainingSession | None = None

    def on_mount(self) -> None:
        if self._check_kernels and not (self._lessons is not None and kernels_cached()):
            run = self._run = self._run or self.experiment.build()
            if not (kernels_cached() and first_step_cached(run)):
                self.push_screen(WarmupScreen(run), lambda _: self._begin())
                return
        self._begin()

    def _behind(self, session: TrainingSession) -> TrainingSession:
        """``session``, its networks' fused kernels compiled in the background where this app
        checks its kernels (a network put on the layer path meanwhile returns to it)."""
        if self._check_kernels:
            session.compile_behind = True
            session.compile_fused_behind()
        return session

    def _begin(self) -> None:
        if self._lessons is not None and self._lesson is None:
            self._pick()
        else:
            self._start()

    def _pick(self) -> None:
        """The lesson picker; Enter on a lesson opens it."""
        from tui.screens.lessons import LessonsScreen

        lessons = self._lessons or ()
        self.push_screen(LessonsScreen(lessons, self._progress()), self._picked)

    def _picked(self, number: object) -> None:
        lesson = next((x for x in self._lessons or () if x.number == number), None)
        if lesson is None:
            self.exit(0)
            return
        self._lesson = lesson
        self._start()

    def _progress(self) -> Progress:
        if self.progress is None:
            from tui.learn.progress import Progress

            self.progress = Progress.load()
        return self.progress

    def _start(self) -> None:
        """Builds the session and shows the main screen (in lesson mode for a lesson)."""
        if self._lesson is None:
            self.session = self._behind(
                TrainingSession(
                    self.experiment, paused=self._paused, run=self._run, pace=self._pace
                )
            )
            self.push_screen(MainScreen(self.session))
            return
        from tui.learn.quiz import formula_checker_ready
        from tui.learn.runner import LessonRunner
        from tui.learn.session import LessonSession

        progress = self._progress()
        if progress.warning:
            self.notify(progress.warning, severity="warning", timeout=10, markup=False)
        if any(s.quiz is not None and s.quiz.kind == "formula" for s in self._lesson.steps):
            # the formula checker brings SymPy: loaded beside the lesson, not at the first answer
            threading.Thread(target=formula_checker_ready, daemon=True).start()
        runner = LessonRunner(self._lesson, progress)
        experiment = self._lesson.experiment_at(runner.origin())
        if experiment.train.device != "cpu":
            experiment = experiment.replace(train={"device": "cpu"})
        self.experiment = experiment
        self.session = self._behind(LessonSession(experiment, paused=True, fixed_pace=self._pace))
        self.push_screen(MainScreen(self.session, runner))

    async def action_quit(self) -> None:
        """Stops the training thread, then leaves."""
        if self.session is not None:
            self.session.stop()
        self.exit(0)

    @property
    def main(self) -> MainScreen:
        """The main screen (for tests and the other screens)."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("the main screen is not open yet")
