"""The lesson file format: every shipped lesson reads, and each kind of mistake in a file is a
UserError naming the file, the step and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import UserError
from tui.learn.lesson import course, find_lesson, load_lesson, load_lessons

GOOD = """
title = "T"
teaches = "what"

[[step]]
id = "a"
title = "A"
text = "Text."
preset = "gaussians"
[step.config]
train.lr = 0.3
[step.wait]
epochs = 2
[step.quiz]
kind = "choice"
question = "Q?"
choices = ["x", "y"]
answer = 1

[[step]]
id = "b"
title = "B"
text = "Text."

[[step]]
id = "c"
title = "C"
text = "Text."
[step.config]
train.lr = 0.1

[[step]]
id = "d"
title = "D"
text = "Text."
view = "boundary"
[step.quiz]
kind = "number"
question = "Q?"
answer = 0.5
tolerance = 0.1
"""


def write(folder: Path, text: str, name: str = "01-test.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_reads_with_every_field(tmp_path: Path) -> None:
    lesson = load_lesson(write(tmp_path, GOOD))
    assert (lesson.number, lesson.slug, lesson.step_ids) == (1, "test", ["a", "b", "c", "d"])
    assert lesson.steps[0].wait.epochs == 2 and lesson.steps[1].wait.empty
    assert lesson.experiment_at("b").train.lr == 0.3
    assert lesson.experiment_at("d").train.lr == 0.1
    assert lesson.steps[3].quiz is not None and lesson.steps[3].quiz.tolerance == 0.1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (('title = "T"', ""), ["title is missing"]),
        (("[step.wait]\nepochs = 2", "[step.wait]\nepoch = 2"), ["step 'a' wait", "'epoch'"]),
        (("train.lr = 0.3", "train.lr = -1"), ["step 'a'"]),
        (("train.lr = 0.3", "train.speed = 1"), ["step 'a'"]),
        (('preset = "gaussians"', 'preset = "gausians"'), ["unknown preset 'gausians'"]),
        (('view = "boundary"', 'view = "nope"'), ["step 'd'", "unknown view 'nope'"]),
        (("answer = 1\n", "answer = 2\n"), ["step 'a' quiz", "answer = 2"]),
        (("tolerance = 0.1", "tolerance = 0"), ["step 'd' quiz", "tolerance"]),
        (('id = "b"', 'id = "a"'), ["two steps have id 'a'"]),
        (('kind = "choice"', 'kind = "essay"'), ["kind = 'essay'"]),
        (('text = "Text."\npreset', 'txt = "Text."\npreset'), ["'txt'"]),
        (("epochs = 2", "epochs = 0"), ["wait.epochs = 0"]),
        (("epochs = 2", 'epochs = "2"'), ["epochs = '2' is not a int"]),
    ],
)
def test_mistakes_name_the_file_step_and_key(
    tmp_path: Path, change: tuple[str, str], words: list[str]
) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(UserError) as caught:
        load_lesson(path)
    text = f"{caught.value.message} {caught.value.hint}"
    assert "01-test.toml" in text
    for word in words:
        assert word in text


def test_too_few_steps_and_bad_names_are_refused(tmp_path: Path) -> None:
    cut = GOOD[: GOOD.index('[[step]]\nid = "c"')]
    with pytest.raises(UserError, match="has 2 steps"):
        load_lesson(write(tmp_path, cut))
    with pytest.raises(UserError, match="NN-slug"):
        load_lesson(write(tmp_path, GOOD, "lesson.toml"))
    with pytest.raises(UserError, match="not valid TOML"):
        load_lesson(write(tmp_path, "title = ", "02-broken.toml"))


def test_two_files_with_one_number_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "03-one.toml")
    write(tmp_path, GOOD, "03-two.toml")
    with pytest.raises(UserError, match="numbered 03"):
        load_lessons(tmp_path)


def test_the_course_reads_and_every_lesson_asks_something() -> None:
    lessons = course()
    assert [x.number for x in lessons] == list(range(1, len(lessons) + 1))
    for lesson in lessons:
        assert any(s.quiz is not None for s in lesson.steps), lesson.title
    assert find_lesson(lessons[-1].number) is lessons[-1]
    with pytest.raises(UserError, match="there is no lesson 0"):
        find_lesson(0)


def test_every_formula_answer_of_the_course_reads_with_its_names_and_checks_right() -> None:
    """A formula question whose own answer the checker cannot read, or reads as wrong, would
    hold a learner up for ever: every one in the course is read as the learner's text is."""
    from derive.formula import check_formula, parse_formula

    formulas = [
        (lesson.number, step.id, step.quiz)
        for lesson in course()
        for step in lesson.steps
        if step.quiz is not None and step.quiz.kind == "formula"
    ]
    assert len(formulas) >= 5
    for number, step_id, quiz in formulas:
        assert isinstance(quiz.answer, str)
        parse_formula(quiz.answer, quiz.variables)
        verdict = check_formula(quiz.answer, quiz.answer, quiz.variables)
        assert verdict.correct, (number, step_id, verdict.message)
        wrong = check_formula(f"-({quiz.answer})", quiz.answer, quiz.variables)
        assert not wrong.correct and wrong.kind == "sign", (number, step_id)
