"""``?``: every key of the app, on one page, and the pictures the view panel can show.

The keys of the screens are listed here; the keys only some views answer to, and each view's
line, come from the views' declarations (``tui.session.views``).
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.session.views import views
from tui.widgets.too_small import TooSmall

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Training",
        (
            ("space", "pause / resume; after the set epochs, train on"),
            ("s", "train exactly one mini-batch"),
            ("r", "reset the weights (next seed)"),
            ("+ / -", "learning rate one step up / down (… 0.01 0.03 0.1 …)"),
            ("> / <", "faster / slower (… 500 1k 2k … steps/s, then full speed)"),
            ("c", "setup: data, features, network, loss, optimiser, regularisation…"),
            ("w / o", "save the run / open a saved run, or a sweep or several runs to compare"),
        ),
    ),
    (
        "Views",
        (
            ("← →  [ ]", "select a weight: previous / next layer ([ ] in a lesson)"),
            ("↑ ↓", "select a weight: previous / next in the layer (W, then b)"),
            ("click", "select the connection under the mouse"),
            ("n / N", "next / previous sample: the chain rule's, and the test image,"),
            ("", "sequence or text window the picture shows"),
            ("v", "next picture that suits the network (filters, confusion…)"),
            ("g", "network: diagram or layer list with ‖∂L/∂θ‖ per layer"),
            ("l", "loss plot: log scale on / off"),
            ("a", "plot accuracy instead of loss (classification)"),
            ("b", "loss plot: each mini-batch's loss by step / loss by epoch"),
            ("K", "runs table: epochs, last train / test loss, best test loss and accuracy"),
            ("k", "loss plot: clear the earlier runs (a reset or setup change starts one)"),
            ("d", "derivation of the selected weight"),
        ),
    ),
    (
        "Derivation",
        (
            ("→ / ←", "next / previous step"),
            ("home / end", "first / last step"),
            ("v", "switch index and vector views (Dense stacks)"),
            ("f", "type each backward step's formula before it is shown"),
            ("x / m", "export LaTeX / Markdown to a file"),
            ("escape", "back to training"),
        ),
    ),
    (
        "Lesson (dltui learn)",
        (
            ("→ / ←", "next step, once its wait is met / the step before"),
            ("1-9, ↑ ↓ enter", "answer a multiple-choice question"),
            ("enter, tab", "to a question's input line; enter answers, escape leaves it"),
            ("[ ] shift+← →", "select a weight: previous / next layer"),
            ("pgup / pgdn", "scroll the lesson's text"),
            ("escape", "leave the lesson: its last run trains on in the free app"),
        ),
    ),
    ("Anywhere", (("?", "this page"), ("ctrl+p", "commands, themes"), ("q", "quit"))),
)


def sections() -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """The help page's sections: the screens' keys, with each view's own keys among the views',
    and a line per picture."""
    declared = views().values()
    own: dict[str, str] = {}
    for v in declared:
        for k in v.keys:
            own.setdefault(k.key, k.help)
    out = []
    for section, rows in KEYS:
        if section == "Views":
            rows = (*rows, *own.items())
        out.append((section, rows))
    pictures = tuple((v.name, v.help) for v in declared if v.help)
    out.insert(2, ("Pictures", pictures))
    return out


def keys_table() -> Table:
    """The keys as a Rich table, one section per screen."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for section, rows in sections():
        table.add_row(f"[underline]{section}[/]", "")
        for key, what in rows:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    """Every key; any of escape, ? or q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(keys_table(), id="help-keys")
        yield TooSmall()

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "keys"
        self.query_one("#help").border_subtitle = "escape to close"
