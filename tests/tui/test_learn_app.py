"""Lesson mode in the app, through Pilot: the panel, moving between steps, the three quizzes,
leaving the lesson; the picker."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.widgets import DataTable, Input
from textual.worker import WorkerState

from tests.learn.demo_lesson import DEMO as LESSON
from tui.app import DltuiApp
from tui.learn.lesson import load_lesson
from tui.learn.progress import Progress
from tui.learn.runner import LessonRunner
from tui.learn.session import LessonSession
from tui.screens.lessons import LessonsScreen
from tui.screens.main import MainScreen
from tui.session.pace import FULL_SPEED
from tui.widgets.lesson_panel import LessonPanel

# the app's run trains on while a test answers; the formula step opens paused
DEMO = LESSON.replace("train.epochs = 400", "train.epochs = 100000").replace(
    'text = "Type one."\n[step.wait]\nkey = "d"',
    'text = "Type one."\npaused = true\n[step.wait]\nkey = "d"',
)


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def lesson(tmp_path: Path):
    path = tmp_path / "01-demo.toml"
    path.write_text(DEMO, encoding="utf-8")
    return load_lesson(path)


def lesson_app(lesson, pace: float | None = FULL_SPEED) -> DltuiApp:
    return DltuiApp(lesson.experiment_at(0), check_kernels=False, pace=pace, lesson=lesson)


def session_of(app: DltuiApp) -> LessonSession:
    assert isinstance(app.session, LessonSession)
    return app.session


def runner_of(app: DltuiApp) -> LessonRunner:
    runner = app.main.runner
    assert runner is not None
    return runner


def panel_text(app: DltuiApp) -> str:
    panel = app.main.query_one(LessonPanel)
    parts = [str(w.render()) for w in panel.query("Static")]
    return "\n".join([str(panel.border_title), str(panel.border_subtitle), *parts])


async def test_a_lesson_walks_its_steps_and_quizzes(drive, lesson) -> None:
    app = lesson_app(lesson)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.ready(pilot)
        main = app.main
        runner = main.runner
        assert runner is not None and runner.index == 0
        text = panel_text(app)
        assert "lesson 1 · Demo" in text and "step 1 of 4" in text and "steps" in text
        await drive.wait_for(pilot, lambda: runner.met, timeout=30)
        assert "✓ steps 5 / 5" in panel_text(app)
        await pilot.press("right")
        assert runner.index == 1
        await pilot.press("right")  # the quiz is not answered: → says what is awaited
        assert runner.index == 1
        await pilot.press("down", "down")  # ↑ ↓ move the choice, not the weight
        await pilot.press("enter")  # the third choice: wrong
        rec = runner.quiz_record
        assert rec is not None and rec.tries == 1 and not rec.right
        assert "Count." in panel_text(app)
        await pilot.press("2")
        assert rec.right and "Two is two." in panel_text(app)
        await pilot.press("right")
        assert runner.index == 2
        box = main.query_one("#lesson-input", Input)
        await drive.wait_for(pilot, lambda: box.has_focus)
        await pilot.press("1", "enter")
        assert "too high" in panel_text(app) and runner.quiz_record.tries == 1
        await pilot.press("0", ".", "5", "enter")
        assert runner.quiz_record.right and not box.has_focus
        await drive.wait_for(pilot, lambda: runner.met, timeout=30)
        assert app.session.run.experiment.train.lr == 0.3  # the step's set-up ran
        await pilot.press("right")
        assert runner.index == 3
        await drive.wait_for(pilot, lambda: box.has_focus)
        await pilot.press("escape")  # leaves the input, not the lesson
        assert not box.has_focus and main.runner is not None
        await drive.wait_for(pilot, lambda: session_of(app).paused)  # the step opens paused
        await pilot.press("d")  # the step waits for d (the derivation opens)
        await drive.wait_for(pilot, lambda: app.screen is not main, timeout=30)
        await pilot.press("escape")
        await drive.wait_for(pilot, lambda: app.screen is main)
        await pilot.press("tab")
        await drive.wait_for(pilot, lambda: box.has_focus)
        await pilot.press("x", "enter")
        assert not runner.quiz_record.right and runner.quiz_record.tries == 1
        await pilot.press("a", "enter")
        assert runner.quiz_record.right and runner.met
        await pilot.press("left")
        assert runner.index == 2
        await pilot.press("right", "right")  # done steps let through; → on the last finishes
        await drive.wait_for(pilot, lambda: main.runner is None)
        assert not main.query(LessonPanel)
        saved = Progress.load()
        assert saved.lesson(1).done
        assert saved.lesson(1).quiz["choose"].typed == ["3", "2"]
        session = session_of(app)
        await drive.wait_for(pilot, lambda: not session.paused)  # the free app trains on
        assert session.run.experiment.train.lr == 0.3  # the lesson's last run
        await pilot.press("right")  # ← → select weights again
        await drive.wait_for(pilot, lambda: session.selected != "0.W[0,0]")


async def test_arrows_move_the_weight_outside_a_lesson_and_brackets_inside(drive, lesson) -> None:
    app = lesson_app(lesson)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.ready(pilot)
        main = app.main
        session = session_of(app)
        first = session.selected
        await pilot.press("right_square_bracket")
        await drive.wait_for(pilot, lambda: session.selected != first)
        assert main.runner is not None and main.runner.index == 0
        await pilot.press("escape")
        assert main.runner is None
        now = session.selected
        await pilot.press("left")
        await drive.wait_for(pilot, lambda: session.selected != now)


async def test_reopening_resumes_at_the_saved_step(drive, lesson) -> None:
    progress = Progress.load()
    progress.lesson(1).step = "number"
    progress.save()
    app = lesson_app(lesson)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.ready(pilot)
        assert runner_of(app).step.id == "number"
        session = session_of(app)
        await drive.wait_for(pilot, lambda: session.run.experiment.train.lr == 0.3)
        assert "step 3 of 4" in panel_text(app)


async def test_a_damaged_progress_file_warns_and_starts_afresh(drive, lesson, data_home) -> None:
    (data_home / "dltui").mkdir(parents=True)
    (data_home / "dltui" / "progress.json").write_text("{oops", encoding="utf-8")
    app = lesson_app(lesson)
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.ready(pilot)
        assert runner_of(app).index == 0
        assert (data_home / "dltui" / "progress.json.bad").exists()


async def test_small_terminal_puts_the_lesson_under_the_views(drive, lesson) -> None:
    app = lesson_app(lesson)
    async with app.run_test(size=(80, 24)) as pilot:
        await drive.ready(pilot)
        main = app.main
        panel = main.query_one(LessonPanel)
        assert main.has_class("-narrow")
        assert panel.region.width >= 70 and panel.region.height >= 8
        assert main.query_one("#view-panel").region.height >= 6
        assert not main.query_one("#bottom").display
        await pilot.press("escape")  # leaving: the free layout, network and chain rule back
        await pilot.pause(0.2)
        assert main.runner is None and main.query_one("#bottom").display
        assert main.query_one("#network-panel").region.height > 0


async def test_the_picker_lists_lessons_and_enter_opens_one(drive, lesson) -> None:
    app = DltuiApp(lesson.experiment_at(0), check_kernels=False, pace=FULL_SPEED, lessons=(lesson,))
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen))
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1 and "not started" in str(table.get_row_at(0))
        await pilot.press("enter")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await drive.ready(pilot)
        assert app.main.runner is not None and app.main.runner.lesson is lesson


async def test_random_keys_in_a_lesson_raise_nothing(drive, lesson) -> None:
    """A fixed-seed run of random keys in lesson mode: every key the main screen binds, digits,
    arrows, escape, enter, tab; the app stays up and no worker fails."""
    rng = random.Random(13)
    app = lesson_app(lesson, pace=None)  # full speed would starve the interface of the CPU
    app.action_quit = _count_quits  # type: ignore[method-assign]
    async with app.run_test(size=(100, 32)) as pilot:
        await drive.ready(pilot)
        keys = [
            k.strip()
            for b in MainScreen.BINDINGS
            if isinstance(b, Binding)
            for k in b.key.split(",")
        ]
        keys += ["tab", "escape", "enter", "pageup", "pagedown", *"0123456789x.+-*()"]
        keys = [k for k in keys if k not in ("q", "c", "o", "question_mark", "d")]
        main = app.main
        box = main.query_one("#lesson-input", Input)
        for i in range(100):
            if app.screen is not main:
                app.screen.dismiss(None)  # a screen a key opened
                await pilot.pause(0.05)
            key = rng.choice(keys)
            if key == "escape" and not box.has_focus and rng.random() < 0.9:
                continue  # mostly stay in the lesson
            await pilot.press(key)
            if i % 10 == 0:
                await pilot.pause(0.02)
            assert app.is_running and app._exception is None
            assert not [w for w in app.workers if w.state == WorkerState.ERROR]
        assert main.runner is None or main.runner.index >= 0


async def _count_quits() -> None:
    """Quitting, in the key fuzz: not done, so the keys go on."""


async def test_q_on_the_picker_quits(drive, lesson) -> None:
    app = DltuiApp(lesson.experiment_at(0), check_kernels=False, pace=FULL_SPEED, lessons=(lesson,))
    async with app.run_test(size=(80, 24)) as pilot:
        await drive.wait_for(pilot, lambda: isinstance(app.screen, LessonsScreen))
        assert "how the runner plays a lesson" in str(
            app.screen.query_one("#lesson-about").render()
        )
        await pilot.press("q")
        await drive.wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0 and app.session is None
