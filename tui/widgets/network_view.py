"""The network as a diagram: units in columns, connections coloured by their weights.

Each connection is a braille line, blue for a positive weight and orange for a negative one, the
brighter the larger |w| is within its layer. The selected weight is drawn over the others in the
accent colour; the line under the diagram gives each layer's gradient norm ‖∂L/∂W‖ as a bar on a
log scale, so vanishing (tiny) and exploding (huge) gradients show at a glance. Layers wider than
the panel show their first and last units around a ``⋮``. Inputs are labelled by their names,
shortened so that each stays distinct (``sep.len``, ``px12,27``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.style import Style
from textual import events
from textual.color import Color
from textual.reactive import reactive
from textual.strip import Strip

from tui.drawing import BRAILLE, StyleCache, blend, number, segments_mask
from tui.messages import ParamSelected
from tui.session.probes import parse_param
from tui.session.records import FloatArray, Scene
from tui.widgets.canvas import Canvas
from tui.widgets.text_lines import cut_at

BARS = " ▁▂▃▄▅▆▇█"
NORM_RANGE = (-6.0, 2.0)  # log10 of the gradient norm across the bar
SHADES = 6  # brightness steps of a connection
LABEL_WIDTH = 7  # cells an input's label may take, left of the diagram


DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], np.uint8)


def short_labels(names: Sequence[str], width: int = LABEL_WIDTH) -> list[str]:
    """Labels for the inputs that fit ``width`` cells and tell every input apart.

    Names that fit are kept; longer ones lose letters word by word (``sepal_length`` →
    ``sep.len``, ``pixel_3_4`` → ``pix3,4``, ``pixel_12_27`` → ``px12,27``); names no
    abbreviation keeps apart get the input's number, as the chain rule panel counts them (``in3``).
    """
    if all(len(n) <= width for n in names) and len(set(names)) == len(names):
        return list(names)
    for letters in (3, 2, 1):
        labels = [abbreviate(n, letters) for n in names]
        if all(0 < len(t) <= width for t in labels) and len(set(labels)) == len(labels):
            return labels
    return [f"in{i}" for i in range(len(names))]


def abbreviate(name: str, letters: int) -> str:
    """``name``'s words cut to ``letters`` letters (two or fewer: first letter and consonants),
    joined by ".", then its numbers joined by ","."""
    words = re.findall(r"[^\W\d_]+|\d+", name)
    short = [w[:letters] if letters > 2 else _consonants(w)[:letters] for w in words if w.isalpha()]
    return ".".join(short) + ",".join(w for w in words if w.isdigit())


def _consonants(word: str) -> str:
    """``pixel`` → ``pxl``: the first letter and the consonants after it."""
    return word[0] + "".join(c for c in word[1:] if c.lower() not in "aeiou")


@dataclass(frozen=True)
class Layout:
    """Where things are, in cells: node columns, the rows of the shown units, the diagram rows."""

    columns: list[int]
    units: list[list[int]]  # shown unit indices per column
    rows: list[list[int]]  # their rows
    gaps: list[int]  # the row of "⋮" per column, or -1
    top: int
    height: int
    labels: list[str]  # one per input (``short_labels``)


@dataclass(frozen=True, eq=False)
class Geometry:
    """The layout and the rasterised connections for one size and network (see ``_geometry``).

    ``idx``, ``rows`` and ``cols`` give, for every dot, its connection and its cell; ``bits`` the
    braille dots of every cell.
    """

    key: tuple
    layout: Layout
    lines: dict[str, np.ndarray]
    idx: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    bits: np.ndarray


class NetworkView(Canvas):
    """Layers and units, weights, gradient norms and the selected weight."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "network-view--positive",
        "network-view--negative",
        "network-view--selected",
        "network-view--node",
        "network-view--label",
        "network-view--vanishing",
    }
    DEFAULT_CSS = """
    NetworkView > .network-view--positive { color: #2b9bea; }
    NetworkView > .network-view--negative { color: #f59322; }
    NetworkView > .network-view--selected { color: $accent; }
    NetworkView > .network-view--node { color: $foreground; }
    NetworkView > .network-view--label { color: $text-muted; }
    NetworkView > .network-view--vanishing { color: $error; }
    NetworkView:light > .network-view--positive { color: #0860a8; }
    NetworkView:light > .network-view--negative { color: #c86400; }
    """
    selected: reactive[str] = reactive("0.W[0,0]")
    """The selected parameter entry, e.g. ``"2.W[0,1]"`` or ``"0.b[3]"``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None
        self.weights: tuple[FloatArray, ...] = ()
        self.grad_norms: tuple[float, ...] = ()
        self._geometry_cache: Geometry | None = None
        self._lines: dict[str, np.ndarray] = {}
        self._styles = StyleCache()

    def show(self, scene: Scene, weights: tuple[FloatArray, ...], norms: tuple[float, ...]) -> None:
        """Draws new weights and gradient norms."""
        self.scene, self.weights, self.grad_norms = scene, weights, norms
        self.redraw()

    def watch_selected(self) -> None:
        self.redraw()

    # ------------------------------------------------------------------ selecting
    def choose(self, param: str) -> None:
        """Selects ``param`` and tells the screen."""
        if param != self.selected:
            self.selected = param
            self.post_message(ParamSelected(param))

    def move(self, layers: int = 0, entries: int = 0) -> None:
        """Moves the selection by whole layers (←/→) or by entries within the layer (↑/↓).

        Within a layer the order is W row by row, then b, and it wraps around.
        """
        if self.scene is None:
            return
        dense = self.scene.dense_layers
        if not dense:
            return
        try:
            layer, kind, j, k = parse_param(self.selected)
        except ValueError:  # an entry of another kind of layer: start at the first weight
            layer, kind, j, k = dense[0], "W", 0, 0
        d = dense.index(layer) if layer in dense else 0
        if layers:
            d = (d + layers) % len(dense)
            n_out, n_in = self.scene.widths[d + 1], self.scene.widths[d]
            j, k = min(j, n_out - 1), min(k, n_in - 1)
        n_out, n_in = self.scene.widths[d + 1], self.scene.widths[d]
        flat = j * n_in + k if kind == "W" else n_out * n_in + j
        flat = (flat + entries) % (n_out * n_in + n_out)
        if flat < n_out * n_in:
            self.choose(f"{dense[d]}.W[{flat // n_in},{flat % n_in}]")
        else:
            self.choose(f"{dense[d]}.b[{flat - n_out * n_in}]")

    def on_click(self, event: events.Click) -> None:
        """Selects the connection nearest to the click (within about a cell)."""
        lines = self._lines
        if not lines or not len(lines["x0"]):
            return
        px, py = event.x * 2 + 1.0, event.y * 4 + 2.0
        x0, y0, x1, y1 = lines["x0"], lines["y0"], lines["x1"], lines["y1"]
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((px - x0) * dx + (py - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-9), 0, 1)
        dist = np.hypot(x0 + t * dx - px, y0 + t * dy - py)
        best = int(np.argmin(dist))
        if dist[best] <= 4.0:
            layer, j, k = (int(v) for v in lines["ids"][best])
            self.choose(f"{layer}.W[{j},{k}]")

    # ------------------------------------------------------------------ layout
    def _layout(self, width: int, height: int) -> Layout:
        assert self.scene is not None
        widths = self.scene.widths
        labels = short_labels(self.scene.data.feature_names)
        label_w = max((len(t) for t in labels), default=0) + 1
        top, body = 1, max(height - 2, 1)
        first, last = label_w, max(width - 3, label_w + 1)
        n = len(widths)
        columns = [round(first + (last - first) * i / max(n - 1, 1)) for i in range(n)]
        units, rows, gaps = [], [], []
        for w in widths:
            if w <= body:
                shown = list(range(w))
                gap = -1
            else:
                head = (body - 1) // 2
                shown = list(range(head)) + list(range(w - (body - 1 - head), w))
                gap = top + head
            count = len(shown)
            if gap < 0:
                rows.append([top + int((i + 0.5) * body / count) for i in range(count)])
            else:
                rows.append([top + i if i < head else top + i + 1 for i in range(count)])
            units.append(shown)
            gaps.append(gap)
        return Layout(columns, units, rows, gaps, top, body, labels)

    def _connections(self, lay: Layout) -> dict[str, np.ndarray]:
        """Every shown connection: end points in pixels, its layer position d and (layer, j, k)."""
        assert self.scene is not None
        parts: dict[str, list] = {k: [] for k in ("x0", "y0", "x1", "y1", "d", "ids")}
        for d in range(len(lay.columns) - 1):
            src, dst = lay.units[d], lay.units[d + 1]
            k, j = np.meshgrid(np.array(src), np.array(dst))
            j_rows = np.array(lay.rows[d + 1])[:, None].repeat(len(src), 1)
            k_rows = np.array(lay.rows[d])[None, :].repeat(len(dst), 0)
            parts["x0"].append(np.full(k.size, lay.columns[d] * 2 + 2.0))
            parts["x1"].append(np.full(k.size, lay.columns[d + 1] * 2 - 1.0))
            parts["y0"].append(k_rows.ravel() * 4 + 1.5)
            parts["y1"].append(j_rows.ravel() * 4 + 1.5)
            parts["d"].append(np.full(k.size, d))
            layer = self.scene.dense_layers[d]
            parts["ids"].append(np.stack([np.full(k.size, layer), j.ravel(), k.ravel()], axis=1))
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}

    def _geometry(self, width: int, height: int) -> Geometry:
        """Where the units and the connections' dots are: fixed until the size or network change."""
        assert self.scene is not None
        key = (width, height, self.scene.generation, self.scene.widths)
        if self._geometry_cache is not None and self._geometry_cache.key == key:
            return self._geometry_cache
        lay = self._layout(width, height)
        lines = self._connections(lay)
        idx, px, py = segments_mask(
            lines["x0"], lines["y0"], lines["x1"], lines["y1"], width * 2, height * 4
        )
        bits = np.zeros((height, width), np.uint8)
        np.bitwise_or.at(bits, (py // 4, px // 2), DOT_BITS[py % 4, px % 2])
        self._geometry_cache = Geometry(key, lay, lines, idx, py // 4, px // 2, bits)
        return self._geometry_cache

    def _weights_of(self, lines: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Each shown connection's weight, and its size relative to the largest in its layer."""
        w = np.zeros(len(lines["d"]))
        for d, W in enumerate(self.weights):
            on = lines["d"] == d
            w[on] = W[lines["ids"][on, 1], lines["ids"][on, 2]]
        top = np.array([np.max(np.abs(W)) if W.size else 1.0 for W in self.weights])
        scale = top[lines["d"].astype(np.intp)] if len(w) else top[:0]
        return w, np.abs(w) / np.where(scale > 0, scale, 1.0)

    # ------------------------------------------------------------------ drawing
    def draw(self, width: int, height: int) -> list[Strip]:
        if self.scene is None or not self.weights or width < 8 or height < 3:
            self._lines = {}
            return [Strip.blank(width)] * height
        geo = self._geometry(width, height)
        self._lines = geo.lines
        blank = (" ", self._styles.get(None))
        grid: list[list[tuple[str, Style]]] = [[blank] * width for _ in range(height)]
        self._draw_lines(grid, geo)
        self._draw_nodes(grid, geo.layout)
        grid[0] = self._title_cells(width)
        grid[height - 1] = self._norm_cells(geo.layout, width)
        return [self.line(y, row) for y, row in enumerate(grid)]

    def _line_colours(self, w: np.ndarray, shade: np.ndarray) -> list[Color]:
        base = self.background_colors[1]
        pos = self.get_component_styles("network-view--positive").color
        neg = self.get_component_styles("network-view--negative").color
        shades = np.rint(np.nan_to_num(shade) * SHADES).astype(int)
        ramp = {
            s: (blend(base, pos, 0.2 + 0.8 * s / SHADES), blend(base, neg, 0.2 + 0.8 * s / SHADES))
            for s in range(SHADES + 1)
        }
        return [ramp[s][0] if v >= 0 else ramp[s][1] for s, v in zip(shades.tolist(), w.tolist())]

    def _selected_line(self, lines: dict[str, np.ndarray]) -> int:
        try:
            layer, kind, j, k = parse_param(self.selected)
        except ValueError:
            return -1
        if kind != "W" or not len(lines["ids"]):
            return -1
        hit = np.flatnonzero((lines["ids"] == (layer, j, k)).all(axis=1))
        return int(hit[0]) if hit.size else -1

    def _draw_lines(self, grid: list, geo: Geometry) -> None:
        """Braille dots of every connection; in a shared cell the largest |w| gives the colour."""
        if not len(geo.idx):
            return
        w, shade = self._weights_of(geo.lines)
        rank = np.argsort(np.argsort(np.nan_to_num(shade), kind="stable"), kind="stable")
        chosen = self._selected_line(geo.lines)
        if chosen >= 0:
            rank[chosen] = len(rank) + 1
        owner_rank = np.full(geo.bits.shape, -1, np.int64)
        np.maximum.at(owner_rank, (geo.rows, geo.cols), rank[geo.idx])
        by_rank = np.empty(len(rank) + 2, np.int64)
        by_rank[rank] = np.arange(len(rank))
        colours = self._line_colours(w, shade)
        accent = self.get_component_styles("network-view--selected").color
        inks = [self._styles.get(colour) for colour in colours]
        if chosen >= 0:
            inks[chosen] = self._styles.get(accent, bold=True)
        rows, cols = np.nonzero(owner_rank >= 0)
        owners = by_rank[owner_rank[rows, cols]].tolist()
        for r, c, line, dots in zip(
            rows.tolist(), cols.tolist(), owners, geo.bits[rows, cols].tolist()
        ):
            grid[r][c] = (BRAILLE[dots], inks[line])

    def _draw_nodes(self, grid: list, lay: Layout) -> None:
        assert self.scene is not None
        node = self.get_component_styles("network-view--node").color
        label = self._styles.get(self.get_component_styles("network-view--label").color)
        accent = self.get_component_styles("network-view--selected").color
        try:
            layer, kind, j_sel, k_sel = parse_param(self.selected)
        except ValueError:
            layer, kind, j_sel, k_sel = -1, "W", -1, -1
        d_sel = self.scene.dense_layers.index(layer) if layer in self.scene.dense_layers else -1
        names = lay.labels
        for c, (x, units, rows, gap) in enumerate(zip(lay.columns, lay.units, lay.rows, lay.gaps)):
            for unit, row in zip(units, rows):
                hot = (c == d_sel + 1 and unit == j_sel) or (
                    kind == "W" and c == d_sel and unit == k_sel
                )
                glyph = "◉" if hot and kind == "b" and c == d_sel + 1 else "●"
                grid[row][x] = (glyph, self._styles.get(accent if hot else node, bold=hot))
                if c == 0:
                    text = names[unit].rjust(x - 1) if unit < len(names) else ""
                    grid[row][: len(text)] = [(ch, label) for ch in text]
            if gap >= 0:
                grid[gap][x] = ("⋮", label)

    def _title_cells(self, width: int) -> list[tuple[str, Style]]:
        label = self._styles.get(self.get_component_styles("network-view--label").color)
        accent = self._styles.get(
            self.get_component_styles("network-view--selected").color, bold=True
        )
        value = self._selected_value()
        head = f"{self.selected}"
        tail = f" = {number(value, 4)}" if value is not None else ""
        hint = "   ←→↑↓ select · d derive"
        text = [(ch, accent) for ch in head] + [(ch, label) for ch in tail + hint]
        if len(text) > width:  # cut after a word, never inside the value, and say so
            text = [*text[: cut_at(head + tail + hint, width)], ("…", label)]
        return (text + [(" ", label)] * width)[:width]

    def _selected_value(self) -> float | None:
        assert self.scene is not None
        try:
            layer, kind, j, k = parse_param(self.selected)
            d = self.scene.dense_layers.index(layer)
            return float(self.weights[d][j, k]) if kind == "W" else None
        except (ValueError, IndexError):
            return None

    def _norm_cells(self, lay: Layout, width: int) -> list[tuple[str, Style]]:
        label = self._styles.get(self.get_component_styles("network-view--label").color)
        warn = self._styles.get(self.get_component_styles("network-view--vanishing").color)
        cells: list[tuple[str, Style]] = [(" ", label)] * width
        lo, hi = NORM_RANGE
        # a selection redraws before the next snapshot: norms of a previous network may be longer
        for d, norm in enumerate(self.grad_norms[: len(lay.columns) - 1]):
            level = 0.0 if norm <= 0 or not math.isfinite(norm) else math.log10(norm)
            bar = BARS[round(float(np.clip((level - lo) / (hi - lo), 0, 1)) * (len(BARS) - 1))]
            gap = lay.columns[d + 1] - lay.columns[d] - 1
            text = f"∇{bar}{number(norm, 2)}" if gap >= 9 else f"∇{bar}"
            start = lay.columns[d] + 1 + max((gap - len(text)) // 2, 0)
            style = warn if norm < 1e-5 or norm > 1e2 or not math.isfinite(norm) else label
            for i, ch in enumerate(text[: max(gap, 2)]):
                if start + i < width:
                    cells[start + i] = (ch, style)
        return cells
