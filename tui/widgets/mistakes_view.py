"""The test images the network gets wrong, each labelled true → predicted.

How many of the test images are misclassified, and a few of them (``n``/``N`` to look from
another test image on): a digit classifier's mistakes are often ones a person would make too.
"""

from __future__ import annotations

from textual.strip import Strip

from tui.session.probes_learn import Mistakes, measured_by, mistakes
from tui.session.records import Scene
from tui.session.views import Subject, ViewDef, register
from tui.widgets.augment_view import ImageRows


class MistakesView(ImageRows):
    """Misclassified test images with their true and predicted classes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None
        self.found: Mistakes | None = None

    def show(self, scene: Scene, found: Mistakes | None) -> None:
        """Draws newly found mistakes; None keeps the last ones."""
        self.scene = scene
        if found is not None:
            self.found = found
            self.redraw()

    def _class(self, k: int) -> str:
        names = self.scene.data.class_names if self.scene is not None else None
        return names[k] if names is not None and 0 <= k < len(names) else str(k)

    def draw(self, width: int, height: int) -> list[Strip]:
        m = self.found
        if m is None or width < 10 or height < 3:
            return [Strip.blank(width)] * height
        share = f"{100 * m.wrong / max(m.checked, 1):.1f}%"
        lines = [
            self.text(f"{m.wrong} of {m.checked} test images wrong ({share}) · true→predicted")
        ]
        if not m.index:
            lines.append(self.text("none wrong: every test image is classified right"))
            return self.finish(lines, width, height)
        rows, cols = m.images.shape[1], m.images.shape[2]
        pic_w = cols
        per_line = max((width + 1) // (pic_w + 1), 1)
        scale = self.scale_for((rows, cols), min(len(m.index), per_line), width, 8)
        pictures = self.pictures(m.images, scale)
        labels = [
            self.text(f"{self._class(t)}→{self._class(p)}", "image-rows--wrong")
            for t, p in zip(m.true, m.predicted)
        ]
        fit = max((width + 1) // (len(pictures[0][0]) + 1), 1)
        for start in range(0, len(pictures), fit):
            block = self.row(pictures[start : start + fit], labels[start : start + fit], width)
            if len(lines) + len(block) > height:
                break
            lines += block
        lines.append(self.text(f"n/N: from another test image · first shown #{m.index[0]}"))
        return self.finish(lines, width, height)


def _applies(s: Subject) -> bool:
    return s.data.image_shape is not None and s.data.task != "regression" and not s.text


register(
    ViewDef(
        "mistakes",
        "misclassified test images",
        MistakesView,
        "mistakes",
        applies=_applies,
        probe=measured_by(lambda p: mistakes(p.scene, p.net, p.trainer, p.sample)),
        record=Mistakes,
        keys_note="n/N: from another test image",
        help="image classes: the test images the network gets wrong, true → predicted",
        extra=True,
    ),
)
