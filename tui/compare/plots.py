"""Plots drawn with plain Unicode characters, for a terminal or a text file.

Each plot is a list of lines, each line a list of ``(text, style)`` pieces (style a Rich style
name, "" for none): ``dltui compare`` prints them with colours, and without a terminal the
markers alone (``●■▲◆…``) still tell the series apart.

- :func:`curves`: loss curves against epochs, one marker and colour per run.
- :func:`against`: a figure against a swept value, the mean over seeds marked, the spread from
  the lowest to the highest seed drawn as a bar ``│``, the best point as ``★``. Values spanning
  two decades or more get a log axis (learning rates); strings and booleans a categorical one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Line = list[tuple[str, str]]

MARKERS = "●■▲◆✚○□△◇×"
COLOURS = ("red", "green", "blue", "magenta", "cyan", "yellow", "bright_red", "bright_green")
BEST = "★"
LABEL_WIDTH = 9  # the y axis's numbers


@dataclass(frozen=True)
class Series:
    """A run's curve (x: epochs) or a group's figure against a swept value (x: the values).

    ``low``/``high``: the spread over seeds at each x (None: no spread drawn).
    """

    label: str
    x: Sequence[Any]
    y: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None


def style_of(i: int) -> tuple[str, str]:
    """The marker and colour of the ``i``-th series."""
    return MARKERS[i % len(MARKERS)], COLOURS[i % len(COLOURS)]


def number(value: float) -> str:
    """A short axis number: ``0.0123``, ``1.5e-05``, ``120``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    return f"{value:.3g}"


class _Axis:
    """Maps values onto ``cells`` positions (0 … cells − 1), linear or log."""

    def __init__(self, low: float, high: float, cells: int, log: bool) -> None:
        self.log, self.cells = log, cells
        if log:
            low, high = math.log10(low), math.log10(high)
        if high <= low:
            low, high = low - 0.5, high + 0.5
        self.low, self.high = low, high

    def __call__(self, value: float) -> int:
        v = math.log10(value) if self.log else value
        at = (v - self.low) / (self.high - self.low) * (self.cells - 1)
        return min(max(round(at), 0), self.cells - 1)

    def value(self, cell: int) -> float:
        v = self.low + (self.high - self.low) * cell / max(self.cells - 1, 1)
        return 10**v if self.log else v


