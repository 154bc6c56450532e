"""A cover that asks for a larger window while the terminal is too small to draw the app.

Every screen composes one. It stays hidden until the terminal shrinks below :data:`MIN_SIZE`;
then it covers its screen (drawn above the screen's own widgets, which keep their layout) with
"make the window larger", the size needed and the size there is. When the terminal grows again
it hides, and the screen underneath is as it was: nothing but the drawing depends on it, so
training, the selection and the keys go on meanwhile.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Static

MIN_SIZE = (60, 18)
"""Columns and rows the app needs: the main screen's panels at their minimum heights (header 2,
plots 8, network 7, footer 1) and wide enough for the plots' axes and the footer's first keys."""


def too_small(columns: int, rows: int) -> bool:
    """Whether a terminal of ``columns`` × ``rows`` is smaller than the app can draw."""
    return columns < MIN_SIZE[0] or rows < MIN_SIZE[1]


def message(columns: int, rows: int) -> str:
    """What the cover says for a terminal of ``columns`` × ``rows``."""
    need = f"{MIN_SIZE[0]}×{MIN_SIZE[1]}"
    return f"Make the window larger\n(needs at least {need}, have {columns}×{rows})"


class TooSmall(Static):
    """Covers the screen with "make the window larger" while the terminal is too small."""

    DEFAULT_CSS = """
    TooSmall {
        display: none;
        position: absolute;
        overlay: screen;
        offset: 0 0;
        width: 100vw;
        height: 100vh;
        content-align: center middle;
        text-align: center;
        text-style: bold;
        background: $background;
        color: $text-warning;
    }
    TooSmall.-shown {
        display: block;
    }
    """

    def __init__(self) -> None:
        super().__init__("", id="too-small", markup=False)

    def on_mount(self) -> None:
        self.screen.screen_layout_refresh_signal.subscribe(self, self._check)
        self._check(self.screen)

    def _check(self, _screen: Screen) -> None:
        """Shows or hides the cover for the terminal's size now (on every layout refresh)."""
        columns, rows = self.app.size
        shown = too_small(columns, rows)
        text = message(columns, rows) if shown else ""
        if shown and text != str(self.content):
            self.update(text)
        if self.has_class("-shown") != shown:
            self.set_class(shown, "-shown")
