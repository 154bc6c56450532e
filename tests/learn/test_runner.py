"""The lesson runner's logic without the app: waits, navigation, quizzes and saved progress."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.experiment.presets import get_preset
from tests.learn.demo_lesson import DEMO
from tui.learn.lesson import MAX_TRIES, load_lesson
from tui.learn.progress import Progress
from tui.learn.quiz import check
from tui.learn.runner import LessonRunner, grad_ratio
from tui.session.records import LossPoint, Scene, Snapshot


@pytest.fixture
def lesson(tmp_path: Path):
    path = tmp_path / "01-demo.toml"
    path.write_text(DEMO, encoding="utf-8")
    return load_lesson(path)


@pytest.fixture
def progress(tmp_path: Path) -> Progress:
    return Progress(tmp_path / "data" / "progress.json")


def scene(generation: int = 1) -> Scene:
    exp = get_preset("gaussians")
    data = exp.build().data
    return Scene(generation, exp, data, (2, 2, 1), ("0.W",), (0,), None, "boundary")


def snap(
    sc: Scene,
    step: int,
    loss: float | None = None,
    acc: float | None = None,
    state: str = "training",
    norms: tuple[float, ...] = (),
    per_epoch: int = 10,
) -> Snapshot:
    losses = () if loss is None else (LossPoint(step, loss, loss, acc, acc),)
    return Snapshot(
        scene=sc,
        step=step,
        epoch=step // per_epoch,
        epochs=10,
        lr=0.1,
        paused=False,
        speed=0.0,
        losses=losses,
        grad_norms=(),
        weights=(),
        view=None,
        chain=None,
        state=state,
        layer_norms=norms,
        per_epoch=per_epoch,
    )


def test_a_step_waits_for_its_run_then_lets_through(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    old, sc = scene(1), scene(2)
    runner.enter(0, fresh=True)
    runner.observe(snap(old, 9))  # the old run's snapshot: ignored until the set-up is done
    assert not runner.met and runner.awaited() == "steps 0 / 5"
    runner.started(2)
    assert not runner.met
    runner.observe(snap(old, 10))  # late: still the old run
    assert not runner.met
    runner.observe(snap(sc, 3))
    assert [w.text for w in runner.waits()] == ["steps 3 / 5"] and not runner.forward()
    runner.observe(snap(sc, 5))
    assert runner.met and runner.forward()
    assert progress.lesson(1).done_steps == ["start"]
    assert Progress.load(progress.path).lesson(1).step == "start"  # saved as it went


def test_old_generations_never_count(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    runner.started(2)
    runner.observe(snap(scene(1), 50))
    assert not runner.met


def test_a_run_that_goes_on_keeps_its_last_loss(tmp_path, progress) -> None:
    text = DEMO.replace(
        '[step.quiz]\nkind = "choice"',
        '[step.wait]\naccuracy_at_least = 0.9\n[step.quiz]\nkind = "choice"',
        1,
    )
    path = tmp_path / "04-on.toml"
    path.write_text(text, encoding="utf-8")
    runner = LessonRunner(load_lesson(path), progress)
    sc = scene(1)
    runner.started(1)
    runner.observe(snap(sc, 5, loss=0.1, acc=0.95))
    runner.enter(1, fresh=True)  # the same run goes on, finished: no new loss comes
    runner.observe(snap(sc, 5))
    runner.started(1)
    assert runner.waits()[0].met


def test_a_quiz_holds_the_step_until_right(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    runner.enter(1)
    assert not runner.met and runner.awaited() == "answer the question"
    out = runner.answer("7")  # not a choice: no try counted
    assert not out.counted and "1 to 3" in out.message
    out = runner.answer("1")
    assert out.counted and not out.right
    assert "Count." in out.message and "2 more tries" in out.message
    out = runner.answer("2")
    assert out.right and "Two is two." in out.message and runner.met
    rec = progress.lesson(1).quiz["choose"]
    assert rec.typed == ["1", "2"] and rec.tries == 2 and rec.right and not rec.revealed
    assert progress.lesson(1).score() == (1, 1)


def test_three_wrong_tries_reveal_the_answer(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    runner.enter(1)
    for _ in range(MAX_TRIES):
        out = runner.answer("3")
    assert out.revealed and not out.right
    assert "The answer: 2. two" in out.message and "Two is two." in out.message
    assert runner.met  # revealed: the step may move on
    assert progress.lesson(1).score() == (0, 1)


def test_number_quiz_uses_its_tolerance(lesson) -> None:
    quiz = lesson.steps[2].quiz
    assert check(quiz, "0.505").right and check(quiz, "50%").right
    wrong = check(quiz, "0.6")
    assert not wrong.right and wrong.counted and "too high" in wrong.message
    assert not check(quiz, "half").counted and not check(quiz, "nan").counted


def test_formula_quiz_is_checked_by_the_formula_checker(lesson) -> None:
    pytest.importorskip("derive.formula")
    quiz = lesson.steps[3].quiz
    assert check(quiz, "a").right and check(quiz, "2*a/2").right
    assert not check(quiz, "x").right and check(quiz, "x").counted
    assert not check(quiz, "__import__('os')").counted  # refused, never evaluated


def test_conditions_met_once_stay_met_while_the_step_is_shown(tmp_path, progress) -> None:
    text = DEMO.replace("steps = 5", "loss_below = 0.2\naccuracy_at_least = 0.9")
    path = tmp_path / "02-loss.toml"
    path.write_text(text, encoding="utf-8")
    runner = LessonRunner(load_lesson(path), progress)
    sc = scene()
    runner.observe(snap(sc, 1, loss=0.5, acc=0.5))
    assert [w.met for w in runner.waits()] == [False, False]
    assert runner.waits()[0].text == "loss 0.5 → below 0.2"
    runner.observe(snap(sc, 2, loss=0.1, acc=0.8))
    runner.observe(snap(sc, 3, loss=0.3, acc=0.95))  # loss back up: it was met
    assert runner.met


def test_key_finished_and_gradient_ratio_waits(tmp_path, progress) -> None:
    text = DEMO.replace("steps = 5", 'key = "v"\nfinished = true\ngrad_ratio_below = 0.01')
    path = tmp_path / "03-more.toml"
    path.write_text(text, encoding="utf-8")
    runner = LessonRunner(load_lesson(path), progress)
    sc = scene()
    runner.observe(snap(sc, 4, norms=(1e-4, 1.0)))
    assert runner.awaited() == "the run ends (its epochs done); press v"
    runner.press("v")
    runner.observe(snap(sc, 5, state="finished", norms=(1.0, 1.0)))
    assert runner.met


def test_grad_ratio_needs_two_layers_and_a_gradient() -> None:
    assert grad_ratio((1.0,)) is None and grad_ratio((1.0, 0.0)) is None
    assert grad_ratio((1.0, float("nan"))) is None
    assert grad_ratio((1e-3, 2.0)) == pytest.approx(5e-4)


def test_epochs_count_whole_epochs_of_the_run(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    runner.enter(2)
    runner.observe(snap(scene(), 19, per_epoch=10))
    assert runner.waits()[0].text == "epochs 1 / 2"
    runner.observe(snap(scene(), 20, per_epoch=10))
    assert runner.waits()[0].met


def test_reopening_resumes_at_the_saved_step_and_done_steps_let_through(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    runner.enter(1)
    runner.answer("2")
    runner.enter(2)
    again = LessonRunner(lesson, Progress.load(progress.path))
    assert again.index == 2 and again.step.id == "number"
    again.enter(1)
    assert again.met  # done on an earlier visit


def test_origin_is_the_step_whose_set_up_runs(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    assert [runner.origin(i) for i in range(4)] == [0, 0, 2, 2]
    assert lesson.experiment_at(3).train.lr == 0.3


def test_finishing_marks_the_lesson_done(lesson, progress) -> None:
    runner = LessonRunner(lesson, progress)
    for step in lesson.steps:
        progress.lesson(1).done_steps.append(step.id)
    runner.enter(3)
    assert runner.finish()
    assert Progress.load(progress.path).lesson(1).done


def test_a_formula_quiz_without_its_checker_does_not_hold_the_lesson(
    lesson, progress, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "derive.formula", None)  # import fails
    runner = LessonRunner(lesson, progress)
    runner.enter(3)
    out = runner.answer("a")
    assert not out.counted and "not available" in out.message
    runner.press("d")
    assert runner.met
