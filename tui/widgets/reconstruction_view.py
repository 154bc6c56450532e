"""An autoencoder's work: test images above what it draws back from its narrow middle.

Each column is one test image (``n``/``N`` moves along the test set): the image, its
reconstruction below it, and the reconstruction's mean squared error. Early in training every
reconstruction is the same grey average; the digits' shapes come through as the code learns.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.style import Style
from textual.strip import Strip

from tui.drawing import StyleCache, half_blocks, levels, number, ramp, strip_from_cells
from tui.session.probes_nets import reconstructions
from tui.session.records import Reconstructions, Scene
from tui.session.views import ViewDef, register
from tui.widgets.canvas import Canvas

Cells = list[tuple[str, Style]]
LABEL_W = 6  # "input ", "recon "


class ReconstructionView(Canvas):
    """Test images and their reconstructions, in pairs, one above the other."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "reconstruction-view--high",
        "reconstruction-view--label",
    }
    DEFAULT_CSS = """
    ReconstructionView > .reconstruction-view--high { color: $foreground; }
    ReconstructionView > .reconstruction-view--label { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pairs: Reconstructions | None = None
        self._styles = StyleCache()

    def show(self, scene: Scene, pairs: Reconstructions | None) -> None:
        """Draws new reconstructions; None keeps the last ones."""
        if pairs is not None:
            self.pairs = pairs
            self.redraw()

    def draw(self, width: int, height: int) -> list[Strip]:
        pairs = self.pairs
        if pairs is None or width < LABEL_W + 4 or height < 3:
            return [Strip.blank(width)] * height
        label = self._styles.get(self.get_component_styles("reconstruction-view--label").color)
        blank = (" ", self._styles.get(None))
        cols = pairs.inputs.shape[2]
        step = 2 if cols > 16 else 1
        palette = ramp(
            self.background_colors[1], self.get_component_styles("reconstruction-view--high").color
        )
        pic_w = len(range(0, cols, step))
        per_band = max((width - LABEL_W + 1) // (pic_w + 1), 1)
        lines: list[Cells] = []
        head = (
            f"test #{pairs.first}… (n/N) · input over reconstruction · "
            f"MSE {number(mean_error(pairs), 3)}"
        )
        lines.append([(ch, label) for ch in head])
        for start in range(0, len(pairs.inputs), per_band):
            chosen = range(start, min(start + per_band, len(pairs.inputs)))
            band: list[Cells] = []
            for name, images in (("input", pairs.inputs), ("recon", pairs.outputs)):
                pictures = [
                    half_blocks(levels(images[i][::step, ::step], 0.0, 1.0, len(palette)),
                                palette, self._styles)
                    for i in chosen
                ]  # fmt: skip
                for r in range(len(pictures[0])):
                    text = name.ljust(LABEL_W) if r == 0 else " " * LABEL_W
                    line: Cells = [(ch, label) for ch in text]
                    for picture in pictures:
                        line += [*picture[r], blank]
                    band.append(line)
            errors = " " * LABEL_W + "".join(
                number(float(pairs.errors[i]), 2)[:pic_w].ljust(pic_w + 1) for i in chosen
            )
            band.append([(ch, label) for ch in errors])
            if len(lines) + len(band) > height and len(lines) > 1:
                break
            lines += band
        strips = [strip_from_cells(line).crop_extend(0, width, None) for line in lines[:height]]
        return strips + [Strip.blank(width)] * (height - len(strips))


def mean_error(pairs: Reconstructions) -> float:
    """The mean squared error over the images shown."""
    return float(np.mean(pairs.errors)) if len(pairs.errors) else float("nan")


register(
    ViewDef(
        "reconstruction",
        "inputs and reconstructions",
        ReconstructionView,
        "reconstruction",
        applies=lambda s: (
            s.experiment.model.kind == "autoencoder" and s.data.image_shape is not None
        ),
        probe=lambda p: reconstructions(p.net, p.data, p.sample),
        record=Reconstructions,
        network=True,
        keys_note="n/N: next test images",
        help="an autoencoder of images: test images above what it draws back",
    ),
)
