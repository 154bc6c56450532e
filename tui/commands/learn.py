"""``dltui learn``: the guided course.

``dltui learn`` opens the lesson picker, ``dltui learn N`` lesson N at the step where the learner
left it, ``dltui learn --list`` prints the lessons and the progress, ``dltui learn --reset``
forgets the progress (of lesson N only, with N).
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from engine.errors import UserError
from tui.learn.lesson import Lesson, course
from tui.learn.listing import rows
from tui.learn.progress import Progress


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "learn",
        help="the guided course: 16 lessons, from one neuron to transfer learning",
        description="A guided course: each lesson sets up experiments beside its text, "
        "waits while you watch or try, and asks a question or two.",
    )
    p.add_argument("lesson", nargs="?", help="the lesson's number (default: pick from a list)")
    p.add_argument("--list", action="store_true", help="print the lessons and your progress")
    p.add_argument("--reset", action="store_true", help="forget your progress (of LESSON only)")
    p.set_defaults(func=run)


def lesson_number(text: str, lessons: tuple[Lesson, ...]) -> Lesson:
    """The lesson ``text`` names.

    Raises:
        UserError: for a word that is not a number, or a number no lesson has, naming the valid
            numbers.
    """
    valid = ", ".join(str(x.number) for x in lessons)
    try:
        number = int(text)
    except ValueError:
        raise UserError(f"'{text}' is not a lesson number", f"the lessons are {valid}") from None
    for lesson in lessons:
        if lesson.number == number:
            return lesson
    raise UserError(f"there is no lesson {number}", f"the lessons are {valid}")


def run(args: argparse.Namespace) -> int:
    lessons = course()
    if not lessons:
        raise UserError("this installation has no lessons", "reinstall dltui")
    lesson = lesson_number(args.lesson, lessons) if args.lesson is not None else None
    console = Console(highlight=False)
    progress = Progress.load()
    if progress.warning:
        Console(stderr=True, highlight=False).print(
            f"[yellow]warning:[/] {escape(progress.warning)}"
        )
    if args.reset:
        cleared = progress.clear(None if lesson is None else lesson.number)
        if cleared:
            progress.save()
            names = ", ".join(str(n) for n in cleared)
            console.print(f"Cleared your progress in lesson{'s' * (len(cleared) > 1)} {names}.")
        else:
            console.print("There was no progress to clear.")
        console.print(f"(kept in {progress.path})", style="dim")
        return 0
    if args.list:
        console.print(lessons_table(lessons, progress))
        console.print("Open one: dltui learn N   ·   pick from a list: dltui learn")
        return 0
    return open_app(lessons, lesson, progress)


def lessons_table(lessons: tuple[Lesson, ...], progress: Progress) -> Table:
    table = Table(title="dltui learn · the course", title_justify="left")
    table.add_column("#", justify="right", style="bold")
    table.add_column("lesson", style="bold")
    table.add_column("what it teaches")
    table.add_column("progress", no_wrap=True)
    table.add_column("quiz", no_wrap=True)
    for row in rows(lessons, progress):
        style = "green" if row.done else ("yellow" if row.status != "not started" else "dim")
        table.add_row(
            str(row.number), row.title, row.teaches, f"[{style}]{row.status}[/]", row.score
        )
    return table


def open_app(lessons: tuple[Lesson, ...], lesson: Lesson | None, progress: Progress) -> int:
    """Runs the app on the picker, or on ``lesson``, until the learner quits."""
    from engine.threads import set_blas_threads
    from tui.commands.app import _sigterm_default

    set_blas_threads(1)
    from tui.app import DltuiApp

    first = lesson or lessons[0]
    experiment = first.experiment_at(0)
    with _sigterm_default():
        app = DltuiApp(experiment, lessons=lessons, lesson=lesson, progress=progress)
        result = app.run()
    return int(result or 0)
