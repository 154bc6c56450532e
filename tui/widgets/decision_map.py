"""The input plane as a heat map of the network's predictions, with the data points over it.

The map covers the playground's plane [-6, 6]² for its 2-D sets, and the data's range with a
margin for any other set of two classes told apart by two inputs (XOR's four points): the grid
says which area it measured (``Grid.extent``) and the points are placed by the same area.

Each terminal cell shows two pixels (the upper half block ``▀`` in one colour on another), so a
map of 40 × 15 cells is a 40 × 30 picture. For classes the colour runs from orange (class 0)
through the background to blue (class 1) with the predicted probability, as in TensorFlow
Playground; for regression it follows the predicted value. Training points are drawn as ``●``,
test points (key ``t``) as ``○``, in the colour of their label.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.reactive import reactive
from textual.strip import Strip

from tui.drawing import UPPER_HALF, StyleCache, blend
from tui.messages import Requested
from tui.session.probes import grid_view, two_input_classes
from tui.session.records import Grid, Scene
from tui.session.views import Probe, ViewDef, ViewKey, register
from tui.widgets.canvas import Canvas

LEVELS = 12  # colour steps on each side of the neutral middle
HEAT = 0.75  # how far the heat goes toward the full class colour


class DecisionMap(Canvas):
    """Predictions over the input plane with the training (and test) points."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "decision-map--class0",
        "decision-map--class1",
        "decision-map--point0",
        "decision-map--point1",
    }
    DEFAULT_CSS = """
    DecisionMap > .decision-map--class0 { color: #f59322; }
    DecisionMap > .decision-map--class1 { color: #0877bd; }
    DecisionMap > .decision-map--point0 { color: #ffb35c; }
    DecisionMap > .decision-map--point1 { color: #5cb8ff; }
    DecisionMap:light > .decision-map--point0 { color: #b85c00; }
    DecisionMap:light > .decision-map--point1 { color: #004f8f; }
    """
    show_test: reactive[bool] = reactive(False)
    """Whether test points are drawn over the map."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None
        self.grid: Grid | None = None
        self._styles = StyleCache()
        self._palette: list[Color] = []
        self._palette_key: tuple | None = None
        self._pairs: list[Style] = []
        self._marks: dict[int, dict[int, tuple[str, Color]]] = {}
        self._marks_key: tuple | None = None
        self._scale = 1.0

    def show(self, scene: Scene, grid: Grid | None) -> None:
        """Draws a new grid (or keeps the last one when ``grid`` is None) for ``scene``."""
        if scene is not self.scene:
            self.scene = scene
            self._scale = _value_scale(scene)
        if grid is not None:
            self.grid = grid
        self.redraw()

    def on_resize(self) -> None:
        self._ask_for_grid()

    def on_show(self) -> None:
        self._ask_for_grid()

    def _ask_for_grid(self) -> None:
        """The grid is measured at the map's resolution: a pixel per half cell."""
        width, height = self.size.width, self.size.height * 2
        if width and height:
            self.post_message(Requested(lambda session: session.set_grid(width, height)))

    def watch_show_test(self) -> None:
        self.redraw()

    def action_toggle_test(self) -> None:
        """Shows the test points, or hides them."""
        self.show_test = not self.show_test

    # ------------------------------------------------------------------ drawing
    def _levels(self, width: int, height: int) -> np.ndarray:
        """Colour level of every pixel, -LEVELS (class 0) … +LEVELS (class 1), 0 neutral."""
        assert self.grid is not None
        values = self.grid.values
        rows = (np.arange(height) * values.shape[0] // height)[:, None]
        cols = (np.arange(width) * values.shape[1] // width)[None, :]
        v = values[rows, cols].astype(np.float64)
        t = v / self._scale if self.grid.regression else 2.0 * v - 1.0
        t = np.nan_to_num(np.clip(t, -1.0, 1.0), nan=0.0)
        return np.rint(t * LEVELS).astype(np.int64)

    def _make_palette(self) -> None:
        """Colours of the levels, and a style for every (upper, lower) pair, per theme."""
        neutral = self.background_colors[1]
        c0 = self.get_component_styles("decision-map--class0").color
        c1 = self.get_component_styles("decision-map--class1").color
        key = (neutral, c0, c1)
        if key == self._palette_key:
            return
        low = [blend(neutral, c0, HEAT * i / LEVELS) for i in range(LEVELS, 0, -1)]
        high = [blend(neutral, c1, HEAT * i / LEVELS) for i in range(1, LEVELS + 1)]
        self._palette = [*low, neutral, *high]
        self._pairs = [self._styles.get(a, b) for a in self._palette for b in self._palette]
        self._palette_key = key

    def draw(self, width: int, height: int) -> list[Strip]:
        if self.grid is None or self.scene is None or width < 1 or height < 1:
            return [Strip.blank(width)] * height
        self._make_palette()
        levels = self._levels(width, height * 2) + LEVELS
        codes = levels[0::2] * len(self._palette) + levels[1::2]
        marks = self._points(width, height)
        return [
            self._row(r, codes[r], levels[2 * r], marks.get(r, {}), width) for r in range(height)
        ]

    def _row(self, y: int, codes: np.ndarray, top: np.ndarray, marks: dict, width: int) -> Strip:
        """Line ``y``: runs of equal colour pairs as single segments, the points between them;
        kept while its colours (under the points too) and the points' layout are the same."""
        shows = (self._palette_key, self._marks_key, codes.tobytes())
        return self.kept(y, shows, lambda: self._runs(codes, top, marks, width))

    def _runs(self, codes: np.ndarray, top: np.ndarray, marks: dict, width: int) -> Strip:
        key = codes.copy()
        for c in marks:
            key[c] = -1 - c
        starts = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1])
        ends = np.concatenate([starts[1:], [width]])
        segments = []
        for a, b in zip(starts.tolist(), ends.tolist()):
            if key[a] >= 0:
                segments.append(Segment(UPPER_HALF * (b - a), self._pairs[key[a]]))
            else:
                glyph, colour = marks[a]
                style = self._styles.get(colour, self._palette[top[a]], bold=True)
                segments.append(Segment(glyph, style))
        return Strip(segments, width)

    def _points(self, width: int, height: int) -> dict[int, dict[int, tuple[str, Color]]]:
        """Row → column → (glyph, colour) of the data points; training points over test points.

        The points do not move: the layout is kept until the size, the scene, the theme or the
        test-point switch changes.
        """
        assert self.scene is not None and self.grid is not None
        extent = self.grid.extent
        key = (
            extent,
            self.scene.generation,
            id(self.scene),
            width,
            height,
            self.show_test,
            self._palette_key,
        )
        if key == self._marks_key:
            return self._marks
        data = self.scene.data
        train, test = self.scene.plane or (data.X_train[:, :2], data.X_test[:, :2])
        x0, x1, y0, y1 = extent
        marks: dict[int, dict[int, tuple[str, Color]]] = {}
        sets = [(train, data.y_train, "●")]
        if self.show_test:
            sets.insert(0, (test, data.y_test, "○"))
        for X, y, glyph in sets:
            cols = np.floor((X[:, 0] - x0) / (x1 - x0) * width).astype(np.int64)
            rows = np.floor((y1 - X[:, 1]) / (y1 - y0) * height).astype(np.int64)
            ok = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
            colours = self._point_colours(np.asarray(y).reshape(len(X), -1)[:, 0])
            for i in np.flatnonzero(ok):
                marks.setdefault(int(rows[i]), {})[int(cols[i])] = (glyph, colours[i])
        self._marks, self._marks_key = marks, key
        return marks

    def _point_colours(self, y: np.ndarray) -> list[Color]:
        p0 = self.get_component_styles("decision-map--point0").color
        p1 = self.get_component_styles("decision-map--point1").color
        if self.grid is not None and self.grid.regression:
            t = np.rint(np.clip(y / self._scale, -1.0, 1.0) * LEVELS) / LEVELS
            neutral = self.background_colors[1]
            return [blend(neutral, p1 if v > 0 else p0, 0.35 + 0.65 * abs(v)) for v in t]
        return [p1 if v > 0.5 else p0 for v in y]


