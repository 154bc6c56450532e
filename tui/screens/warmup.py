"""The first start: the kernels compile (some seconds, once), and the screen says so."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from engine.losses import LOSSES
from engine.warmup import warm_up
from tui.widgets.too_small import TooSmall

DTYPES = ("float32", "float64")


class WarmupScreen(Screen[bool]):
    """Compiles every kernel once on a thread, showing progress; dismisses itself when done."""

    def compose(self) -> ComposeResult:
        with Vertical(id="warmup"):
            yield Static("Compiling kernels (first run only)…", id="warmup-title")
            yield Static(
                "Numba turns the engine's kernels into machine code and caches it on disk;"
                " later starts skip this.",
                id="warmup-why",
            )
            yield ProgressBar(total=len(DTYPES) * len(LOSSES), show_eta=False, id="warmup-bar")
            yield Static("", id="warmup-step")
        yield TooSmall()

    def on_mount(self) -> None:
        self._compile()

    @work(thread=True, exclusive=True, name="warm-up", exit_on_error=True)
    def _compile(self) -> None:
        warm_up(DTYPES, progress=lambda text: self.app.call_from_thread(self._advance, text))
        self.app.call_from_thread(self.dismiss, True)

    def _advance(self, text: str) -> None:
        self.query_one(ProgressBar).advance(1)
        self.query_one("#warmup-step", Static).update(f"compiling {text}")
