"""Pixels for terminal cells: braille dots for lines, half blocks for heat maps, cached styles.

A braille character holds 2 × 4 dots and a half block ``▀`` two vertically stacked colours, so a
chart gets eight pixels per cell and a heat map two. Everything here is plain NumPy and Rich:
rasterising a whole picture is a few array operations, which keeps the interface thread's share
of the GIL small while training runs beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.strip import Strip

BoolArray = npt.NDArray[np.bool_]
# bit of each dot in a braille cell, indexed [row 0..3][column 0..1]
_BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
UPPER_HALF = "▀"


def braille_codes(mask: BoolArray) -> npt.NDArray[np.uint8]:
    """Packs a (4·rows, 2·cols) pixel mask into (rows, cols) braille dot bits."""
    rows, cols = mask.shape[0] // 4, mask.shape[1] // 2
    cells = mask[: rows * 4, : cols * 2].reshape(rows, 4, cols, 2)
    return np.einsum("rick,ik->rc", cells.astype(np.uint8), _BRAILLE_BITS).astype(np.uint8)


BRAILLE = (" ", *(chr(0x2800 + bits) for bits in range(1, 256)))
"""Every braille character by its dot bits (a space for none): a look-up, cell by cell."""


def polyline_mask(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> BoolArray:
    """Pixels on the line through points given in pixel coordinates (x right, y down).

    The line is sampled at every pixel column between its points, and each column is filled
    between its height and the previous column's, so steep parts stay connected.
    """
    mask = np.zeros((height, width), dtype=bool)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    if len(xs) == 0:
        return mask
    if len(xs) == 1:
        return point_mask(xs, ys, width, height)
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    cols = np.arange(max(0, math.floor(xs[0])), min(width, math.floor(xs[-1]) + 1))
    if len(cols) == 0:
        return mask
    col_y = np.interp(cols + 0.5, xs, ys)
    prev = np.concatenate([col_y[:1], col_y[:-1]])
    lo = np.clip(np.floor(np.minimum(col_y, prev)), 0, height - 1)
    hi = np.clip(np.floor(np.maximum(col_y, prev)), 0, height - 1)
    rows = np.arange(height)[:, None]
    mask[:, cols] = (rows >= lo[None, :]) & (rows <= hi[None, :])
    return mask


def point_mask(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> BoolArray:
    """One pixel per point, points outside the area dropped."""
    mask = np.zeros((height, width), dtype=bool)
    ix, iy = np.floor(xs), np.floor(ys)
    ok = np.isfinite(ix) & np.isfinite(iy) & (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    mask[iy[ok].astype(np.intp), ix[ok].astype(np.intp)] = True
    return mask


def segments_mask(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of many straight segments at once: (segment index, pixel x, pixel y) triples."""
    n = len(x0)
    if n == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty, empty
    length = int(np.ceil(np.max(np.maximum(np.abs(x1 - x0), np.abs(y1 - y0))))) + 1
    t = np.linspace(0.0, 1.0, max(length, 2))
    px = np.floor(x0[:, None] + (x1 - x0)[:, None] * t[None, :]).astype(np.intp)
    py = np.floor(y0[:, None] + (y1 - y0)[:, None] * t[None, :]).astype(np.intp)
    idx = np.broadcast_to(np.arange(n)[:, None], px.shape)
    ok = (px >= 0) & (px < width) & (py >= 0) & (py < height)
    return idx[ok], px[ok], py[ok]


def blend(a: Color, b: Color, t: float) -> Color:
    """``a`` at t = 0 to ``b`` at t = 1."""
    return a.blend(b, min(max(t, 0.0), 1.0))


def ramp(a: Color, b: Color, steps: int = 16) -> list[Color]:
    """``steps + 1`` colours from ``a`` to ``b``: a palette for values scaled to 0..1."""
    return [blend(a, b, i / steps) for i in range(steps + 1)]


def diverging(negative: Color, middle: Color, positive: Color, steps: int = 8) -> list[Color]:
    """``2·steps + 1`` colours: ``negative`` … ``middle`` (at index ``steps``) … ``positive``."""
    return ramp(middle, negative, steps)[::-1] + ramp(middle, positive, steps)[1:]


def levels(values: np.ndarray, lo: float, hi: float, count: int) -> npt.NDArray[np.intp]:
    """Palette indices 0..count-1 for values between ``lo`` and ``hi`` (NaN gives the middle)."""
    span = hi - lo if hi > lo else 1.0
    scaled = np.nan_to_num((np.asarray(values, np.float64) - lo) / span, nan=0.5)
    return np.rint(np.clip(scaled, 0.0, 1.0) * (count - 1)).astype(np.intp)


def half_blocks(
    index: np.ndarray, palette: list[Color], styles: StyleCache
) -> list[list[tuple[str, Style]]]:
    """A picture of palette indices, (rows, cols), as cells: two pixel rows per line.

    An odd last row leaves the lower half of its line empty (the widget's background).
    """
    rows = []
    for r in range(0, index.shape[0], 2):
        top = index[r].tolist()
        if r + 1 < index.shape[0]:
            bottom = index[r + 1].tolist()
            rows.append(
                [(UPPER_HALF, styles.get(palette[t], palette[b])) for t, b in zip(top, bottom)]
            )
        else:
            rows.append([(UPPER_HALF, styles.get(palette[t])) for t in top])
    return rows


class StyleCache:
    """Rich styles for (foreground, background) colour pairs, made once each."""

    def __init__(self) -> None:
        self._styles: dict[tuple[Color | None, Color | None, bool], Style] = {}

    def get(self, fg: Color | None, bg: Color | None = None, bold: bool = False) -> Style:
        """The style with these colours (None: the widget's own), made on first use."""
        key = (fg, bg, bold)
        style = self._styles.get(key)
        if style is None:
            style = Style(
                color=fg.rich_color if fg is not None else None,
                bgcolor=bg.rich_color if bg is not None else None,
                bold=bold or None,
            )
            if len(self._styles) > 4096:
                self._styles.clear()
            self._styles[key] = style
        return style


def strip_from_cells(cells: Iterable[tuple[str, Style]]) -> Strip:
    """One line from (text, style) cells, merging neighbours of the same style into one segment."""
    segments: list[Segment] = []
    text, style = "", None
    for char, cell_style in cells:
        if cell_style is style:
            text += char
            continue
        if text:
            segments.append(Segment(text, style))
        text, style = char, cell_style
    if text:
        segments.append(Segment(text, style))
    return Strip(segments)


def number(value: float | None, digits: int = 3) -> str:
    """A short number for a narrow panel: ``0.0123``, ``1.2e-05``, ``–`` for none."""
    if value is None or not math.isfinite(value):
        return "–" if value is None else str(value)
    value += 0.0  # -0.0 prints as 0
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}g}"


def percent(value: float | None) -> str:
    """``97.4%``, or ``–`` for none."""
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"