def _value_scale(scene: Scene) -> float:
    """The largest target size of a regression set, so the colours span its values."""
    y = np.abs(np.asarray(scene.data.y_train, dtype=np.float64))
    top = float(np.max(y)) if y.size else 1.0
    return top if top > 0 else 1.0


TEST_POINTS = ViewKey(
    "t",
    "toggle_test",
    does="shows the test points on a 2-D map",
    missing="this picture has none",
    help="show the test points on the map",
)


def _grid(probe: Probe) -> Grid:
    return grid_view(probe.scene, probe.net, probe.trainer, *probe.grid)


register(
    ViewDef(
        "boundary",
        "decision boundary · ● train  ○ test (t)",
        DecisionMap,
        "boundary",
        applies=lambda s: not s.regression and (s.plane or two_input_classes(s.data)),
        probe=_grid,
        record=Grid,
        keys_note="t: test points",
        keys=(TEST_POINTS,),
        help="the predicted class over the plane, orange to blue, with the data points",
    ),
    ViewDef(
        "surface",
        "predicted surface · ● train  ○ test (t)",
        DecisionMap,
        "boundary",
        applies=lambda s: s.plane and s.regression,
        probe=_grid,
        record=Grid,
        keys_note="t: test points",
        keys=(TEST_POINTS,),
        help="the predicted value over the plane, with the data points",
    ),
)
