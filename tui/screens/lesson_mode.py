"""Lesson mode of the main screen: the lesson panel beside the live views, driven by keys.

:class:`LessonMode` is the main screen's base: it holds the lesson being played (a
:class:`~tui.learn.runner.LessonRunner`, None in the free app), turns → ← and the quiz keys into
the runner's moves, hands the runner every snapshot and key, and asks the session
(:class:`~tui.learn.session.LessonSession`) for each step's set-up. The main screen declares the
keys (its footer lists them in order) and calls :meth:`LessonMode._lesson_enter` and
:meth:`LessonMode._lesson_observe`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from tui.session.params import is_entry
from tui.session.records import Scene, Snapshot
from tui.session.worker import TrainingSession
from tui.widgets.layer_list import LayerList
from tui.widgets.network_view import NetworkView

if TYPE_CHECKING:  # the course loads with a lesson (``lesson_session``), not with the app
    from tui.learn.runner import LessonRunner, Outcome
    from tui.learn.session import LessonSession
    from tui.widgets.lesson_panel import LessonPanel

LESSON = Binding.Group("step")
NARROW_LESSON = 110
"""Terminal columns under which a lesson's panel goes under the views, in place of the network
and chain-rule panels (the views keep two fifths of the height, the lesson takes three)."""
LESSON_ACTIONS = (
    "lesson_next",
    "lesson_back",
    "leave_lesson",
    "choose",
    "lesson_enter",
    "lesson_scroll",
)


class LessonMode(Screen):
    """The lesson half of the main screen (see the module's docstring)."""

    session: TrainingSession
    runner: LessonRunner | None
    scene: Scene | None
    _origin: int | None
    _token: int

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Lesson keys only in a lesson; there ← → move between steps, ↑ ↓ pick a choice."""
        runner = self.runner
        if action in LESSON_ACTIONS:
            return runner is not None
        if action == "choice_move":
            return runner is not None and self._choice_open()
        if action == "move" and parameters[1:] == (0,):
            return runner is None  # ← → move between steps in a lesson; [ ] between layers
        return True

    def on_key(self, event: events.Key) -> None:
        """Reports each key to the lesson: a step may wait for one."""
        if self.runner is not None:
            self.runner.press(event.key)
            if event.character and event.character != event.key:
                self.runner.press(event.character)
            self._lesson_show()

    def _choice_open(self) -> bool:
        runner = self.runner
        if runner is None or runner.quiz is None or runner.quiz.kind != "choice":
            return False
        rec = runner.quiz_record
        return not (rec is not None and rec.settled)

    @property
    def lesson_panel(self) -> LessonPanel:
        from tui.widgets.lesson_panel import LessonPanel

        return self.query_one(LessonPanel)

    def _lesson_session(self) -> LessonSession | None:
        """The session, when it is a lesson's."""
        from tui.learn.session import LessonSession

        return self.session if isinstance(self.session, LessonSession) else None

    def _lesson_enter(self, index: int, origin: int | None = None) -> None:
        """Shows step ``index`` and asks the session for its set-up (a new run when the step
        needs another than the one up)."""
        from tui.learn.session import Setup

        runner, session = self.runner, self._lesson_session()
        assert runner is not None and session is not None
        lesson, step = runner.lesson, runner.lesson.steps[index]
        needed = runner.origin(index)
        fresh = needed != self._origin
        if origin is not None:  # the session was built on this step's experiment already
            self._origin, fresh = origin, False
        setup_step = lesson.steps[needed]
        new_run = fresh or origin is not None
        experiment = None
        if fresh:
            experiment = lesson.experiment_at(index)
            if experiment.train.device != "cpu":
                experiment = experiment.replace(train={"device": "cpu"})
            self._origin = needed
        setup = Setup(
            experiment=experiment,
            label=setup_step.label if new_run else None,
            clear_runs=fresh and not setup_step.keep_runs,
            weights=lesson.weights_at(index) if new_run else {},
            view=step.view,
            select=step.select,
            paused=step.paused if (new_run or step.paused) else None,
            pace=step.pace,
            default_pace=new_run and step.pace is None,
            plot=step.plot or ("epochs" if new_run else None),
        )
        runner.enter(index, fresh=True)
        self._token = session.begin(setup)
        if step.select is not None and not new_run:
            self._show_selected(step.select)
        panel = self.lesson_panel
        panel.entered(runner)
        self._lesson_show()

    def _show_selected(self, param: str) -> None:
        """Marks ``param`` selected in the diagram and the layer list (a step's ``select`` on
        the run that goes on: no new scene comes to show it)."""
        scene = self.scene
        if scene is not None and is_entry(param, scene.param_names, scene.param_shapes):
            self.query_one(NetworkView).selected = param
            self.query_one(LayerList).selected = param

    def _lesson_observe(self, snap: Snapshot) -> None:
        runner, session = self.runner, self._lesson_session()
        assert runner is not None and session is not None
        token, generation = session.ready
        if runner.waiting and token == self._token:
            runner.started(generation)
        was = runner.met
        runner.observe(snap)
        if runner.met != was or snap.losses or runner.waits():
            self._lesson_show()

    def _lesson_show(self) -> None:
        if self.runner is not None:
            self.lesson_panel.show(self.runner)

    def action_lesson_next(self) -> None:
        runner = self.runner
        if runner is None:
            return
        if not runner.met:
            self.notify(f"Not yet: waiting for {runner.awaited()}.", title="→", timeout=4)
            return
        if runner.last:
            runner.finish()
            lesson = runner.lesson
            self.notify(
                f"Lesson {lesson.number} done: {lesson.title}. Keep playing with this run, "
                "or quit and run `dltui learn` for the next lesson.",
                title="lesson done",
                timeout=8,
            )
            self.action_leave_lesson()
            return
        self._lesson_enter(runner.index + 1)

    def action_lesson_back(self) -> None:
        runner = self.runner
        if runner is not None and runner.index > 0:
            self._lesson_enter(runner.index - 1)

    def action_leave_lesson(self) -> None:
        """Back to the free app: the lesson's last run trains on, the panel goes."""
        if self.runner is None:
            return
        self.runner = None
        session = self._lesson_session()
        if session is not None:
            session.leave()
        self.lesson_panel.remove()
        self.remove_class("-lesson")  # the free layout, at any width
        self.refresh_bindings()

    def action_choose(self, number: int) -> None:
        runner = self.runner
        if runner is None or runner.quiz is None:
            return
        if runner.quiz.kind != "choice":
            self.lesson_panel.input.focus()
            return
        if number > len(runner.quiz.choices):
            self.notify(f"Choose 1 to {len(runner.quiz.choices)}.", title="quiz", timeout=3)
            return
        self.lesson_panel.cursor = number - 1
        self._answer(str(number))

    def action_choice_move(self, delta: int) -> None:
        runner, panel = self.runner, self.lesson_panel
        if runner is not None and runner.quiz is not None:
            panel.cursor = (panel.cursor + delta) % len(runner.quiz.choices)
            self._lesson_show()

    def action_lesson_scroll(self, direction: int) -> None:
        """pgup / pgdn: scrolls the lesson's text (a small terminal shows part of it)."""
        self.lesson_panel.page(direction)

    def action_lesson_enter(self) -> None:
        """Enter: answers the highlighted choice, or goes to the input of a typed quiz."""
        runner = self.runner
        if runner is None or runner.quiz is None:
            return
        if runner.quiz.kind == "choice":
            self._answer(str(self.lesson_panel.cursor + 1))
        else:
            self.lesson_panel.input.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the quiz's input: a settled quiz gives the keys back to the lesson; a wrong
        answer stays, selected, to be typed over or edited."""
        if event.input.id != "lesson-input":
            return
        outcome = self._answer(event.value)
        if outcome is None:
            return
        if outcome.right or outcome.revealed:
            event.input.value = ""
            self.set_focus(None)
        elif outcome.counted:
            event.input.action_select_all()

    def _answer(self, typed: str) -> Outcome | None:
        """Checks an answer to the step's quiz and shows what it gave."""
        runner = self.runner
        if runner is None or runner.quiz is None:
            return None
        outcome = runner.answer(typed)
        self._lesson_show()
        return outcome
