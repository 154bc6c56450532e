"""``o``: choose a saved run directory to open (``w`` saves into ``runs/``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static

from engine.experiment.runs import CHECKPOINT, CONFIG
from tui.widgets.too_small import TooSmall

RUNS = Path("runs")


def saved_runs(root: Path = RUNS) -> list[Path]:
    """Run directories under ``root``, newest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / CONFIG).is_file() and (p / CHECKPOINT).is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class OpenRunScreen(ModalScreen[str]):
    """A list of the runs in ``runs/`` and a path field; dismisses with the chosen path."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        runs = saved_runs()
        with Vertical(id="open-run"):
            yield Static("Open a saved run: pick one, or type its folder and press enter.")
            yield OptionList(*[str(p) for p in runs], id="open-list")
            yield Input(placeholder="runs/spiral-20250101-120000", id="open-path")
        yield TooSmall()

    def on_mount(self) -> None:
        self.query_one("#open-run").border_title = "open run"
        target = "#open-list" if saved_runs() else "#open-path"
        self.query_one(target).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.prompt))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss("")
