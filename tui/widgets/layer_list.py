"""The network as a list of layers: what each computes, its output shape, and its gradient norm.

Any network fits a list, where only a plain Dense stack fits the diagram. Each row is a layer with
parameters together with the parameter-free layers after it (``Conv2D·ReLU·MaxPool``), its
output shape per sample, its parameter count, and ‖∂L/∂θ‖ of the last mini-batch as a bar on a
log scale from 10⁻⁷ to 10. Down a deep plain network the bars shrink layer by layer towards the
input: the gradient vanishes. With skip connections (``Residual``) they stay level. Rows that do
not fit one column continue in a second.
"""

from __future__ import annotations

import math
from typing import ClassVar

from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip

from tui.drawing import StyleCache, number
from tui.messages import ParamSelected
from tui.session.params import entry_at, flat_position, parse_entry
from tui.session.records import LayerRow, Scene
from tui.widgets.canvas import Canvas
from tui.widgets.text_lines import cut_at

LOG_RANGE = (-7.0, 1.0)  # log10 of the gradient norm across a full bar
EIGHTHS = " ▏▎▍▌▋▊▉█"
Cells = list[tuple[str, Style]]


def fit(cells: Cells, width: int) -> Cells:
    """One character per cell, cut to ``width`` after a word and ending in "…" when too long."""
    if len(cells) <= width:
        return cells
    keep = cut_at("".join(ch for ch, _ in cells), width)
    return [*cells[:keep], ("…", cells[max(keep - 1, 0)][1])]


def bar(norm: float, width: int) -> str:
    """A bar ``width`` cells long for a gradient norm on the log scale of ``LOG_RANGE``."""
    if not math.isfinite(norm):
        return "!" * width
    lo, hi = LOG_RANGE
    level = math.log10(norm) if norm > 0 else lo
    eighths = round(min(max((level - lo) / (hi - lo), 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part] if part else "")).ljust(width)[:width]


def shape_text(shape: tuple[int, ...]) -> str:
    """``(16,4,4)`` without spaces, ``(64)`` for one axis."""
    return "(" + ",".join(str(s) for s in shape) + ")"


