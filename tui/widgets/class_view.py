"""Classes without a plane: the confusion matrix on the test set and a few test images.

Rows of the matrix are the true class, columns the predicted one, as its axis labels say; the
diagonal holds the correct answers. Where the data are images (digits, MNIST) the first test images
are drawn in half blocks of grey, each with the label the network gives it (green when right, red
when wrong).
"""

from __future__ import annotations

import textwrap
from typing import ClassVar

import numpy as np
from rich.style import Style
from textual.color import Color
from textual.strip import Strip

from tui.drawing import UPPER_HALF, StyleCache, blend, strip_from_cells
from tui.session.probes import classes_view
from tui.session.records import Classes, Scene
from tui.session.views import Subject, ViewDef, register
from tui.widgets.canvas import Canvas

Cells = list[tuple[str, Style]]
LEFT = 4  # columns before the matrix: the true classes, right-aligned


class ClassView(Canvas):
    """Confusion matrix, and test images with predicted labels when the data are images."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "class-view--cell",
        "class-view--right",
        "class-view--wrong",
    }
    DEFAULT_CSS = """
    ClassView > .class-view--cell { color: $foreground; }
    ClassView > .class-view--right { color: $success; }
    ClassView > .class-view--wrong { color: $error; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None
        self.prediction: Classes | None = None
        self._styles = StyleCache()

    def show(self, scene: Scene, prediction: Classes | None) -> None:
        """Draws new predictions; ``classes`` None keeps the last ones."""
        self.scene = scene
        if prediction is not None:
            self.prediction = prediction
        self.redraw()

    def draw(self, width: int, height: int) -> list[Strip]:
        if self.prediction is None or self.scene is None:
            return [Strip.blank(width)] * height
        matrix = self._matrix(width)
        used = len(matrix[0]) if matrix else 0
        images = self._images(width - used - 2, height) if self.scene.data.image_shape else []
        lines: list[Cells] = []
        for r in range(max(len(matrix), len(images))):
            left = matrix[r] if r < len(matrix) else [(" ", self._styles.get(None))] * used
            right = images[r] if r < len(images) else []
            lines.append([*left, ("  ", self._styles.get(None)), *right])
        return [strip_from_cells(line).crop(0, width) for line in lines[:height]]

    def _matrix(self, width: int) -> list[Cells]:
        """Axis labels, a column of classes per prediction, then one line per true class;
        numbers when they fit, else shaded blocks; the class names below when they are words."""
        assert self.prediction is not None and self.scene is not None
        m = self.prediction.confusion
        k = m.shape[0]
        totals = np.maximum(m.sum(axis=1, keepdims=True), 1)
        share = m / totals
        digits = max(len(str(int(m.max()))), 2)
        cell_w = digits + 1 if LEFT + k * (digits + 1) <= width else 2
        base = self.background_colors[1]
        right = self.get_component_styles("class-view--right").color
        wrong = self.get_component_styles("class-view--wrong").color
        ink = self.get_component_styles("class-view--cell").color
        text = self._styles.get(ink)
        axis = "true ↓ predicted →".ljust(LEFT + k * cell_w)
        columns = " " * LEFT + "".join(f"{j % 100}".rjust(cell_w) for j in range(k))
        lines = [[(ch, text) for ch in axis], [(ch, text) for ch in columns]]
        for i in range(k):
            cells: Cells = [(ch, text) for ch in f"{i % 100:>{LEFT - 1}} "]
            for j in range(k):
                tint = blend(base, right if i == j else wrong, float(share[i, j]))
                label = str(int(m[i, j])).rjust(cell_w) if cell_w > 2 else "  "
                cells += [(ch, self._styles.get(ink, tint)) for ch in label]
            lines.append(cells)
        names = self.scene.data.class_names
        if names and any(name != str(j) for j, name in enumerate(names)):
            legend = ", ".join(f"{j} {name}" for j, name in enumerate(names[:k]))
            for part in textwrap.wrap(legend, max(len(lines[0]), 12)):
                lines.append([(ch, text) for ch in part.ljust(len(lines[0]))])
        return lines

    def _images(self, width: int, height: int) -> list[Cells]:
        """Test images side by side, each above its predicted label."""
        assert self.scene is not None and self.prediction is not None
        data, predicted = self.scene.data, self.prediction.predicted
        rows, cols = data.image_shape or (0, 0)
        step = 2 if cols > 16 else 1
        img_w, img_h = len(range(0, cols, step)), (len(range(0, rows, step)) + 1) // 2
        per_row = max(min(len(predicted), (width + 1) // (img_w + 1)), 0)
        lines: list[Cells] = []
        for start in range(0, len(predicted), max(per_row, 1)):
            if per_row == 0 or len(lines) + img_h + 1 > height:
                break
            block = [
                self._image(i, step, img_h)
                for i in range(start, min(start + per_row, len(predicted)))
            ]
            for r in range(img_h + 1):
                line: Cells = []
                for picture in block:
                    line += picture[r] + [(" ", self._styles.get(None))]
                lines.append(line)
        return lines

    def _image(self, index: int, step: int, img_h: int) -> list[Cells]:
        assert self.scene is not None and self.prediction is not None
        data = self.scene.data
        rows, cols = data.image_shape or (0, 0)
        pixels = np.clip(data.X_test[index].reshape(rows, cols)[::step, ::step], 0.0, 1.0)
        if pixels.shape[0] % 2:
            pixels = np.vstack([pixels, np.zeros((1, pixels.shape[1]))])
        grey = [Color(int(255 * v), int(255 * v), int(255 * v)) for v in np.linspace(0, 1, 17)]
        levels = np.rint(pixels * 16).astype(np.int64)
        out: list[Cells] = []
        for r in range(img_h):
            top, bottom = levels[2 * r], levels[2 * r + 1]
            out.append(
                [(UPPER_HALF, self._styles.get(grey[t], grey[b])) for t, b in zip(top, bottom)]
            )
        truth = int(np.asarray(data.y_test).reshape(-1)[index])
        guess = int(self.prediction.predicted[index])
        names = data.class_names or tuple(str(i) for i in range(max(data.n_classes, 2)))
        ok = guess == truth
        colour = self.get_component_styles("class-view--right" if ok else "class-view--wrong").color
        label = (names[guess] if ok else f"{names[guess]}≠{names[truth]}")[: pixels.shape[1]]
        out.append(
            [(ch, self._styles.get(colour, bold=True)) for ch in label.center(pixels.shape[1])]
        )
        return out


def _classes(s: Subject) -> bool:
    """Classes without a plane, and not the next token of a text (the attention view's)."""
    return not s.plane and not s.regression and not s.text


register(
    ViewDef(
        "images",
        "confusion matrix · test images",
        ClassView,
        "classes",
        applies=lambda s: _classes(s) and s.data.image_shape is not None,
        probe=lambda p: classes_view(p.scene, p.net, p.trainer),
        record=Classes,
        keys_note="n/N: next test sample",
        help="images: the confusion matrix, and test images with the predicted labels",
    ),
    ViewDef(
        "confusion",
        "confusion matrix (test set)",
        ClassView,
        "classes",
        applies=lambda s: _classes(s) and s.data.image_shape is None,
        probe=lambda p: classes_view(p.scene, p.net, p.trainer),
        record=Classes,
        help="any other classes: the confusion matrix on the test set",
    ),
)
