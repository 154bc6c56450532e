"""A network with two parameters, w and b: its loss over the plane of (w, b), and the paths taken.

The data loss at every point of a grid of (w, b) is shaded in bands, darker where it is low, so
the bands read as contour lines around the minimum. Over them, the path the optimiser has taken
this run (``•``, ``●`` where it is now, ``○`` where it began), and the paths of up to four earlier
runs on the same data (``·``, each in its own colour, named in the legend by optimiser and
learning rate), so SGD, momentum, RMSprop and Adam can be compared on one map. A one-unit
network on one input has exactly these two parameters: ``model.hidden = []`` on ``sine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.style import Style
from textual.color import Color
from textual.strip import Strip

from tui.drawing import StyleCache, levels, number, ramp, segments_mask, strip_from_cells
from tui.messages import Requested
from tui.session.probes_learn import Surface, measured_by, surface, two_params
from tui.session.records import Scene, Snapshot
from tui.session.views import ViewDef, register
from tui.widgets.canvas import Canvas

Cells = list[tuple[str, Style]]
BANDS = 9  # shades of the loss, low to high
EARLIER = 4  # earlier runs' paths kept
MARGIN = 7  # columns left of the map, for the values of b
LINES_FROM = 12  # map rows from which level lines are drawn over the shading
PATHS = ("landscape--a", "landscape--b", "landscape--c", "landscape--d", "landscape--e")


@dataclass(frozen=True)
class Trace:
    """An earlier run's path, with what names it in the legend."""

    label: str
    path: np.ndarray


