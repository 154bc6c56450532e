"""A matrix as a heat map of half blocks: hidden states over time, attention weights.

Each value is a square of pixels (a half block is as wide as it is tall), as large as the panel
allows, up to three pixels a side. Values either run from a low colour to a high one (weights
between 0 and 1) or diverge from the background to orange below zero and blue above, as in the
network diagram. Labels go along the top (one character per column) and down the left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from textual.strip import Strip

from tui.drawing import StyleCache, diverging, half_blocks, levels, ramp
from tui.widgets.canvas import Canvas

MAX_SCALE = 3  # pixels per value, at most


class HeatMap(Canvas):
    """Values (rows, cols) in colour; call :meth:`show` with new ones to redraw."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "heat-map--high",
        "heat-map--positive",
        "heat-map--negative",
        "heat-map--label",
    }
    DEFAULT_CSS = """
    HeatMap > .heat-map--high { color: $warning; }
    HeatMap > .heat-map--positive { color: #2b9bea; }
    HeatMap > .heat-map--negative { color: #f59322; }
    HeatMap > .heat-map--label { color: $text-muted; }
    HeatMap:light > .heat-map--positive { color: #0860a8; }
    HeatMap:light > .heat-map--negative { color: #c86400; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.values: np.ndarray | None = None
        self.limits = (0.0, 1.0)
        self.signed = False
        self.top = ""
        self.left: Sequence[str] = ()
        self.gamma = 1.0
        self.square = True
        self.pairs = False
        self._styles = StyleCache()

    def show(
        self,
        values: np.ndarray | None,
        limits: tuple[float, float],
        *,
        signed: bool = False,
        top: str = "",
        left: Sequence[str] = (),
        gamma: float = 1.0,
        square: bool = True,
        pairs: bool = False,
    ) -> None:
        """Draws ``values`` scaled between ``limits``.

        Args:
            values: the matrix, or None for an empty panel.
            limits: the values at the two ends of the palette.
            signed: diverge from the background at zero (else low to high).
            top: one character per column, drawn above it ("" for none).
            left: one label per row.
            gamma: < 1 brightens small values (attention weights mostly near 0).
            square: keep values square (else columns widen to fill the width).
            pairs: a line holding two rows of one-character labels shows both.
        """
        self.values, self.limits, self.signed = values, limits, signed
        self.top, self.left, self.gamma = top, left, gamma
        self.square, self.pairs = square, pairs
        self.redraw()

    @property
    def shown(self) -> tuple[int, int]:
        """How many rows and columns of the values the last drawing showed."""
        return getattr(self, "_shown", (0, 0))

    def _palette(self) -> list:
        base = self.background_colors[1]
        if self.signed:
            neg = self.get_component_styles("heat-map--negative").color
            pos = self.get_component_styles("heat-map--positive").color
            return diverging(neg, base, pos, 8)
        return ramp(base, self.get_component_styles("heat-map--high").color, 16)

    def draw(self, width: int, height: int) -> list[Strip]:
        values = self.values
        if values is None or values.size == 0 or width < 4 or height < 1:
            return [Strip.blank(width)] * height
        label = self._styles.get(self.get_component_styles("heat-map--label").color)
        blank = self._styles.get(None)
        rows, cols = values.shape
        top_line = 1 if len(self.top) == cols and height > 2 else 0
        left_w = min(max((len(s) for s in self.left), default=0), 4)
        if self.pairs and left_w:
            left_w = max(left_w, 2)
        left_w = left_w + 1 if left_w else 0
        avail_w, avail_h = width - left_w, height - top_line
        sx = max(1, min(avail_w // cols, MAX_SCALE))
        sy = max(1, min((2 * avail_h) // rows, MAX_SCALE))
        if self.square:
            sx = sy = min(sx, sy)
        shown = values[: self.rows_that_fit(rows, avail_h), : max(1, avail_w // sx)]
        self._shown = shown.shape
        lo, hi = self.limits
        palette = self._palette()
        if self.signed:
            top = max(abs(lo), abs(hi)) or 1.0
            scaled = np.sign(shown) * (np.abs(shown) / top) ** self.gamma
            index = levels(scaled, -1.0, 1.0, len(palette))
        else:
            span = (hi - lo) or 1.0
            scaled = np.clip((shown - lo) / span, 0.0, 1.0) ** self.gamma
            index = levels(scaled, 0.0, 1.0, len(palette))
        pixels = np.repeat(index, sy, axis=0)
        if self.square or avail_w < cols:
            pixels = np.repeat(pixels, sx, axis=1)
        else:  # stretch time to the width, column by column
            width_px = min(avail_w, cols * MAX_SCALE)
            pixels = pixels[:, np.arange(width_px) * cols // width_px]
            sx = width_px / cols
        cells = half_blocks(pixels, palette, self._styles)
        lines = []
        if top_line:
            text = "".join(ch.center(int(sx)) for ch in self.top[: shown.shape[1]])
            lines.append([(ch, label) for ch in " " * left_w + text])
        for r, row in enumerate(cells):
            if left_w:
                name = self._left_label(r, sy, shown.shape[0])
                row = [(ch, label) for ch in name[: left_w - 1].rjust(left_w - 1) + " "] + row
            lines.append(row)
        strips = [
            self.line(y, line or [(" ", blank)]).crop_extend(0, width, None)
            for y, line in enumerate(lines)
        ]
        return (strips + [Strip.blank(width)] * height)[:height]

    def rows_that_fit(self, rows: int, lines: int | None = None) -> int:
        """How many of ``rows`` value rows fit ``lines`` lines (default: the widget's height)."""
        if lines is None:
            lines = self.size.height - (1 if self.top and self.size.height > 2 else 0)
        sy = max(1, min((2 * max(lines, 1)) // max(rows, 1), MAX_SCALE))
        return max(1, min(rows, (2 * max(lines, 1)) // sy))

    def _left_label(self, line: int, s: int, rows: int) -> str:
        """The label of a line: its value row's, or both rows' when a line holds two."""
        first, second = (2 * line) // s, min((2 * line + 1) // s, rows - 1)
        names = [self.left[i] if i < len(self.left) else "" for i in (first, second)]
        if self.pairs and first != second:
            return names[0] + names[1]
        return names[0]
