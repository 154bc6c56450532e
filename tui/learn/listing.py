"""The course as a list: each lesson's number, title, what it teaches and how far the learner got.

Shared by ``dltui learn --list`` (Rich) and the lesson picker (Textual).
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.learn.lesson import Lesson
from tui.learn.progress import LessonProgress, Progress


@dataclass(frozen=True)
class Row:
    """One lesson's line."""

    number: int
    title: str
    teaches: str
    status: str
    score: str
    done: bool


def status(lesson: Lesson, record: LessonProgress | None) -> str:
    """``not started``, ``step k of n`` or ``done``."""
    if record is None or not record.started:
        return "not started"
    if record.done:
        return "done"
    ids = lesson.step_ids
    k = ids.index(record.step) + 1 if record.step in ids else 1
    return f"step {k} of {len(ids)}"


def score(lesson: Lesson, record: LessonProgress | None) -> str:
    """``2 / 3 right`` (quizzes right at some try, without the answer shown, of the lesson's
    quizzes), or ``—`` before any is answered."""
    quizzes = sum(1 for s in lesson.steps if s.quiz is not None)
    if record is None or not any(q.tries for q in record.quiz.values()):
        return "—"
    right, _ = record.score()
    return f"{right} / {quizzes} right"


def rows(lessons: tuple[Lesson, ...] | list[Lesson], progress: Progress) -> list[Row]:
    """A row per lesson, in order."""
    out = []
    for lesson in lessons:
        record = progress.lessons.get(lesson.number)
        out.append(
            Row(
                lesson.number,
                lesson.title,
                lesson.teaches,
                status(lesson, record),
                score(lesson, record),
                bool(record and record.done),
            )
        )
    return out
