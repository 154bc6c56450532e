"""The ``dltui`` app: wires the screens together, nothing more.

It opens on the main screen (live training) — or first on the warm-up screen when the kernels
have never been compiled — and pushes the derivation, setup, help and open-run screens from
there. The training itself lives in :class:`tui.session.worker.TrainingSession`, driven by the main
screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from engine.experiment.config import Experiment, Run
from engine.warmup import kernels_cached
from tui.screens.main import MainScreen
from tui.screens.warmup import WarmupScreen
from tui.session.worker import TrainingSession


class DltuiApp(App[int]):
    """Learn deep learning by watching it happen.

    Args:
        experiment: what to train.
        run: the experiment already built (data loaded), or None to build it here.
        paused: open paused (tests and snapshots step by hand).
        check_kernels: show the warm-up screen when the kernels are not compiled yet.
        pace: steps per second to train at (``tui.session.pace.FULL_SPEED``: no cap); None: each
            experiment's default pace (tests that need many steps pass full speed).
    """

    CSS_PATH = Path(__file__).with_name("dltui.tcss")
    TITLE = "dltui"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit", show=False)]

    def __init__(
        self,
        experiment: Experiment,
        run: Run | None = None,
        paused: bool = False,
        check_kernels: bool = True,
        pace: float | None = None,
    ) -> None:
        super().__init__()
        self.experiment = experiment
        self._run = run
        self._paused = paused
        self._check_kernels = check_kernels
        self._pace = pace
        self.session: TrainingSession | None = None

    def on_mount(self) -> None:
        if self._check_kernels and not kernels_cached():
            self.push_screen(WarmupScreen(), lambda _: self._start())
        else:
            self._start()

    def _start(self) -> None:
        """Builds the session and shows the main screen."""
        self.session = TrainingSession(
            self.experiment, paused=self._paused, run=self._run, pace=self._pace
        )
        self.push_screen(MainScreen(self.session))

    async def action_quit(self) -> None:
        """Stops the training thread, then leaves."""
        if self.session is not None:
            self.session.stop()
        self.exit(0)

    @property
    def main(self) -> MainScreen:
        """The main screen (for tests and the other screens)."""
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("the main screen is not open yet")
