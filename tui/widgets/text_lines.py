"""Lines of styled text that change ten times a second: the header, the legend, the math panel.

A ``Static`` re-lays out its whole content on every update. These panels have a fixed number of
short lines, so they are drawn as strips (``Canvas``) and only the lines whose text changed are
repainted: the step counter ticking does not redraw the experiment line above it.

A line too long for the panel ends in "…", cut after a space or comma when one is near, so a
number is shown whole or not at all (never ``-0`` for ``-0.03223``).
"""

from __future__ import annotations

from functools import lru_cache

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from tui.widgets.canvas import Canvas

Piece = tuple[str, str]  # text, and a Rich style such as "bold" or "dim" ("" for none)
Line = list[Piece]
BREAKS = " ,;/("
"""Characters after which a long line may be cut: the ends of words and of listed numbers."""


def cut_at(text: str, width: int) -> int:
    """How many characters of ``text`` to keep before a "…" so that both fit ``width`` cells.

    The cut goes back to just after the last space, comma or bracket, so a word or a number is
    never split (``δ = (0.1, -0.03223, …`` rather than ``… -0.03223, -0…``).
    """
    keep, cells = 0, 0
    for ch in text:
        cells += cell_len(ch)
        if cells > width - 1:
            break
        keep += 1
    if keep >= len(text) or text[keep] in BREAKS or (keep and text[keep - 1] in BREAKS):
        return keep
    found = max(text.rfind(ch, 0, keep) for ch in BREAKS)
    return found + 1 if found >= 0 else keep


@lru_cache(maxsize=256)
def _style(spec: str) -> Style:
    return Style.parse(spec) if spec else Style()


class TextLines(Canvas):
    """A few lines of styled text, cut to the width (no wrapping), a cut line ending in "…"."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: list[Line] = []

    def show_lines(self, lines: list[Line]) -> None:
        """Replaces the text; only changed lines are repainted."""
        if lines != self.lines:
            self.lines = lines
            self.redraw()

    @property
    def plain(self) -> str:
        """The text without styles, one line per line (what tests read)."""
        return "\n".join("".join(text for text, _ in line) for line in self.lines)

    def draw(self, width: int, height: int) -> list[Strip]:
        strips = []
        for line in self.lines[:height]:
            segments = [Segment(text, _style(spec)) for text, spec in line if text]
            strip = Strip(segments)
            if strip.cell_length > width >= 1:
                plain = "".join(text for text, _ in line)
                cut = list(strip.crop(0, cell_len(plain[: cut_at(plain, width)])))
                strip = Strip([*cut, Segment("…", cut[-1].style if cut else None)])
            strips.append(strip.crop_extend(0, width, None))
        return strips + [Strip.blank(width)] * (height - len(strips))
