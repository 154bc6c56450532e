"""The lesson picker: ``dltui learn`` opens here. Enter opens the highlighted lesson, q quits."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui.learn.lesson import Lesson
from tui.learn.listing import rows
from tui.learn.progress import Progress
from tui.widgets.too_small import TooSmall


class LessonsScreen(Screen[int]):
    """Every lesson with its progress; dismisses with the number of the one picked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open lesson"),
        Binding("q", "app.quit", "Quit"),
    ]

    DEFAULT_CSS = """
    LessonsScreen #lessons-title { height: auto; padding: 0 1; background: $panel; }
    LessonsScreen DataTable { height: 1fr; }
    LessonsScreen #lesson-about {
        height: auto; min-height: 3; padding: 0 1; border-top: solid $primary 50%;
    }
    """

    def __init__(self, lessons: tuple[Lesson, ...], progress: Progress) -> None:
        super().__init__()
        self.lessons = lessons
        self.progress = progress

    def compose(self) -> ComposeResult:
        yield Static(
            "dltui learn · a course in deep learning, one experiment at a time. "
            "↑ ↓ choose, Enter opens, q quits.",
            id="lessons-title",
        )
        yield DataTable(id="lessons", cursor_type="row", zebra_stripes=True)
        yield Static("", id="lesson-about")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("#", "lesson", "progress", "quiz", "what it teaches")
        listed = rows(self.lessons, self.progress)
        for row in listed:
            table.add_row(str(row.number), row.title, row.status, row.score, row.teaches)
        # the cursor starts on the first lesson not done
        start = next((i for i, row in enumerate(listed) if not row.done), 0)
        table.move_cursor(row=start)
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Under the table: the highlighted lesson's whole line on what it teaches."""
        if 0 <= event.cursor_row < len(self.lessons):
            lesson = self.lessons[event.cursor_row]
            about = Text(f"{lesson.number}. {lesson.title}", style="bold")
            about.append(f" · {len(lesson.steps)} steps\n", style="dim")
            about.append(lesson.teaches)
            self.query_one("#lesson-about", Static).update(about)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.cursor_row)

    def action_open(self) -> None:
        self._open(self.query_one(DataTable).cursor_row)

    def _open(self, row: int) -> None:
        if 0 <= row < len(self.lessons):
            self.dismiss(self.lessons[row].number)
