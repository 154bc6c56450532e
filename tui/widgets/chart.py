"""A light braille chart: lines and points, linear or log scale, drawn with NumPy.

A plot library that lays text out in pure Python costs tens of milliseconds a frame; this chart
rasterises its series with a few array operations, so it can redraw ten times a second beside a
training thread without slowing it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.strip import Strip

from tui.drawing import (
    BRAILLE,
    StyleCache,
    braille_codes,
    number,
    point_mask,
    polyline_mask,
)
from tui.widgets.canvas import Canvas


@dataclass(frozen=True, eq=False)
class Series:
    """One thing to draw.

    Attributes:
        x: horizontal values.
        y: vertical values (NaN and, on a log scale, values ≤ 0 are left out).
        colour: the component class that gives its colour, e.g. ``"chart--a"``.
        points: True to draw points, False to join them with a line.
        label: written beside the line's last point ("" for none).
    """

    x: np.ndarray
    y: np.ndarray
    colour: str = "chart--a"
    points: bool = False
    label: str = ""


RUN_COLOURS = ("chart--r0", "chart--r1", "chart--r2", "chart--r3")
"""Dimmer colours for earlier runs drawn beside the current one, used in turn."""


def distinct_labels(values: list[float], log: bool = False) -> list[str]:
    """The axis labels of ``values`` with as few digits as keep them apart (``0.7`` three times
    becomes ``0.6931`` / ``0.6932`` / ``0.6933``), up to 8."""
    shown = [10**v if log else v for v in values]
    labels = [number(v, 2) for v in shown]
    for digits in range(3, 9):
        if len(set(labels)) == len(labels):
            break
        labels = [number(v, digits) for v in shown]
    return labels


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × 10ᵏ at or above ``value`` (``value`` itself when not > 0)."""
    if not value > 0 or not math.isfinite(value):
        return value
    scale = 10 ** math.floor(math.log10(value))
    return next(m * scale for m in (1, 2, 5, 10) if m * scale >= value * (1 - 1e-12))


