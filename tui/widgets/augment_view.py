"""Augmentation at work: a few training images above what augmentation makes of them.

Training never sees the same picture twice when augmentation is on: each batch is shifted by a
pixel or two, mirrored or speckled with noise before the step. The view draws a few training
images (``n``/``N`` to choose) in grey, and below each an augmented copy drawn afresh at every
measurement with the run's settings (a twin of the run's augmentation; the data and training's
own random draws are left alone).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.style import Style
from textual.strip import Strip

from tui.drawing import StyleCache, half_blocks, levels, ramp, strip_from_cells
from tui.session.probes_learn import Augmented, augmented, measured_by
from tui.session.records import Scene
from tui.session.views import Subject, ViewDef, register
from tui.widgets.canvas import Canvas

Cells = list[tuple[str, Style]]


class ImageRows(Canvas):
    """Greyscale images side by side with a label above each; the base of the image views."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "image-rows--ink",
        "image-rows--paper",
        "image-rows--label",
        "image-rows--wrong",
    }
    DEFAULT_CSS = """
    ImageRows > .image-rows--ink { color: #ffffff; }
    ImageRows > .image-rows--paper { color: #000000; }
    ImageRows > .image-rows--label { color: $text-muted; }
    ImageRows > .image-rows--wrong { color: $error; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._styles = StyleCache()

    def label_style(self, part: str = "image-rows--label", bold: bool = False) -> Style:
        return self._styles.get(self.get_component_styles(part).color, bold=bold)

    def text(self, words: str, part: str = "image-rows--label") -> Cells:
        style = self.label_style(part)
        return [(ch, style) for ch in words]

    def pictures(self, images: np.ndarray, scale: int) -> list[list[Cells]]:
        """Each (rows, cols) image in [0, 1] as half blocks, ``scale`` pixels per value."""
        palette = ramp(
            self.get_component_styles("image-rows--paper").color,
            self.get_component_styles("image-rows--ink").color,
            16,
        )
        out = []
        for image in images:
            index = levels(np.clip(image, 0.0, 1.0), 0.0, 1.0, len(palette))
            pixels = np.repeat(np.repeat(index, scale, axis=0), scale, axis=1)
            out.append(half_blocks(pixels, palette, self._styles))
        return out

    @staticmethod
    def scale_for(shape: tuple[int, int], count: int, width: int, lines: int) -> int:
        """The largest scale (1–3) at which ``count`` images fit ``width`` and ``lines``."""
        rows, cols = shape
        for scale in (3, 2):
            fits_w = count * (cols * scale + 1) <= width
            if fits_w and (rows * scale + 1) // 2 <= lines:
                return scale
        return 1

    def row(self, pictures: list[list[Cells]], labels: list[Cells], width: int) -> list[Cells]:
        """Pictures side by side, as many as fit ``width``, each under its label."""
        if not pictures:
            return []
        blank = (" ", self._styles.get(None))
        pic_w = len(pictures[0][0])
        fit = max((width + 1) // (pic_w + 1), 1)
        lines: list[Cells] = []
        head: Cells = []
        for lab in labels[:fit]:
            head += [*(lab + [blank] * pic_w)[:pic_w], blank]
        lines.append(head)
        for r in range(len(pictures[0])):
            line: Cells = []
            for picture in pictures[:fit]:
                line += [*picture[r], blank]
            lines.append(line)
        return lines

    def finish(self, lines: list[Cells], width: int, height: int) -> list[Strip]:
        strips = [strip_from_cells(line).crop_extend(0, width, None) for line in lines[:height]]
        return strips + [Strip.blank(width)] * (height - len(strips))


class AugmentView(ImageRows):
    """Training images, and below them one augmented copy of each."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.images: Augmented | None = None

    def show(self, scene: Scene, images: Augmented | None) -> None:
        """Draws new copies; None keeps the last ones."""
        if images is not None:
            self.images = images
            self.redraw()

    def draw(self, width: int, height: int) -> list[Strip]:
        a = self.images
        if a is None or width < 10 or height < 4:
            return [Strip.blank(width)] * height
        count = len(a.originals)
        shape = (a.originals.shape[1], a.originals.shape[2])
        scale = self.scale_for(shape, count, width, (height - 3) // 2 - 1)
        head = f"augmentation: {a.settings} · a fresh copy each time · n/N: others"
        if len(head) > width:
            head = f"{a.settings} · n/N: others"
        lines = [self.text(head)]
        names = [self.text(f"#{a.first + k}") for k in range(count)]
        originals = self.pictures(a.originals, scale)
        copies = self.pictures(a.augmented, scale)
        if 1 + 2 * (len(originals[0]) + 1) <= height:  # originals above, copies below
            lines += self.row(originals, names, width)
            lines += self.row(copies, [self.text("aug")] * count, width)
        else:  # too short for two rows: each image beside its copy
            pairs = [p for pair in zip(originals, copies) for p in pair]
            labels = [lab for name in names for lab in (name, self.text("aug"))]
            lines += self.row(pairs, labels, width)
        return self.finish(lines, width, height)


def _applies(s: Subject) -> bool:
    t = s.experiment.train
    on = bool(t.augment_shift or t.augment_flip or t.augment_noise)
    return on and s.data.image_shape is not None


register(
    ViewDef(
        "augment",
        "augmented training images",
        AugmentView,
        "augment",
        applies=_applies,
        probe=measured_by(lambda p: augmented(p.scene, p.trainer, p.sample)),
        record=Augmented,
        keys_note="n/N: other images",
        help="images with augmentation on: training images and an augmented copy of each",
        extra=True,
    ),
)
