"""Walks every lesson of the course from its first step to its last, as a learner would, at full
speed: each step's run is waited for, each key it asks for pressed, each quiz answered once wrong
and then right. A wait that is never met fails naming the lesson, the step and what it awaited.

DLTUI_WALK_LESSONS=3,11 walks only those lessons.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import DltuiApp
from tui.learn.lesson import Lesson, Quiz, course
from tui.learn.progress import Progress
from tui.learn.runner import LessonRunner
from tui.session.pace import FULL_SPEED

STEP_TIMEOUT = 240.0
"""Seconds a step's run may take to meet its wait on a slow machine (most take well under one)."""
TRAINING_WAITS = ("epochs", "steps", "loss", "accuracy", "finished", "grad_ratio")


class WalkApp(DltuiApp):
    """The app, keeping every error it shows (a step whose set-up the session refused)."""

    errors: list[str]

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("severity") == "error":
            self.errors = [*getattr(self, "errors", []), str(message)]
        super().notify(message, *args, **kwargs)


def chosen() -> list[Lesson]:
    only = os.environ.get("DLTUI_WALK_LESSONS", "").strip()
    lessons = list(course())
    if only:
        numbers = {int(n) for n in only.split(",")}
        lessons = [x for x in lessons if x.number in numbers]
    return lessons


def wrong_answer(quiz: Quiz) -> str:
    if quiz.kind == "choice":
        return str((int(quiz.answer) + 1) % len(quiz.choices) + 1)
    if quiz.kind == "number":
        return f"{float(quiz.answer) + 10 * quiz.tolerance + 1:g}"
    return f"({quiz.answer}) + 1"


def right_answer(quiz: Quiz) -> str:
    if quiz.kind == "choice":
        return str(int(quiz.answer) + 1)
    if quiz.kind == "number":
        return repr(float(quiz.answer))
    return str(quiz.answer)


async def until(pilot: Pilot, condition: Callable[[], bool], why: Callable[[], str]) -> None:
    """Lets the app run until ``condition()`` holds; fails saying ``why()`` after the timeout."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(why())
        await pilot.pause(0.05)


async def answer(pilot: Pilot, app: DltuiApp, runner: LessonRunner, typed: str) -> None:
    """Answers the step's quiz as a learner would: a number key, or typed into its input."""
    quiz = runner.quiz
    assert quiz is not None
    record = runner.quiz_record
    tries = record.tries if record is not None else 0
    if quiz.kind == "choice":
        await pilot.press(typed)
    else:
        box = app.main.query_one("#lesson-input", Input)
        box.focus()
        await pilot.pause()
        box.value = typed
        await pilot.press("enter")
    where = f"lesson {runner.lesson.number} step {runner.step.id!r}: {typed!r}"
    await until(
        pilot,
        lambda: runner.quiz_record is not None and runner.quiz_record.tries > tries,
        lambda: f"{where} was not taken as an answer ({runner.message})",
    )


async def back_to_main(pilot: Pilot, app: DltuiApp) -> None:
    """Closes a screen a waited-for key opened (the derivation, the help page)."""
    await pilot.pause(0.2)
    for _ in range(20):
        if app.screen is app.main:
            return
        await pilot.press("escape")
        await pilot.pause(0.2)
    raise AssertionError(f"cannot get back to the main screen from {app.screen}")


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("lesson", chosen(), ids=lambda x: f"lesson{x.number:02d}")
async def test_walk_a_lesson_from_start_to_end(drive, lesson: Lesson) -> None:
    app = WalkApp(lesson.experiment_at(0), check_kernels=False, pace=FULL_SPEED, lesson=lesson)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.ready(pilot)
        main = app.main
        runner = main.runner
        assert runner is not None and runner.index == 0
        started = time.monotonic()
        for i, step in enumerate(lesson.steps):
            where = f"lesson {lesson.number} ({lesson.title}), step {i + 1} {step.id!r}"
            assert runner.index == i, where
            set_up = f"{where}: its set-up never came"
            await until(pilot, lambda: not runner.waiting, lambda: set_up)  # noqa: B023
            if app.focused is not None:
                await pilot.press("escape")  # out of the quiz's input, to press keys
            if step.wait.key is not None:
                await pilot.press(step.wait.key)
                await back_to_main(pilot, app)
            waits = {line.key for line in runner.waits()}
            # a step that opens paused: the learner runs it. The session says so, not the
            # runner's last snapshot, which may predate the step's set-up: a run that ended in
            # a blink would be sent on past its epochs by a space pressed on that old word
            if waits & set(TRAINING_WAITS) and app.session.state == "paused":
                await pilot.press("space")
            quiz = step.quiz
            if quiz is not None:
                await answer(pilot, app, runner, wrong_answer(quiz))
                record = runner.quiz_record
                assert record is not None and record.tries == 1 and not record.right, where
                await answer(pilot, app, runner, right_answer(quiz))
                assert record.right, f"{where}: the right answer was refused: {runner.message}"
            await until(
                pilot,
                lambda: runner.met,
                lambda: f"{where}: still waiting for {runner.awaited()}",  # noqa: B023
            )
            errors = getattr(app, "errors", [])
            assert not errors, f"{where}: {errors}"
            await pilot.press("right")
            print(f"{where}: {time.monotonic() - started:.1f} s")
        await until(pilot, lambda: main.runner is None, lambda: f"lesson {lesson.number}: not left")
    saved = Progress.load().lesson(lesson.number)
    assert saved.done and set(saved.done_steps) == set(lesson.step_ids)
    assert saved.score()[0] == sum(1 for s in lesson.steps if s.quiz)
