"""The lesson panel: the step's text, what it waits for, its quiz and the keys that move on.

The panel draws what a :class:`~tui.learn.runner.LessonRunner` holds; the main screen owns the
runner and calls :meth:`LessonPanel.show` after every change. A number or formula quiz gets an
input line: while it has focus, keys type into it; Enter answers, Escape leaves it.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from tui.learn.quiz import formula_checker_ready
from tui.learn.runner import LessonRunner

ITEM = re.compile(r"^(?:[-•*] |\d+[.)] )")
"""A line that starts a list item: never joined to the line before."""
PLACEHOLDERS = {
    "number": "type a number, then Enter",
    "formula": "type a formula, e.g. (yhat - y)*x, then Enter",
}


def reflow(text: str) -> str:
    """A lesson's text for a narrow column: the lines of a paragraph joined (the file wraps
    them at its own width), blank lines and indented lines (formulas) kept as they are."""
    out: list[str] = []
    joining = False
    for line in text.splitlines():
        if line.strip() and not line[0].isspace() and joining and not ITEM.match(line):
            out[-1] += " " + line.strip()
            continue
        out.append(line.rstrip())
        joining = bool(line.strip()) and not line[0].isspace()
    return "\n".join(out)


class LessonPanel(Vertical):
    """A lesson's current step, beside the live views."""

    DEFAULT_CSS = """
    LessonPanel {
        border: round $accent 60%;
        border-title-color: $text-accent;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
    }
    LessonPanel #lesson-scroll { height: 1fr; scrollbar-size-vertical: 1; }
    LessonPanel #lesson-step-title { text-style: bold; color: $text-accent; }
    LessonPanel #lesson-text { margin: 0 0 1 0; }
    LessonPanel #lesson-quiz { margin: 1 0 0 0; }
    LessonPanel #lesson-message { max-height: 5; color: $text-warning; }
    LessonPanel #lesson-message.-right { color: $text-success; }
    LessonPanel #lesson-input { display: none; height: 1; border: none; padding: 0 1; }
    LessonPanel #lesson-input.-shown { display: block; }
    LessonPanel #lesson-keys { height: auto; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave_input", "leave input", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cursor = 0
        """The highlighted choice of a multiple-choice quiz (↑ ↓ move it, Enter answers)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="lesson-scroll", can_focus=False):
            yield Static("", id="lesson-step-title")
            yield Static("", id="lesson-text")
            yield Static("", id="lesson-waits")
            yield Static("", id="lesson-quiz")
        yield Static("", id="lesson-message")
        box = Input(id="lesson-input")
        box.can_focus = False
        yield box
        yield Static("", id="lesson-keys")

    @property
    def input(self) -> Input:
        return self.query_one("#lesson-input", Input)

    def action_leave_input(self) -> None:
        """Escape in the input line: back to the lesson's keys."""
        if not self.input.has_focus:
            raise SkipAction  # escape then leaves the lesson (the screen's key)
        self.screen.set_focus(None)

    def page(self, direction: int) -> None:
        """Scrolls the step's text a page up (-1) or down (+1)."""
        scroll = self.query_one("#lesson-scroll", VerticalScroll)
        if direction < 0:
            scroll.scroll_page_up(animate=False)
        else:
            scroll.scroll_page_down(animate=False)

    def entered(self, runner: LessonRunner) -> None:
        """A new step is shown: the input is emptied, focused for a quiz that needs typing."""
        self.cursor = 0
        quiz, box = runner.quiz, self.input
        typed = quiz is not None and quiz.kind != "choice"
        box.value = ""
        box.set_class(typed, "-shown")
        box.can_focus = typed  # a hidden input must not take the keys (auto-focus, tab)
        if quiz is not None and typed:
            box.placeholder = PLACEHOLDERS[quiz.kind]
        rec = runner.quiz_record
        if typed and not (rec is not None and rec.settled):
            box.focus()
        elif box.has_focus:
            self.screen.set_focus(None)
        self.query_one("#lesson-scroll", VerticalScroll).scroll_home(animate=False)

    def show(self, runner: LessonRunner) -> None:
        """Draws the runner's step as it stands."""
        lesson, step = runner.lesson, runner.step
        self.border_title = f"lesson {lesson.number} · {lesson.title}"
        self.border_subtitle = f"step {runner.index + 1} of {runner.count}"
        self._set("#lesson-step-title", Text(step.title))
        self._set("#lesson-text", Text(reflow(step.text)))
        self._set("#lesson-waits", self._waits(runner))
        self._set("#lesson-quiz", self._quiz(runner))
        message = self.query_one("#lesson-message", Static)
        rec = runner.quiz_record
        message.set_class(rec is not None and rec.right, "-right")
        self._set("#lesson-message", Text(runner.message))
        more = self.query_one("#lesson-scroll", VerticalScroll).max_scroll_y > 0
        self._set("#lesson-keys", self._keys(runner, more))

    def _set(self, selector: str, text: Text) -> None:
        widget = self.query_one(selector, Static)
        if str(widget.content) != text.plain or not text.plain:
            widget.update(text)
        widget.display = bool(text.plain)

    @staticmethod
    def _waits(runner: LessonRunner) -> Text:
        lines = runner.waits()
        out = Text()
        if not lines:
            return out
        out.append("Waiting for:\n" if not runner.met else "Done:\n", style="bold")
        for line in lines:
            mark, style = ("✓ ", "green") if line.met else ("… ", "yellow")
            out.append(mark, style=style)
            out.append(line.text + "\n")
        out.rstrip()
        return out

    def _quiz(self, runner: LessonRunner) -> Text:
        quiz = runner.quiz
        if quiz is None:
            return Text()
        out = Text()
        out.append("Question: ", style="bold")
        out.append(quiz.question + "\n")
        rec = runner.quiz_record
        settled = rec is not None and rec.settled
        if quiz.kind == "choice":
            for i, choice in enumerate(quiz.choices):
                pointer = "›" if i == self.cursor and not settled else " "
                style = "bold green" if settled and i == quiz.answer else ""
                out.append(f"{pointer} {i + 1}. {choice}\n", style=style)
            if not settled:
                out.append("1–9 answer · ↑ ↓ then Enter", style="dim")
        elif quiz.kind == "formula" and not formula_checker_ready():
            out.append("The formula checker is not available here.", style="dim")
        elif not settled:
            if quiz.kind == "formula":
                names = ", ".join(quiz.variables)
                out.append(f"Names: {names}; sigmoid, tanh, exp, log, relu, sqrt, abs; ^ or **\n")
            hint = "Enter answers · Escape leaves the input · Tab returns to it"
            out.append(hint, style="dim")
        if rec is not None and rec.tries:
            out.append(f"\ntries: {rec.tries}", style="dim")
        out.rstrip()
        return out

    @staticmethod
    def _keys(runner: LessonRunner, more: bool) -> Text:
        """The keys that move on, and what the step still waits for; ``more``: the text runs
        past the panel (pgdn scrolls it)."""
        out = Text()
        if runner.met:
            out.append("→ finish" if runner.last else "→ next step", style="bold green")
        else:
            out.append("waiting: ", style="bold yellow")
            out.append(runner.awaited() + "\n")
        if runner.index > 0:
            out.append("← back · ")
        out.append(("pgdn more · " if more else "") + "[ ] weight · esc leave", style="dim")
        return out