def wants_log(values: Sequence[float]) -> bool:
    """Whether positive values span two decades or more (a log axis shows them better)."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= 100


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(height)]

    def put(self, col: int, row: int, char: str, style: str) -> None:
        if 0 <= col < self.width and 0 <= row < self.height:
            self.cells[self.height - 1 - row][col] = (char, style)

    def get(self, col: int, row: int) -> str:
        return self.cells[self.height - 1 - row][col][0]

    def lines(self, y_axis: _Axis, x_labels: list[tuple[int, str]], y_title: str) -> list[Line]:
        out: list[Line] = [[(y_title, "bold")]]
        marks = {self.height - 1: 0, (self.height - 1) // 2: 0, 0: 0}
        for r, cells in enumerate(self.cells):
            row = self.height - 1 - r
            tick = number(y_axis.value(row)) if row in marks else ""
            line: Line = [(tick.rjust(LABEL_WIDTH - 1) + ("┤" if tick else "│"), "dim")]
            line += _merge(cells)
            out.append(line)
        out.append([(" " * (LABEL_WIDTH - 1) + "└" + "─" * self.width, "dim")])
        text = [" "] * (self.width + LABEL_WIDTH)
        for col, label in x_labels:
            start = max(LABEL_WIDTH + col - len(label) // 2, LABEL_WIDTH)
            start = min(start, len(text) - len(label))
            if all(c == " " for c in text[max(start - 1, 0) : start + len(label) + 1]):
                text[start : start + len(label)] = list(label)
        out.append([("".join(text).rstrip(), "dim")])
        return out


def _merge(cells: list[tuple[str, str]]) -> Line:
    """Neighbouring cells of one style as one piece."""
    line: Line = []
    for char, style in cells:
        if line and line[-1][1] == style:
            line[-1] = (line[-1][0] + char, style)
        else:
            line.append((char, style))
    return line


def _y_axis(values: list[float], height: int, log: bool | None = None) -> _Axis:
    finite = [v for v in values if math.isfinite(v)]
    if log is None:
        log = wants_log(finite)
    if not finite:
        return _Axis(0.0, 1.0, height, False)
    return _Axis(min(finite), max(finite), height, log)


def curves(
    series: Sequence[Series], width: int, height: int, title: str, x_title: str = "epoch"
) -> list[Line]:
    """Curves against epochs overlaid, one marker per series, then a legend.

    Between two measured epochs the curve is drawn at the linear interpolation, one mark per
    column; a non-finite loss (a diverged run) is left out. A log y axis when the losses span
    two decades or more.
    """
    width, height = max(width - LABEL_WIDTH, 10), max(height, 4)
    xs = [float(x) for s in series for x in s.x]
    ys = [v for s in series for v in s.y]
    y_axis = _y_axis(ys, height)
    log = y_axis.log
    if not xs:
        return [[(f"{title}: no epochs measured", "dim")]]
    x_axis = _Axis(min(xs), max(xs), width, False)
    canvas = _Canvas(width, height)
    for i in _worst_first(series):
        s = series[i]
        marker, colour = style_of(i)
        points = [
            (float(x), y)
            for x, y in zip(s.x, s.y, strict=True)
            if math.isfinite(y) and (y > 0 or not log)
        ]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            c0, c1 = x_axis(x0), x_axis(x1)
            for col in range(c0, c1 + 1):
                t = 0.0 if c1 == c0 else (col - c0) / (c1 - c0)
                y = _between(y0, y1, t, log)
                canvas.put(col, y_axis(y), marker, colour)
        if len(points) == 1:
            canvas.put(x_axis(points[0][0]), y_axis(points[0][1]), marker, colour)
    whole = all(x == int(x) for x in xs)
    ticks = []
    for col in (0, width - 1, width // 2):
        x = x_axis.value(col)
        ticks.append((x_axis(round(x)), f"{round(x)}") if whole else (col, number(x)))
    scale = " (log scale)" if log else ""
    lines = canvas.lines(y_axis, ticks, f"{title}{scale}")
    lines.append([(" " * (LABEL_WIDTH - 1) + x_title.center(width), "dim")])
    return lines + legend([s.label for s in series], width + LABEL_WIDTH)


def _worst_first(series: Sequence[Series]) -> list[int]:
    """The order to draw curves in: the highest last value first, so that the lowest curves,
    drawn last, stay on top where they cross."""

    def last(i: int) -> float:
        finite = [y for y in series[i].y if math.isfinite(y)]
        return finite[-1] if finite else math.inf

    return sorted(range(len(series)), key=last, reverse=True)


def _between(y0: float, y1: float, t: float, log: bool) -> float:
    if log:
        return 10 ** (math.log10(y0) + (math.log10(y1) - math.log10(y0)) * t)
    return y0 + (y1 - y0) * t


def legend(labels: Sequence[str], width: int) -> list[Line]:
    """``● label  ■ label …``, wrapped to ``width``."""
    lines: list[Line] = []
    line: Line = []
    used = 0
    for i, label in enumerate(labels):
        marker, colour = style_of(i)
        size = len(label) + 4
        if line and used + size > width:
            lines.append(line)
            line, used = [], 0
        line += [(marker, colour), (f" {label}  ", "")]
        used += size
    if line:
        lines.append(line)
    return lines


def categorical(values: Sequence[Any]) -> bool:
    """Whether swept values are names (strings, booleans, lists) rather than numbers."""
    return any(isinstance(v, str | bool | list | tuple) or v is None for v in values)


def against(
    series: Sequence[Series],
    width: int,
    height: int,
    title: str,
    x_title: str,
    lower_is_better: bool = True,
) -> tuple[list[Line], tuple[int, int] | None]:
    """A figure against a swept value: each series' mean marked, its spread over seeds a bar.

    Returns the lines and the best point as (series, index into its x), None when nothing
    was measured. The best point is drawn ``★``.
    """
    width, height = max(width - LABEL_WIDTH, 10), max(height, 4)
    values = [x for s in series for x in s.x]
    ys = [v for s in series for v in (*s.y, *(s.low or ()), *(s.high or ()))]
    finite = [v for v in ys if math.isfinite(v)]
    if not finite or not values:
        return [[(f"{title}: nothing measured", "dim")]], None
    y_axis = _y_axis(finite, height)
    names = categorical(values)
    if names:
        order: list[Any] = []
        for v in values:
            if v not in order:
                order.append(v)
        slots = max(len(order), 1)

        def column(v: Any) -> int:
            return round((order.index(v) + 0.5) * width / slots)

        ticks = [(column(v), _name(v)) for v in order]
        log = False
    else:
        numbers = [float(v) for v in values]
        log = wants_log(numbers)
        margin = 2
        x_axis = _Axis(min(numbers), max(numbers), width - 2 * margin, log)

        def column(v: Any) -> int:
            return x_axis(float(v)) + margin

        ticks = _number_ticks(x_axis, margin, log)
    best = _best(series, lower_is_better)
    canvas = _Canvas(width, height)
    for i, s in enumerate(series):
        marker, colour = style_of(i)
        shift = i - (len(series) - 1) // 2 if len(series) > 1 else 0
        for j, (x, y) in enumerate(zip(s.x, s.y, strict=True)):
            col = column(x) + shift
            if s.low is not None and s.high is not None:
                lo, hi = s.low[j], s.high[j]
                if math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or not y_axis.log):
                    for row in range(y_axis(lo), y_axis(hi) + 1):
                        canvas.put(col, row, "│", colour)
            if not math.isfinite(y) or (y_axis.log and y <= 0):
                canvas.put(col, height - 1, "↑", colour)  # off the plot: not finite
                continue
            is_best = best == (i, j)
            canvas.put(col, y_axis(y), BEST if is_best else marker, f"bold {colour}")
    scale = " (log x)" if log else ""
    lines = canvas.lines(y_axis, ticks, title)
    lines.append([(" " * (LABEL_WIDTH - 1) + f"{x_title}{scale}".center(width), "dim")])
    return lines, best


def _name(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "x".join(str(v) for v in value) or "[]"
    return str(value)


def _number_ticks(axis: _Axis, margin: int, log: bool) -> list[tuple[int, str]]:
    if log:
        lo, hi = math.floor(axis.low + 1e-9), math.ceil(axis.high - 1e-9)
        decades = [10.0**e for e in range(lo, hi + 1) if axis.low - 1e-9 <= e <= axis.high + 1e-9]
        return [(axis(v) + margin, number(v)) for v in decades]
    cells = axis.cells
    return [(c + margin, number(axis.value(c))) for c in (0, cells // 2, cells - 1)]


def _best(series: Sequence[Series], lower_is_better: bool) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    best_y = math.inf
    for i, s in enumerate(series):
        for j, y in enumerate(s.y):
            if not math.isfinite(y):
                continue
            score = y if lower_is_better else -y
            if score < best_y:
                best, best_y = (i, j), score
    return best