class LayerList(Canvas):
    """One row per layer with parameters; the selected parameter's layer is highlighted."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "layer-list--bar",
        "layer-list--selected",
        "layer-list--label",
        "layer-list--vanishing",
    }
    DEFAULT_CSS = """
    LayerList > .layer-list--bar { color: $primary; }
    LayerList > .layer-list--selected { color: $accent; }
    LayerList > .layer-list--label { color: $text-muted; }
    LayerList > .layer-list--vanishing { color: $error; }
    """
    selected: reactive[str] = reactive("0.W[0,0]")
    """The selected parameter entry, e.g. ``"2.0.W[0,1]"``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None
        self.norms: tuple[float, ...] = ()
        self._styles = StyleCache()

    def show(self, scene: Scene, norms: tuple[float, ...]) -> None:
        """Draws new gradient norms (one per row of ``scene.rows``)."""
        self.scene, self.norms = scene, norms
        self.redraw()

    def watch_selected(self) -> None:
        self.redraw()

    # ------------------------------------------------------------------ selecting
    def _row_of(self, entry: str) -> int:
        assert self.scene is not None
        try:
            name, _ = parse_entry(entry)
        except ValueError:
            return 0
        return next((i for i, row in enumerate(self.scene.rows) if name in row.params), 0)

    def _shapes(self, row: LayerRow) -> list[tuple[int, ...]]:
        assert self.scene is not None
        names = list(self.scene.param_names)
        return [self.scene.param_shapes[names.index(n)] for n in row.params]

    def move(self, layers: int = 0, entries: int = 0) -> None:
        """Moves the selection by whole rows (←/→) or by entries within the row (↑/↓).

        A new row starts at its first entry; within a row the parameters follow each other in
        order (W row by row, then b) and the selection wraps around.
        """
        if self.scene is None or not self.scene.rows:
            return
        rows = self.scene.rows
        r = self._row_of(self.selected)
        if layers:
            r = (r + layers) % len(rows)
            self.choose(entry_at(0, rows[r].params, self._shapes(rows[r])))
            return
        shapes = self._shapes(rows[r])
        at = flat_position(self.selected, rows[r].params, shapes) or 0
        self.choose(entry_at(at + entries, rows[r].params, shapes))

    def choose(self, param: str) -> None:
        """Selects ``param`` and tells the screen."""
        if param != self.selected:
            self.selected = param
            self.post_message(ParamSelected(param))

    # ------------------------------------------------------------------ drawing
    def draw(self, width: int, height: int) -> list[Strip]:
        if self.scene is None or not self.scene.rows or width < 16 or height < 2:
            return [Strip.blank(width)] * height
        rows = self.scene.rows
        label = self._styles.get(self.get_component_styles("layer-list--label").color)
        body = height - 1
        columns = 1 if len(rows) <= body or width < 70 else 2
        col_w = (width - (columns - 1) * 2) // columns
        per_col = math.ceil(len(rows) / columns)
        chosen = self._row_of(self.selected)
        first = 0
        if per_col > body:  # still too many: keep the selected row in view
            first = min(max(chosen - body // 2, 0), per_col - body)
        lines: list[Cells] = [self._title(width)]
        gap = [("  ", label)]
        for r in range(first, first + min(body, per_col)):
            line: Cells = []
            for c in range(columns):
                i = c * per_col + r
                cells = self._row(i, col_w, i == chosen) if i < len(rows) else []
                line += cells + [(" ", label)] * (col_w - len(cells))
                if c < columns - 1:
                    line += gap
            lines.append(line)
        strips = [self.line(y, line).crop_extend(0, width, None) for y, line in enumerate(lines)]
        return strips + [Strip.blank(width)] * (height - len(strips))

    def _title(self, width: int) -> Cells:
        label = self._styles.get(self.get_component_styles("layer-list--label").color)
        accent = self._styles.get(
            self.get_component_styles("layer-list--selected").color, bold=True
        )
        lo, hi = LOG_RANGE
        hint = f"  ‖∇‖ 1e{lo:.0f}…1e{hi:.0f} log · ←→ layer ↑↓ entry"
        return fit([(ch, accent) for ch in self.selected] + [(ch, label) for ch in hint], width)

    def _row(self, i: int, width: int, chosen: bool) -> Cells:
        """``▸ 3 Res(Dense·Tanh) (16)  272 ████▌   3.1e-03`` cut to ``width``."""
        assert self.scene is not None
        row = self.scene.rows[i]
        norm = self.norms[i] if i < len(self.norms) else float("nan")
        label = self._styles.get(self.get_component_styles("layer-list--label").color)
        accent = self._styles.get(
            self.get_component_styles("layer-list--selected").color, bold=True
        )
        weak = norm < 1e-5 or norm > 1e2 or not math.isfinite(norm)
        bar_style = self._styles.get(
            self.get_component_styles("layer-list--vanishing" if weak else "layer-list--bar").color
        )
        digits = len(str(self.scene.rows[-1].index))
        head = f"{'▸' if chosen else ' '}{row.index:>{digits}} "
        value = f" {number(norm, 2):>7}"
        shape = f" {shape_text(row.shape):>9} {row.size:>6}"
        if width < 48:
            shape = ""
        room = width - len(head) - len(shape) - len(value) - 1
        longest = max(len(r.label) for r in self.scene.rows)
        name_w = max(min(longest, room - (room // 3 if shape else 6)), 4)
        bar_w = max(min(room - name_w, 24), 4)
        name = row.label if len(row.label) <= name_w else row.label[: name_w - 1] + "…"
        text: Cells = [(ch, accent if chosen else label) for ch in head + name.ljust(name_w)]
        text += [(ch, label) for ch in shape + " "]
        text += [(ch, bar_style) for ch in bar(norm, bar_w)]
        text += [(ch, bar_style if weak else label) for ch in value]
        return fit(text, width)
