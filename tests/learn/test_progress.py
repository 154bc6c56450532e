"""The progress file: round trip, atomic writes, a damaged file moved aside, --reset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.learn.progress import Progress, QuizRecord, progress_path


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    return tmp_path


def test_the_file_lives_in_the_users_data_directory(data_home: Path) -> None:
    assert progress_path() == data_home / "dltui" / "progress.json"


def test_default_is_local_share_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_DATA_HOME")
    assert progress_path() == Path.home() / ".local/share/dltui/progress.json"


def test_round_trip_keeps_every_field() -> None:
    progress = Progress.load()
    assert progress.lessons == {} and not progress.warning
    rec = progress.lesson(3)
    rec.step, rec.done_steps, rec.done = "b", ["a"], False
    rec.quiz["a"] = QuizRecord(["2", "1"], True, 2, False)
    progress.lesson(5).done = True
    progress.save()
    again = Progress.load()
    assert again.lessons == progress.lessons
    assert again.lesson(3).score() == (1, 1)
    assert not list(progress.path.parent.glob(".progress-*"))  # no temporary file left


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"version": 99, "lessons": {}}',
        '{"version": 1, "lessons": {"x": {}}}',
        '{"version": 1, "lessons": {"1": {"step": 3, "done": false}}}',
        '{"version": 1, "lessons": {"1": {"step": "a", "done": false, "quiz": {"a": 1}}}}',
        b"\xff\xfe".decode("latin-1"),
    ],
)
def test_a_damaged_file_is_moved_aside_and_progress_starts_afresh(text: str) -> None:
    path = progress_path()
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    progress = Progress.load()
    assert progress.lessons == {}
    assert "starting afresh" in progress.warning and ".bad" in progress.warning
    assert path.with_name("progress.json.bad").read_text(encoding="utf-8") == text
    assert not path.exists()
    progress.lesson(1).step = "a"
    progress.save()
    assert json.loads(path.read_text())["lessons"]["1"]["step"] == "a"


def test_clear_one_lesson_or_all() -> None:
    progress = Progress.load()
    for n in (1, 2, 3):
        progress.lesson(n).step = "x"
    assert progress.clear(2) == [2]
    assert progress.clear(7) == []
    assert progress.clear() == [1, 3]
    assert progress.lessons == {}
