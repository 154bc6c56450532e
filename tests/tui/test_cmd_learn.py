"""``dltui learn`` on the command line: the list, a bad lesson number, --reset, a damaged file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.cli import main
from tui.learn.lesson import course
from tui.learn.progress import Progress, QuizRecord


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_list_shows_every_lesson_and_the_progress(capsys: pytest.CaptureFixture[str]) -> None:
    lessons = course()
    first, second = lessons[0], lessons[1]
    progress = Progress.load()
    progress.lesson(first.number).done = True
    progress.lesson(first.number).step = first.steps[-1].id
    quiz_step = next(s.id for s in first.steps if s.quiz)
    progress.lesson(first.number).quiz[quiz_step] = QuizRecord(["1"], True, 1)
    progress.lesson(second.number).step = second.steps[1].id
    progress.save()
    assert main(["learn", "--list"]) == 0
    out = capsys.readouterr().out
    for lesson in lessons:
        assert lesson.title in out
    quizzes = sum(1 for s in first.steps if s.quiz)
    assert "done" in out and f"1 / {quizzes} right" in out
    assert f"step 2 of {len(second.steps)}" in out and "not started" in out


def test_a_bad_lesson_number_names_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    numbers = [x.number for x in course()]
    for bad in ("99", "zero"):
        assert main(["learn", bad]) == 2
        err = capsys.readouterr().err
        assert "lesson" in err and str(numbers[0]) in err and str(numbers[-1]) in err
        assert "Traceback" not in err


def test_reset_clears_and_says_what(capsys: pytest.CaptureFixture[str]) -> None:
    number = course()[0].number
    progress = Progress.load()
    progress.lesson(number).step = course()[0].steps[1].id
    progress.save()
    assert main(["learn", "--reset"]) == 0
    assert f"Cleared your progress in lesson {number}" in capsys.readouterr().out
    assert Progress.load().lessons == {}
    assert main(["learn", "--reset"]) == 0
    assert "no progress to clear" in capsys.readouterr().out


def test_a_damaged_progress_file_warns_keeps_a_copy_and_lists(
    capsys: pytest.CaptureFixture[str], data_home: Path
) -> None:
    path = data_home / "dltui" / "progress.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"version": 1, "lessons": {"1": {"step": 5}}}), encoding="utf-8")
    assert main(["learn", "--list"]) == 0
    captured = capsys.readouterr()
    assert "starting afresh" in captured.err and "Traceback" not in captured.err
    assert path.with_name("progress.json.bad").exists()
    assert "not started" in captured.out