class LandscapeView(Canvas):
    """Shaded loss over (w, b), with this run's path and earlier runs' paths."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "landscape--low",
        "landscape--high",
        "landscape--label",
        *PATHS,
    }
    DEFAULT_CSS = """
    LandscapeView > .landscape--low { color: $background; }
    LandscapeView > .landscape--high { color: #8a6a3a; }
    LandscapeView > .landscape--label { color: $text-muted; }
    LandscapeView > .landscape--a { color: #ffffff; }
    LandscapeView > .landscape--b { color: #5cb8ff; }
    LandscapeView > .landscape--c { color: #ff7b7b; }
    LandscapeView > .landscape--d { color: #7bff9b; }
    LandscapeView > .landscape--e { color: #e0a0ff; }
    LandscapeView:light > .landscape--low { color: #ffffff; }
    LandscapeView:light > .landscape--high { color: #c8a878; }
    LandscapeView:light > .landscape--a { color: #000000; }
    LandscapeView:light > .landscape--b { color: #0050a0; }
    LandscapeView:light > .landscape--c { color: #b00000; }
    LandscapeView:light > .landscape--d { color: #007020; }
    LandscapeView:light > .landscape--e { color: #702090; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None
        self.surface: Surface | None = None
        self.earlier: list[Trace] = []
        self._label = ""  # the current run's label, as the loss plot has it
        self._styles = StyleCache()

    def show(self, scene: Scene, measured: Surface | None) -> None:
        """Draws the newest surface; a new scene files the last run's path with the earlier ones.

        Paths are named as the loss plot names runs (the snapshot's run labels), and forgotten
        when the loss plot's comparison is cleared.
        """
        snap = self._snapshot()
        if scene is not self.scene:
            ended = snap.runs[-1].label if snap is not None and snap.runs else ""
            self._file(scene, ended)
            self.scene = scene
        if snap is not None:
            if not snap.runs and self.earlier:
                self.earlier = []
            self._label = snap.run_label or self._label
        if measured is not None:
            self.surface = measured
        self.redraw()

    def on_resize(self) -> None:
        super().on_resize()
        self._ask_for_grid()

    def on_show(self) -> None:
        self._ask_for_grid()

    def _ask_for_grid(self) -> None:
        """The surface is measured at one point per cell of the map."""
        cols, rows = self._map_size(self.size.width, self.size.height)
        if cols > 1 and rows > 1:
            self.post_message(Requested(lambda session: session.set_grid(cols, rows)))

    @staticmethod
    def _map_size(width: int, height: int) -> tuple[int, int]:
        """Cells of the map: the panel less the b labels, the title, w labels and legend."""
        return width - MARGIN, height - 3

    def _snapshot(self) -> Snapshot | None:
        """The main screen's latest snapshot, when this view is on it."""
        try:
            snap = getattr(self.screen, "snapshot", None)
        except Exception:  # not on a screen (yet)
            return None
        return snap if isinstance(snap, Snapshot) else None

    def _file(self, scene: Scene, label: str) -> None:
        """Keeps the finished run's path (when it moved), forgetting all on other data."""
        old, last = self.scene, self.surface
        self._label = ""
        if old is None or last is None:
            return
        same = old.experiment.data == scene.experiment.data and old.param_names == scene.param_names
        if not same:
            self.earlier, self.surface = [], None
            return
        if len(last.path) > 1:
            self.earlier = [*self.earlier, Trace(label or run_name(old), last.path)]
            self.earlier = self.earlier[-EARLIER:]
        self.surface = None

    def clear_earlier(self) -> None:
        """Forgets the earlier runs' paths."""
        self.earlier = []
        self.redraw()

    # ------------------------------------------------------------------ drawing
    def draw(self, width: int, height: int) -> list[Strip]:
        s = self.surface
        if s is None or width < 16 or height < 5:
            return [Strip.blank(width)] * height
        label = self._styles.get(self.get_component_styles("landscape--label").color)
        ys = [number(float(v), 2) for v in (s.ys[-1], 0.5 * (s.ys[0] + s.ys[-1]), s.ys[0])]
        margin = MARGIN
        cols, rows = self._map_size(width, height)
        shade, edge = self._shade(s, cols, rows)
        ink = self.get_component_styles("landscape--label").color
        lines_drawn = rows >= LINES_FROM
        glyphs = self._paths(s, cols, rows)
        lines: list[Cells] = [[(ch, label) for ch in self._title(s, width)]]
        for r in range(rows):
            tag = ys[0] if r == 0 else ys[1] if r == rows // 2 else ys[2] if r == rows - 1 else ""
            line: Cells = [(ch, label) for ch in tag[: margin - 1].rjust(margin - 1) + " "]
            for c in range(cols):
                bg = shade[r][c]
                line_dot = ("·", ink, False) if lines_drawn and edge[r, c] else (" ", None, False)
                glyph, fg, bold = glyphs.get((r, c), line_dot)
                line.append((glyph, self._styles.get(fg, bg, bold)))
            lines.append(line)
        left, mid, right = (number(float(v), 2) for v in (s.xs[0], s.xs[len(s.xs) // 2], s.xs[-1]))
        axis = left + mid.center(max(cols - len(left) - len(right), 0)) + right
        lines.append([(ch, label) for ch in " " * margin + axis])
        lines.append(self._legend(s))
        strips = [strip_from_cells(line).crop_extend(0, width, None) for line in lines[:height]]
        return strips + [Strip.blank(width)] * (height - len(strips))

    def _title(self, s: Surface, width: int) -> str:
        """What the map shows and the loss now, as much as fits."""
        w, b = s.names
        now = number(s.current, 3)
        for text in (
            f"loss over {w} (→), {b} (↑) · now {now} · dark: low",
            f"loss over {w} →, {b} ↑ · now {now}",
            f"loss now {now} · w →, b ↑",
        ):
            if len(text) <= width:
                return text
        return f"loss {now}"

    def _shade(self, s: Surface, cols: int, rows: int) -> tuple[list[list[Color]], np.ndarray]:
        """Each cell's shade: the loss at its centre, in bands of equal steps of √(L − min L);
        and
        where a band meets the next (a level line, drawn as a faint dot)."""
        palette = ramp(
            self.get_component_styles("landscape--low").color,
            self.get_component_styles("landscape--high").color,
            BANDS - 1,
        )
        r_idx = ((rows - 1 - np.arange(rows)) * len(s.ys) // rows)[:, None]  # top row: high b
        c_idx = (np.arange(cols) * len(s.xs) // cols)[None, :]
        loss = s.loss[r_idx, c_idx]
        finite = loss[np.isfinite(loss)]
        low = float(finite.min()) if finite.size else 0.0
        z = np.sqrt(np.maximum(loss - low, 0.0))  # a bowl's rings come out evenly spaced
        top = float(np.max(z[np.isfinite(z)])) if finite.size else 1.0
        lo, hi = 0.0, top
        index = levels(z, lo, hi, BANDS)
        edge = np.zeros(index.shape, dtype=bool)  # a level line: the band changes here
        edge[:, :-1] |= index[:, :-1] != index[:, 1:]
        edge[:-1, :] |= index[:-1, :] != index[1:, :]
        return [[palette[int(i)] for i in row] for row in index], edge

    def _cell(self, s: Surface, path: np.ndarray, cols: int, rows: int) -> tuple[np.ndarray, ...]:
        """Cell coordinates (x to the right, y down, fractional) of a path's points."""
        x0, x1, y0, y1 = float(s.xs[0]), float(s.xs[-1]), float(s.ys[0]), float(s.ys[-1])
        cx = (path[:, 0] - x0) / ((x1 - x0) or 1.0) * cols
        cy = (y1 - path[:, 1]) / ((y1 - y0) or 1.0) * rows
        return cx, cy

    def _paths(
        self, s: Surface, cols: int, rows: int
    ) -> dict[tuple[int, int], tuple[str, Color, bool]]:
        """(row, col) → glyph, colour and weight of every path cell, this run's drawn last."""
        out: dict[tuple[int, int], tuple[str, Color, bool]] = {}
        traces = [(t.path, "·", PATHS[1 + k]) for k, t in enumerate(self.earlier)]
        traces.append((s.path, "•", PATHS[0]))
        for path, glyph, part in traces:
            if not len(path):
                continue
            colour = self.get_component_styles(part).color
            cx, cy = self._cell(s, path, cols, rows)
            if len(path) > 1:
                _, px, py = segments_mask(cx[:-1], cy[:-1], cx[1:], cy[1:], cols, rows)
                for x, y in zip(px.tolist(), py.tolist()):
                    out[(y, x)] = (glyph, colour, False)
            ends = (("○", 0), ("●", len(path) - 1)) if part == PATHS[0] else (("●", len(path) - 1),)
            for mark, k in ends:
                x, y = int(np.floor(cx[k])), int(np.floor(cy[k]))
                if 0 <= x < cols and 0 <= y < rows:
                    out[(y, x)] = (mark if part == PATHS[0] else "◆", colour, True)
        return out

    def _legend(self, s: Surface) -> Cells:
        label = self._styles.get(self.get_component_styles("landscape--label").color)
        name = self._label or (run_name(self.scene) if self.scene is not None else s.optimizer)
        pieces = [(f"○→● {name} (now)", PATHS[0])]
        pieces += [(f"◆ {t.label}", PATHS[1 + k]) for k, t in enumerate(self.earlier)]
        cells: Cells = []
        for text, part in pieces:
            style = self._styles.get(self.get_component_styles(part).color, bold=True)
            cells += [(ch, style) for ch in text] + [(ch, label) for ch in "  "]
        return cells


def run_name(scene: Scene) -> str:
    """A run's optimiser and its settings, ``"sgd lr 0.05 momentum 0.9"``."""
    t = scene.experiment.train
    momentum = f" momentum {t.momentum:g}" if t.momentum and t.optimizer == "sgd" else ""
    return f"{t.optimizer} lr {t.lr:g}{momentum}"


register(
    ViewDef(
        "landscape",
        "loss surface over (w, b) · optimiser paths",
        LandscapeView,
        "landscape",
        applies=lambda s: two_params(s.net) is not None,
        probe=measured_by(lambda p: surface(p.scene, p.net, p.trainer, size=p.grid)),
        record=Surface,
        help="two parameters: the loss over (w, b) with this run's path and earlier runs' paths",
        extra=True,
    ),
)
