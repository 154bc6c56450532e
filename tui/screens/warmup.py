"""A start on an empty kernel cache: the first step's kernels compile, and the screen says so.

Only what the run's first training step needs compiles here (some seconds, once); the rest of
the engine's kernels compile in a separate, lower-priority process while training runs
(:func:`engine.warmup.start_background`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from engine.experiment.config import Run
from engine.warmup import start_background, warm_first_step
from tui.widgets.too_small import TooSmall


def warm_up(run: Run, progress: Callable[[str], None]) -> None:
    """What the screen waits for: ``run``'s first step compiled, every other kernel set going
    in the background."""
    t = run.experiment.train
    start_background(str(run.net.dtype), t.optimizer, run.net, t.loss)
    # A first step that fails here fails again on the training thread, which reports it in the
    # app (with what to do) instead of ending the app with a traceback.
    with contextlib.suppress(Exception):
        warm_first_step(run, progress)


class WarmupScreen(Screen[bool]):
    """Compiles the kernels of ``run``'s first step on a thread; dismisses itself when done.

    Args:
        run: the run about to train.
    """

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def compose(self) -> ComposeResult:
        with Vertical(id="warmup"):
            yield Static("Compiling kernels (first run only)…", id="warmup-title")
            yield Static(
                "Numba turns the engine's kernels into machine code and caches it on disk;"
                " later starts skip this. The kernels this network does not need yet compile"
                " in the background while it trains.",
                id="warmup-why",
            )
            yield ProgressBar(total=None, show_percentage=False, show_eta=False, id="warmup-bar")
            yield Static("", id="warmup-step")
        yield TooSmall()

    def on_mount(self) -> None:
        self._compile()

    @work(thread=True, exclusive=True, name="warm-up", exit_on_error=True)
    def _compile(self) -> None:
        warm_up(self.run, progress=lambda text: self.app.call_from_thread(self._advance, text))
        self.app.call_from_thread(self.dismiss, True)

    def _advance(self, text: str) -> None:
        self.query_one("#warmup-step", Static).update(f"compiling the first step: {text}")
