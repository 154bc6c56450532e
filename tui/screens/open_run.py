"""``o``: open a saved run to train on, or several runs or a sweep to compare (``w`` saves
into ``runs/``; ``dltui sweep`` writes sweeps into ``sweeps/``).

The list holds the run folders of ``runs/`` and the sweep folders of ``sweeps/`` (and any in
``runs/``). Picking a run dismisses with its path (a ``str``: the session opens it to train on).
Picking a sweep lists its points instead: the first entry dismisses with ``[sweep]`` (a ``list``:
the session adds every point to the runs it compares), a point dismisses with its run folder.
The path field takes one folder, or several separated by spaces to compare them.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from engine.errors import UserError
from engine.experiment.runs import CHECKPOINT, CONFIG
from tui.compare.records import is_sweep, load_sweep
from tui.widgets.too_small import TooSmall

RUNS = Path("runs")
SWEEPS = Path("sweeps")
ALL = "\x00all"  # the id of a sweep's "compare every point" entry
HELP = "Open a saved run: pick one, or type its folder and press enter."
HELP_MANY = "Several folders separated by spaces, or a sweep, open them to compare (K lists them)."


def saved_runs(root: Path = RUNS) -> list[Path]:
    """Run directories under ``root``, newest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / CONFIG).is_file() and (p / CHECKPOINT).is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def saved_sweeps(roots: tuple[Path, ...] = (SWEEPS, RUNS)) -> list[Path]:
    """Sweep folders under ``roots``, newest first."""
    found = [p for root in roots if root.is_dir() for p in root.iterdir() if is_sweep(p)]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class OpenRunScreen(ModalScreen[str | list[str]]):
    """The saved runs and sweeps and a path field; dismisses with a run's path to open, or a
    list of folders to compare ("" when cancelled)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self) -> None:
        super().__init__()
        self.sweep: Path | None = None
        """The sweep whose points the list shows (None: the saved runs and sweeps)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="open-run"):
            yield Static(f"{HELP}\n{HELP_MANY}", id="open-help")
            yield OptionList(*self._saved(), id="open-list")
            yield Input(placeholder="runs/spiral-20250101-120000", id="open-path")
        yield TooSmall()

    def _saved(self) -> list[Option]:
        runs = [Option(str(p), id=str(p)) for p in saved_runs()]
        sweeps = [Option(f"{p}  (sweep)", id=str(p)) for p in saved_sweeps()]
        return runs + sweeps

    def on_mount(self) -> None:
        self.query_one("#open-run").border_title = "open run"
        listed = self.query_one("#open-list", OptionList).option_count
        self.query_one("#open-list" if listed else "#open-path").focus()

    def show_sweep(self, path: Path) -> None:
        """Lists the sweep's points: every point to compare first, then each to open."""
        try:
            comparison = load_sweep(path)
        except UserError as exc:
            self.notify(f"{exc.message}. {exc.hint}", severity="error")
            return
        self.sweep = path
        options = [Option(f"compare all {len(comparison.runs)} points of {path}", id=ALL)]
        for run in comparison.runs:
            figure = run.figures.get("best_val_loss") or run.figures.get("best_test_loss")
            best = f"  best loss {figure:.4g}" if figure is not None else ""
            options.append(Option(f"{run.label}  ({run.state}{best})", id=str(run.path)))
        listing = self.query_one("#open-list", OptionList)
        listing.clear_options()
        listing.add_options(options)
        listing.highlighted = 0
        listing.focus()
        self.query_one("#open-run").border_title = f"sweep {path.name}"
        help_text = "Compare every point, or pick one to train on (escape: back)."
        self.query_one("#open-help", Static).update(help_text)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        chosen = event.option.id or ""
        if chosen == ALL and self.sweep is not None:
            self.dismiss([str(self.sweep)])
        elif self.sweep is None and is_sweep(Path(chosen)):
            self.show_sweep(Path(chosen))
        elif chosen:
            self.dismiss(chosen)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            paths = shlex.split(event.value)
        except ValueError:
            paths = event.value.split()
        if len(paths) > 1:
            self.dismiss(paths)
        elif paths and is_sweep(Path(paths[0])):
            self.show_sweep(Path(paths[0]))
        elif paths:
            self.dismiss(paths[0])

    def action_cancel(self) -> None:
        if self.sweep is not None:  # back to the saved runs and sweeps
            self.sweep = None
            listing = self.query_one("#open-list", OptionList)
            listing.clear_options()
            listing.add_options(self._saved())
            self.query_one("#open-run").border_title = "open run"
            self.query_one("#open-help", Static).update(f"{HELP}\n{HELP_MANY}")
            return
        self.dismiss("")
