"""Base of the picture widgets: draw all lines at once, repaint only the lines that changed.

Textual's cost of a frame grows with the lines it must compose. A picture that updates ten times
a second often changes in a few lines only (a heat map settling, weights whose colour shade did
not move), so :class:`Canvas` keeps the last strips, compares, and marks just the changed lines
dirty. That keeps the interface thread's share of the GIL small beside the training thread.
Making a line costs too (a ``Strip`` of merged segments, some 0.1 ms): :meth:`Canvas.line` hands
back the last drawing's line where the cells are the same as then, found by comparing them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tui.drawing import strip_from_cells

Cells = Sequence[tuple[str, Style]]


class Canvas(Widget):
    """A widget drawn by :meth:`draw` into whole lines (the line API)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._strips: list[Strip] = []
        self._stale = True
        self._made: dict[int, tuple[object, Strip]] = {}  # y → (what it shows, the line)

    def kept(self, y: int, shows: object, make: Callable[[], Strip]) -> Strip:
        """Line ``y``: the line made for ``y`` last time where what it shows (``shows``,
        compared with ``==``) is the same, else a new one from ``make``."""
        made = self._made.get(y)
        if made is not None and made[0] == shows:
            return made[1]
        strip = make()
        self._made[y] = (shows, strip)
        return strip

    def line(self, y: int, cells: Cells) -> Strip:
        """Line ``y`` made of ``cells`` (``tui.drawing.strip_from_cells``), kept (:meth:`kept`)
        while its cells are the same."""
        key = tuple(cells)
        return self.kept(y, key, lambda: strip_from_cells(key))

    def draw(self, width: int, height: int) -> list[Strip]:
        """All lines of the picture for a ``width`` × ``height`` area; override."""
        return [Strip.blank(width)] * height

    def redraw(self) -> None:
        """Draws again now and repaints the lines that differ from what is on screen."""
        width, height = self.size
        if self._stale or not self.is_mounted or width == 0:
            self._stale = True
            self.refresh()
            return
        strips = self.draw(width, height)
        old = self._strips
        self._strips = strips
        if len(old) != len(strips):
            self.refresh()
            return
        changed = [y for y, (a, b) in enumerate(zip(old, strips)) if a != b]
        if len(changed) > height // 2:
            self.refresh()
        elif changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def on_resize(self) -> None:
        self._stale = True
        self.refresh()

    def notify_style_update(self) -> None:
        """Colours come from the CSS: after a theme change every line is drawn again."""
        super().notify_style_update()
        self._stale = True

    def render_line(self, y: int) -> Strip:
        if self._stale:
            self._strips = self.draw(*self.size)
            self._stale = False
        return self._strips[y] if y < len(self._strips) else Strip.blank(self.size.width)
