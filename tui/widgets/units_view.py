"""Each hidden unit's own picture of the plane, as TensorFlow Playground draws one per neuron.

A unit of a hidden layer computes a(w·x + b): over the plane that is one straight edge, soft
(sigmoid, tanh) or folded (ReLU). The view draws every hidden unit's output as a small heat map,
orange where it is low and blue where it is high, in the decision map's colours, and last the
output's map, so you can see the output combine the units' edges: two lines make XOR. Each map is
named by its unit, ``0.3`` for unit 3 of the Dense layer at position 0, whose weights are row 3
of ``0.W``.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from rich.style import Style
from textual.color import Color
from textual.strip import Strip

from tui.drawing import StyleCache, blend, half_blocks, levels, strip_from_cells
from tui.session.probes_learn import UnitMaps, measured_by, unit_maps, units_apply
from tui.session.records import Scene
from tui.session.views import ViewDef, register
from tui.widgets.canvas import Canvas
from tui.widgets.decision_map import HEAT, LEVELS

Cells = list[tuple[str, Style]]


class UnitsView(Canvas):
    """A small heat map per hidden unit, then the output's map."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "units-view--class0",
        "units-view--class1",
        "units-view--label",
    }
    DEFAULT_CSS = """
    UnitsView > .units-view--class0 { color: #f59322; }
    UnitsView > .units-view--class1 { color: #0877bd; }
    UnitsView > .units-view--label { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.maps: UnitMaps | None = None
        self._styles = StyleCache()

    def show(self, scene: Scene, maps: UnitMaps | None) -> None:
        """Draws new maps; None keeps the last ones."""
        if maps is not None:
            self.maps = maps
            self.redraw()

    def _palette(self) -> list[Color]:
        """The decision map's colours: orange (low) through the background to blue (high)."""
        neutral = self.background_colors[1]
        c0 = self.get_component_styles("units-view--class0").color
        c1 = self.get_component_styles("units-view--class1").color
        low = [blend(neutral, c0, HEAT * i / LEVELS) for i in range(LEVELS, 0, -1)]
        high = [blend(neutral, c1, HEAT * i / LEVELS) for i in range(1, LEVELS + 1)]
        return [*low, neutral, *high]

    @staticmethod
    def map_size(count: int, width: int, height: int) -> int:
        """The widest square map (cells) that lets ``count`` maps and their labels fit."""
        for size in range(24, 3, -1):
            per_line = max((width + 1) // (size + 1), 1)
            lines = math.ceil(count / per_line) * (math.ceil(size / 2) + 1)
            if 1 + lines <= height:
                return size
        return 4

    def draw(self, width: int, height: int) -> list[Strip]:
        um = self.maps
        if um is None or width < 10 or height < 3:
            return [Strip.blank(width)] * height
        label = self._styles.get(self.get_component_styles("units-view--label").color)
        blank = (" ", self._styles.get(None))
        palette = self._palette()
        pictures = [*um.scaled, um.output]
        names = [*um.names, "out"]
        size = self.map_size(len(pictures), width, height)
        pixels = np.arange(size) * um.output.shape[0] // size
        drawn = [
            half_blocks(
                levels(p[pixels][:, pixels], -1.0, 1.0, len(palette)), palette, self._styles
            )
            for p in pictures
        ]
        lines: list[Cells] = [[(ch, label) for ch in self._heading(width)]]
        per_line = max((width + 1) // (size + 1), 1)
        for start in range(0, len(drawn), per_line):
            group = drawn[start : start + per_line]
            text = "".join(n[:size].ljust(size + 1) for n in names[start : start + per_line])
            lines.append([(ch, label) for ch in text])
            for r in range(len(group[0])):
                line: Cells = []
                for picture in group:
                    line += [*picture[r], blank]
                lines.append(line)
        strips = [strip_from_cells(line).crop_extend(0, width, None) for line in lines[:height]]
        return strips + [Strip.blank(width)] * (height - len(strips))

    def _heading(self, width: int) -> str:
        """What the maps are, as much as fits: the unit's name, the activation, the colours."""
        assert self.maps is not None
        um = self.maps
        kinds = ", ".join(dict.fromkeys(um.activations))
        more = f" ({len(um.names)} of {um.hidden} shown)" if um.hidden > len(um.names) else ""
        for text in (
            f"i.j: unit j of layer i (row j of i.W), after {kinds}{more}; orange low, blue high",
            f"i.j: unit j of layer i, after {kinds}{more} · orange low, blue high",
            f"i.j: unit j of layer i{more} · orange low, blue high",
            f"i.j: unit j of layer i{more}",
        ):
            if len(text) <= width:
                return text
        return f"i.j: unit j of layer i · {len(um.names)}/{um.hidden}" if more else "i.j: unit j"


register(
    ViewDef(
        "units",
        "each hidden unit's map",
        UnitsView,
        "units",
        applies=lambda s: units_apply(
            s.net, s.data.n_features, s.plane, s.data.image_shape is not None
        ),
        probe=measured_by(lambda p: unit_maps(p.scene, p.net, p.trainer)),
        record=UnitMaps,
        help="2-D data: what each hidden unit computes over the plane, and the output's map",
        extra=True,
    ),
)