class Chart(Canvas):
    """Series on shared axes; call :meth:`plot` with new data to redraw.

    With ``nice`` the axes end at round numbers (the step axis at 1, 2, 5 × 10ᵏ), so while a
    history grows most frames only add dots at its end, and only those lines are repainted.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chart--axis",
        "chart--a",
        "chart--b",
        "chart--c",
        "chart--d",
        *RUN_COLOURS,
    }
    DEFAULT_CSS = """
    Chart { height: 1fr; width: 1fr; }
    Chart > .chart--axis { color: $text-muted; }
    Chart > .chart--a { color: $primary; }
    Chart > .chart--b { color: $warning; }
    Chart > .chart--c { color: $text-muted; }
    Chart > .chart--d { color: $secondary; }
    Chart > .chart--r0 { color: $secondary 75%; }
    Chart > .chart--r1 { color: $success 75%; }
    Chart > .chart--r2 { color: $error 75%; }
    Chart > .chart--r3 { color: $accent 75%; }
    """

    def __init__(
        self, *, id: str | None = None, classes: str | None = None, nice: bool = False
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.nice = nice
        self._series: list[Series] = []
        self._log = False
        self._y_range: tuple[float, float] | None = None
        self._x_label = ""
        self._styles = StyleCache()

    def plot(
        self,
        series: list[Series],
        log: bool = False,
        y_range: tuple[float, float] | None = None,
        x_label: str = "",
    ) -> None:
        """Replaces what the chart shows; ``y_range`` fixes the vertical axis (else it fits);
        ``x_label`` names the horizontal axis (written between its end values)."""
        self._series, self._log, self._y_range = series, log, y_range
        self._x_label = x_label
        self.redraw()

    # ------------------------------------------------------------------ drawing
    def _scaled(self) -> list[tuple[np.ndarray, np.ndarray, Series]]:
        out = []
        for s in self._series:
            y = np.asarray(s.y, dtype=np.float64)
            if self._log:
                with np.errstate(divide="ignore", invalid="ignore"):
                    y = np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)
            out.append((np.asarray(s.x, dtype=np.float64), y, s))
        return out

    def _ranges(self, scaled: list) -> tuple[float, float, float, float] | None:
        xs = [x[np.isfinite(y) & np.isfinite(x)] for x, y, _ in scaled]
        ys = [y[np.isfinite(y) & np.isfinite(x)] for x, y, _ in scaled]
        xs, ys = [a for a in xs if a.size], [a for a in ys if a.size]
        if not xs:
            return None
        x0, x1 = min(a.min() for a in xs), max(a.max() for a in xs)
        if self._y_range is not None:
            y0, y1 = self._y_range
        else:
            y0, y1 = min(a.min() for a in ys), max(a.max() for a in ys)
            pad = 0.05 * (y1 - y0) if y1 > y0 else 0.5
            y0, y1 = (y0 - pad if y0 - pad >= 0 or y0 < 0 else 0.0), y1 + pad
            if self.nice:
                step = nice_ceiling(y1 - y0) / 10
                y0, y1 = math.floor(y0 / step) * step, math.ceil(y1 / step) * step
        if self.nice and x0 >= 0:
            x1 = nice_ceiling(x1)
        if x1 <= x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        return float(x0), float(x1), float(y0), float(y1)

    def draw(self, width: int, height: int) -> list[Strip]:
        axis = self._styles.get(self.get_component_styles("chart--axis").color)
        scaled = self._scaled()
        ranges = self._ranges(scaled)
        if ranges is None or width < 12 or height < 3:
            note = "waiting for data…" if width >= 17 else ""
            return [Strip([Segment(note, axis)])] + [Strip.blank(width)] * max(0, height - 1)
        x0, x1, y0, y1 = ranges
        labels = distinct_labels([y1, (y0 + y1) / 2, y0], self._log)
        margin = max(len(t) for t in labels) + 1
        cols, rows = width - margin, height - 1
        pw, ph = cols * 2, rows * 4
        bits = np.zeros((rows, cols), dtype=np.uint8)
        owner = np.full((rows, cols), -1, dtype=np.intp)
        for i, (x, y, s) in enumerate(scaled):
            px = (x - x0) / (x1 - x0) * (pw - 1)
            py = (y1 - y) / (y1 - y0) * (ph - 1)
            draw = point_mask if s.points else polyline_mask
            codes = braille_codes(draw(px, py, pw, ph))
            bits |= codes
            owner[codes > 0] = i
        colours = [self.get_component_styles(s.colour).color for _, _, s in scaled]
        blank, inks = (" ", self._styles.get(None)), [self._styles.get(c) for c in colours]
        grid = [
            [blank if o < 0 else (BRAILLE[b], inks[o]) for b, o in zip(dots, owners)]
            for dots, owners in zip(bits.tolist(), owner.tolist())
        ]
        self._write_labels(grid, scaled, (x0, x1, y0, y1), colours)
        strips = []
        for r in range(rows):
            tick = {0: labels[0], rows // 2: labels[1], rows - 1: labels[2]}.get(r, "")
            cells = [(ch, axis) for ch in tick.rjust(margin - 1) + "┤"]
            strips.append(self.line(r, cells + grid[r]))
        left, right = number(x0, 3), number(x1, 3)
        room = cols - len(left) - len(right)
        middle = f" {self._x_label} " if self._x_label and room >= len(self._x_label) + 2 else ""
        bottom = " " * margin + left + middle.center(max(room, 0)) + right
        strips.append(Strip([Segment(bottom[:width], axis)]))
        return strips

    def _write_labels(
        self,
        grid: list[list[tuple[str, Style]]],
        scaled: list[tuple[np.ndarray, np.ndarray, Series]],
        ranges: tuple[float, float, float, float],
        colours: list[Color],
    ) -> None:
        """Writes each labelled series' label beside its last point, on a row no other label
        took (the nearest free one), inside the plot."""
        x0, x1, y0, y1 = ranges
        rows, cols = len(grid), len(grid[0]) if grid else 0
        taken: set[int] = set()
        for i, (x, y, s) in enumerate(scaled):
            ok = np.isfinite(x) & np.isfinite(y)
            if not s.label or not ok.any() or cols < 4:
                continue
            last = np.flatnonzero(ok)[-1]
            col = int((x[last] - x0) / (x1 - x0) * (cols - 1))
            row = int(np.clip((y1 - y[last]) / (y1 - y0) * (rows - 1), 0, rows - 1))
            free = sorted((r for r in range(rows) if r not in taken), key=lambda r: abs(r - row))
            if not free:
                return
            row = free[0]
            taken.add(row)
            text = s.label if len(s.label) < cols else s.label[: cols - 2] + "…"
            start = min(col + 1, cols - len(text))
            style = self._styles.get(colours[i])
            for k, ch in enumerate(text):
                grid[row][start + k] = (ch, style)


def finite_or_nan(values: list[float | None]) -> np.ndarray:
    """A float array with NaN where a value is missing or not finite."""
    return np.array(
        [v if v is not None and math.isfinite(v) else np.nan for v in values], dtype=np.float64
    )
