"""The learner's progress through the course, kept in the user's data directory.

One JSON file, ``$XDG_DATA_HOME/dltui/progress.json`` (``~/.local/share/dltui/progress.json``
when the variable is unset), written atomically (a temporary file renamed over the old one), so
a crash mid-write leaves the previous progress whole. Per lesson, by number::

    {"version": 1, "lessons": {"3": {
        "step": "too-big",                 # the step to resume at
        "done_steps": ["meet", "small"],   # steps whose wait was met
        "done": false,                     # every step done
        "quiz": {"small": {"typed": ["2", "1"], "right": true, "tries": 2, "revealed": false}}
    }}}

A file that cannot be read as such is never fatal: :meth:`Progress.load` moves it aside to
``progress.json.bad`` (a backup to look at) and starts afresh, with a warning to show.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1
FILE_NAME = "progress.json"


def data_dir() -> Path:
    """dltui's folder in the user's data directory (``$XDG_DATA_HOME/dltui``)."""
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "dltui"


def progress_path() -> Path:
    """Where the progress file lives."""
    return data_dir() / FILE_NAME


@dataclass
class QuizRecord:
    """A step's quiz as the learner answered it.

    Attributes:
        typed: every answer given, in order (a choice as its number from 1).
        right: whether the last answer was right.
        tries: how many answers were given.
        revealed: whether the answer was shown after too many wrong tries.
    """

    typed: list[str] = field(default_factory=list)
    right: bool = False
    tries: int = 0
    revealed: bool = False

    @property
    def settled(self) -> bool:
        """Answered right, or revealed: the quiz no longer holds the step back."""
        return self.right or self.revealed


@dataclass
class LessonProgress:
    """How far the learner got in one lesson."""

    step: str = ""
    done_steps: list[str] = field(default_factory=list)
    done: bool = False
    quiz: dict[str, QuizRecord] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        return bool(self.step or self.done_steps or self.quiz)

    def score(self) -> tuple[int, int]:
        """(quizzes answered right without the answer shown, quizzes answered or revealed)."""
        settled = [q for q in self.quiz.values() if q.settled]
        return sum(1 for q in settled if q.right and not q.revealed), len(settled)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "done_steps": list(self.done_steps),
            "done": self.done,
            "quiz": {k: vars(q).copy() for k, q in self.quiz.items()},
        }

    @classmethod
    def from_json(cls, raw: Any) -> LessonProgress:
        """Reads one lesson's entry; raises ValueError when it is not one."""
        if not isinstance(raw, dict):
            raise ValueError("a lesson's entry is not an object")
        step, done_steps, done = raw.get("step", ""), raw.get("done_steps", []), raw.get("done")
        quiz = raw.get("quiz", {})
        if not isinstance(step, str) or not isinstance(done, bool) or not isinstance(quiz, dict):
            raise ValueError("a lesson's step, done or quiz has the wrong type")
        if not isinstance(done_steps, list) or not all(isinstance(s, str) for s in done_steps):
            raise ValueError("done_steps is not a list of step ids")
        records = {}
        for key, q in quiz.items():
            if not isinstance(q, dict):
                raise ValueError(f"quiz {key!r} is not an object")
            typed, right, tries = q.get("typed", []), q.get("right"), q.get("tries", 0)
            revealed = q.get("revealed", False)
            ok = (
                isinstance(typed, list)
                and all(isinstance(t, str) for t in typed)
                and isinstance(right, bool)
                and isinstance(revealed, bool)
                and isinstance(tries, int)
                and not isinstance(tries, bool)
                and tries >= 0
            )
            if not ok:
                raise ValueError(f"quiz {key!r} has a wrong field")
            records[key] = QuizRecord(list(typed), bool(right), int(tries), bool(revealed))
        return cls(step, list(done_steps), done, records)


class Progress:
    """Every lesson's progress, read from and saved to one file.

    Args:
        path: the file (default :func:`progress_path`).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else progress_path()
        self.lessons: dict[int, LessonProgress] = {}
        self.warning = ""
        """Set by :meth:`load` when the file was damaged and moved aside."""

    @classmethod
    def load(cls, path: Path | None = None) -> Progress:
        """The progress in ``path``; a missing file is a fresh start, a damaged one is moved to
        ``*.bad`` and replaced by a fresh start (``warning`` says so)."""
        progress = cls(path)
        try:
            text = progress.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return progress
        except (OSError, UnicodeDecodeError) as exc:
            progress._damaged(f"cannot be read ({exc})")
            return progress
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("version") != VERSION:
                raise ValueError(f"it is not a version {VERSION} progress file")
            lessons = raw.get("lessons")
            if not isinstance(lessons, dict):
                raise ValueError("it has no lessons")
            progress.lessons = {int(k): LessonProgress.from_json(v) for k, v in lessons.items()}
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            progress.lessons = {}
            progress._damaged(f"is damaged ({exc})")
        return progress

    def _damaged(self, why: str) -> None:
        backup = self.path.with_name(self.path.name + ".bad")
        try:
            os.replace(self.path, backup)
            kept = f"kept a copy in {backup}"
        except OSError:
            kept = "it could not be moved aside"
        self.warning = f"Your progress file {self.path} {why}: starting afresh; {kept}."

    def lesson(self, number: int) -> LessonProgress:
        """Lesson ``number``'s progress (created empty the first time)."""
        return self.lessons.setdefault(number, LessonProgress())

    def clear(self, number: int | None = None) -> list[int]:
        """Forgets one lesson's progress, or every lesson's; returns the lessons cleared."""
        cleared = sorted(self.lessons) if number is None else [number] * (number in self.lessons)
        for n in cleared:
            del self.lessons[n]
        return cleared

    def save(self) -> None:
        """Writes the file atomically (a temporary file in the same folder, renamed over it).

        Raises:
            OSError: when the folder cannot be made or written.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = {
            "version": VERSION,
            "lessons": {str(n): p.to_json() for n, p in sorted(self.lessons.items())},
        }
        fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(raw, f, indent=1, ensure_ascii=False)
                f.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
