"""What a CNN's first convolution has learnt: its filters, and the feature maps of one image.

Each filter is a small picture of its weights, blue where positive and orange where negative, all
on one scale, so the strong filters stand out. Below, a test image (``n``/``N`` to choose), labelled
"input", and what each filter makes of it after the activation: the feature maps the next layer
reads, bright where the filter's pattern is found. A line of labels above each row of pictures
numbers them (filter o and its map o, as in ``W[o, …]``) and keeps the rows apart.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from rich.style import Style
from textual.strip import Strip

from engine.layers.image import Conv2D
from tui.drawing import StyleCache, diverging, half_blocks, levels, ramp, strip_from_cells
from tui.session.probes_nets import feature_maps
from tui.session.records import FeatureMaps, Scene
from tui.session.views import ViewDef, register
from tui.widgets.canvas import Canvas

Cells = list[tuple[str, Style]]
Picture = list[Cells]  # lines of cells, all the same width


class FilterView(Canvas):
    """Filters of the first convolution, and the feature maps of one test image."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "filter-view--positive",
        "filter-view--negative",
        "filter-view--high",
        "filter-view--label",
        "filter-view--right",
        "filter-view--wrong",
    }
    DEFAULT_CSS = """
    FilterView > .filter-view--positive { color: #2b9bea; }
    FilterView > .filter-view--negative { color: #f59322; }
    FilterView > .filter-view--high { color: $foreground; }
    FilterView > .filter-view--label { color: $text-muted; }
    FilterView > .filter-view--right { color: $success; }
    FilterView > .filter-view--wrong { color: $error; }
    FilterView:light > .filter-view--positive { color: #0860a8; }
    FilterView:light > .filter-view--negative { color: #c86400; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.maps: FeatureMaps | None = None
        self._styles = StyleCache()

    def show(self, scene: Scene, maps: FeatureMaps | None) -> None:
        """Draws new filters and maps; None keeps the last ones."""
        if maps is not None:
            self.maps = maps
            self.redraw()

    # ------------------------------------------------------------------ pictures
    def _pictures(self, values: np.ndarray, scale: int, step: int, signed: bool) -> list[Picture]:
        """Each (h, w) slice of ``values`` as half blocks, every ``step``-th pixel, ``scale``×."""
        base = self.background_colors[1]
        if signed:
            neg = self.get_component_styles("filter-view--negative").color
            pos = self.get_component_styles("filter-view--positive").color
            palette = diverging(neg, base, pos, 8)
            top = float(np.max(np.abs(values))) or 1.0
            lo, hi = -top, top
        else:
            palette = ramp(base, self.get_component_styles("filter-view--high").color, 16)
            lo, hi = 0.0, float(np.max(values)) or 1.0
        out = []
        for picture in values:
            index = levels(picture[::step, ::step], lo, hi, len(palette))
            pixels = np.repeat(np.repeat(index, scale, axis=0), scale, axis=1)
            out.append(half_blocks(pixels, palette, self._styles))
        return out

    def _grid(self, pictures: list[Picture], labels: list[str], width: int) -> list[Cells]:
        """Pictures side by side with a space between, wrapped to ``width``; above each row of
        pictures a line of their labels, which also sets the rows apart."""
        if not pictures:
            return []
        blank = (" ", self._styles.get(None))
        label = self._styles.get(self.get_component_styles("filter-view--label").color)
        pic_w = len(pictures[0][0])
        per_line = max((width + 1) // (pic_w + 1), 1)
        lines: list[Cells] = []
        for start in range(0, len(pictures), per_line):
            group = pictures[start : start + per_line]
            names = "".join(
                _fit(n, pic_w).ljust(pic_w + 1) for n in labels[start : start + per_line]
            )
            lines.append([(ch, label) for ch in names])
            for r in range(len(group[0])):
                line: Cells = []
                for picture in group:
                    line += [*picture[r], blank]
                lines.append(line)
        return lines

    @staticmethod
    def _grid_height(count: int, pic_w: int, pic_h: int, width: int) -> int:
        per_line = max((width + 1) // (pic_w + 1), 1)
        return math.ceil(count / per_line) * (pic_h + 1)  # a label line above each row

    def _sizes(self, width: int, height: int) -> tuple[int, int]:
        """The largest filter scale and the finest map step that fit the panel."""
        assert self.maps is not None
        k = self.maps.filters.shape[-1]
        count, h, w = self.maps.maps.shape
        for step in (1, 2, 3, 4):
            mh, mw = math.ceil(h / step), math.ceil(w / step)
            maps_h = self._grid_height(count + 1, mw, math.ceil(mh / 2), width)
            for scale in (3, 2, 1):
                filters_h = self._grid_height(count, k * scale, math.ceil(k * scale / 2), width)
                if 2 + filters_h + maps_h <= height:
                    return scale, step
        return 1, 4

    # ------------------------------------------------------------------ drawing
    def draw(self, width: int, height: int) -> list[Strip]:
        fm = self.maps
        if fm is None or width < 10 or height < 3:
            return [Strip.blank(width)] * height
        label = self._styles.get(self.get_component_styles("filter-view--label").color)
        scale, step = self._sizes(width, height)
        count, in_c, k, _ = fm.filters.shape
        lines: list[Cells] = []
        channel = " (input channel 0)" if in_c > 1 else ""
        head = f"conv layer {fm.layer}: {count} filters {fm.layer}.W[o] of {k}×{k}{channel}"
        head += " · blue + orange −"
        lines.append([(ch, label) for ch in head])
        numbers = [str(o) for o in range(count)]
        lines += self._grid(self._pictures(fm.filters[:, 0], scale, 1, True), numbers, width)
        lines.append(self._caption())
        image = fm.image[None] / (float(np.max(fm.image)) or 1.0)
        signed = bool(np.min(fm.maps) < 0)
        pictures = self._pictures(image, 1, step, False)
        pictures += self._pictures(fm.maps, 1, step, signed)
        lines += self._grid(pictures, ["input", *numbers], width)
        strips = [strip_from_cells(line).crop_extend(0, width, None) for line in lines[:height]]
        return strips + [Strip.blank(width)] * (height - len(strips))

    def _caption(self) -> Cells:
        assert self.maps is not None
        fm = self.maps
        label = self._styles.get(self.get_component_styles("filter-view--label").color)
        ok = fm.label == fm.predicted
        verdict = self._styles.get(
            self.get_component_styles("filter-view--right" if ok else "filter-view--wrong").color,
            bold=True,
        )
        after = f"Conv2D+{fm.activation}" if fm.activation else "Conv2D"
        first = f"test image #{fm.sample} (n/N), a {fm.label}: predicted "
        return [
            *[(ch, label) for ch in first],
            *[(ch, verdict) for ch in fm.predicted],
            *[(ch, label) for ch in f" · the input, then its map o after {after}"],
        ]


def _fit(label: str, width: int) -> str:
    """A label cut to a picture's width; "input" shortens to "in", not "inpu"."""
    if len(label) <= width:
        return label
    return "in" if label == "input" else label[:width]


register(
    ViewDef(
        "filters",
        "filters and feature maps",
        FilterView,
        "filters",
        applies=lambda s: s.has(Conv2D),
        probe=lambda p: feature_maps(p.net, p.data, p.sample),
        record=FeatureMaps,
        network=True,
        keys_note="n/N: next test image",
        help="a CNN: the first convolution's filters and their maps of a test image",
    ),
)
