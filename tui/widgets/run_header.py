"""The header: what is being trained, and how far it has got."""

from __future__ import annotations

from tui.describe import architecture
from tui.drawing import number
from tui.session.pace import pace_text
from tui.session.records import Scene, Snapshot
from tui.widgets.text_lines import TextLines

STATES = {
    "training": ("▶ training", "bold green"),
    "paused": ("❚❚ paused", "bold yellow"),
    "diverged": ("✗ diverged", "bold red"),
    "stopped": ("■ stopped", "bold yellow"),
    "finished": ("✓ finished", "bold green"),
}


def network_text(scene: Scene) -> str:
    """``2-8-8-1 tanh`` or ``2-17×16-1 tanh`` for a Dense stack; any other network in words.

    Other kinds say what their layers are (``tui.describe.architecture``): ``conv 3×3·16 → pool
    → … → 10, relu``, ``LSTM 32 → 1``, ``embed 32 + positions → 2 blocks (…) → 57``.
    """
    m, widths = scene.experiment.model, scene.widths
    if scene.mlp:
        activation = m.activation if m.hidden else "linear"
        inner = widths[1:-1]
        if len(inner) > 4 and len(set(inner)) == 1:
            return f"{widths[0]}-{len(inner)}×{inner[0]}-{widths[-1]} {activation}"
        return f"{'-'.join(str(w) for w in widths)} {activation}"
    return architecture(m, widths[-1] if widths else None)


def describe(snapshot: Snapshot) -> str:
    """``spiral · 2-8-8-1 tanh · bce_logits · adam lr 0.01 · batch 10``."""
    exp = snapshot.scene.experiment
    return (
        f"{exp.data.name} · {network_text(snapshot.scene)} · {exp.train.loss} · "
        f"{exp.train.optimizer} lr {number(snapshot.lr)} · batch {exp.train.batch_size}"
    )


def epoch_text(snapshot: Snapshot) -> str:
    """``epoch 7 of 40``; ``epoch 45, 40 set`` once trained on past the experiment's epochs."""
    epoch, epochs = snapshot.epoch, snapshot.epochs
    if epoch <= epochs:
        return f"epoch {epoch:,} of {epochs:,}"
    return f"epoch {epoch:,}, {epochs:,} set"


def speed(steps_per_s: float) -> str:
    """``21.3k steps/s``, ``600 steps/s``."""
    if steps_per_s >= 999.5:
        return f"{steps_per_s / 1000:.1f}k steps/s"
    shown = f"{steps_per_s:.0f}"
    return f"{shown} {'step' if shown == '1' else 'steps'}/s"


class RunHeader(TextLines):
    """Two lines: the experiment; then state, epoch, step, speed and pace."""

    def show(self, snapshot: Snapshot) -> None:
        """Writes the header for ``snapshot``."""
        label, style = STATES.get(snapshot.state, STATES["paused"])
        progress = f"   {epoch_text(snapshot)}   step {snapshot.step:,}"
        if snapshot.speed > 0:
            progress += f"   {speed(snapshot.speed)}"
        progress += f"   {pace_text(snapshot.pace)}"
        self.show_lines([[(describe(snapshot), "bold")], [(label, style), (progress, "")]])

    def starting(self, summary: str) -> None:
        """What the header says before the first snapshot."""
        self.show_lines([[(summary, "bold")], [("starting…", "dim")]])
