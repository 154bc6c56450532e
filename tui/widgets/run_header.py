"""The header: what is being trained, and how far it has got."""

from __future__ import annotations

from tui.drawing import number
from tui.records import Snapshot
from tui.widgets.text_lines import TextLines

STATES = {
    "training": ("▶ training", "bold green"),
    "paused": ("❚❚ paused", "bold yellow"),
    "diverged": ("✗ diverged", "bold red"),
    "stopped": ("■ stopped", "bold yellow"),
}


def describe(snapshot: Snapshot) -> str:
    """``spiral · 2-8-8-1 tanh · bce_logits · adam lr 0.01 · batch 10``."""
    exp = snapshot.scene.experiment
    shape = "-".join(str(w) for w in snapshot.scene.widths)
    activation = exp.model.activation if exp.model.hidden else "linear"
    return (
        f"{exp.data.name} · {shape} {activation} · {exp.train.loss} · "
        f"{exp.train.optimizer} lr {number(snapshot.lr)} · batch {exp.train.batch_size}"
    )


def speed(steps_per_s: float) -> str:
    """``21.3k steps/s``."""
    if steps_per_s >= 1000:
        return f"{steps_per_s / 1000:.1f}k steps/s"
    return f"{steps_per_s:.0f} steps/s"


class RunHeader(TextLines):
    """Two lines: the experiment; then state, epoch, step and speed."""

    def show(self, snapshot: Snapshot) -> None:
        """Writes the header for ``snapshot``."""
        label, style = STATES.get(snapshot.state, STATES["paused"])
        progress = f"   epoch {snapshot.epoch:,}   step {snapshot.step:,}"
        if snapshot.speed > 0:
            progress += f"   {speed(snapshot.speed)}"
        self.show_lines([[(describe(snapshot), "bold")], [(label, style), (progress, "")]])

    def starting(self, summary: str) -> None:
        """What the header says before the first snapshot."""
        self.show_lines([[(summary, "bold")], [("starting…", "dim")]])
