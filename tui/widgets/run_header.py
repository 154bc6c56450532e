"""The header: what is being trained, and how far it has got."""

from __future__ import annotations

from tui.describe import architecture
from tui.drawing import number
from tui.session.pace import pace_text
from tui.session.records import Scene, Snapshot
from tui.widgets.text_lines import TextLines

STATES = {
    "starting": ("◌ starting", "bold cyan"),  # until the first step (kernels may compile)
    "training": ("▶ training", "bold green"),
    "paused": ("❚❚ paused", "bold yellow"),
    "diverged": ("✗ diverged", "bold red"),
    "stopped": ("■ stopped", "bold yellow"),
    "finished": ("✓ finished", "bold green"),
}


def activations(scene: Scene) -> tuple[list[str], str]:
    """The activation after each hidden Dense layer and after the output one, as the built
    network has them (``"linear"`` for none), read from the layer rows, not the config."""
    acts = []
    for row in scene.rows:
        after = [p.lower() for p in row.label.split("·")[1:] if p != "Dropout"]
        acts.append(after[0] if after else "linear")
    return acts[:-1], acts[-1] if acts else "linear"


def network_text(scene: Scene) -> str:
    """``2-8-8-1 tanh`` or ``2-17×16-1 tanh`` for a Dense stack; any other network in words.

    A Dense stack's activations are the built network's: ``2-2-1 sigmoid`` when the hidden and
    output layers share one, ``2-8-1 tanh, sigmoid out`` when the output has its own,
    ``2-1 sigmoid`` for a single sigmoid unit, ``2-1 linear`` for none.
    Other kinds say what their layers are (``tui.describe.architecture``): ``conv 3×3·16 → pool
    → … → 10, relu``, ``LSTM 32 → 1``, ``embed 32 + positions → 2 blocks (…) → 57``.
    """
    m, widths = scene.experiment.model, scene.widths
    if scene.mlp:
        hidden, out = activations(scene)
        kinds = list(dict.fromkeys(hidden)) or [out]
        activation = "/".join(kinds)
        if hidden and out not in ("linear", *kinds):
            activation += f", {out} out"
        inner = widths[1:-1]
        if len(inner) > 4 and len(set(inner)) == 1:
            return f"{widths[0]}-{len(inner)}×{inner[0]}-{widths[-1]} {activation}"
        return f"{'-'.join(str(w) for w in widths)} {activation}"
    return architecture(m, widths[-1] if widths else None)


def settings(scene: Scene) -> list[tuple[int, str]]:
    """What else shapes training, each with its rank (higher: kept longer when space is short):
    the training set's size, then the settings not at their default."""
    exp, data = scene.experiment, scene.data
    t, m = exp.train, exp.model
    share = float(getattr(t, "validation", 0.0) or 0.0)
    val = getattr(data, "X_val", None)
    out = [(4, f"{len(data.X_train):,} train")]
    if share and val is not None:
        out.append((3, f"{len(val):,} val ({share:.0%})"))
    if t.momentum:
        out.append((6, f"momentum {t.momentum:g}"))
    if m.dropout:
        out.append((6, f"dropout {m.dropout:g}"))
    if m.init != "default":
        out.append((3, f"init {m.init}"))
    if t.clip_norm is not None:
        out.append((2, f"clip {t.clip_norm:g}"))
    if t.patience is not None:
        out.append((5, f"patience {t.patience}"))
    return out


def describe(snapshot: Snapshot, width: int = 0) -> str:
    """``spiral · 2-8-8-1 tanh · bce_logits · adam lr 0.01 · batch 10 · 500 train``, then the
    settings not at their default (``momentum 0.9 · init xavier`` …).

    With ``width``, the settings are taken most important first while they fit (their order
    kept); a line still too long is cut by the header, ending in "…".
    """
    scene = snapshot.scene
    exp = scene.experiment
    core = (
        f"{exp.data.name} · {network_text(scene)} · {exp.train.loss} · "
        f"{exp.train.optimizer} lr {number(snapshot.lr)} · batch {exp.train.batch_size}"
    )
    extra = settings(scene)
    if width:
        room, kept = width - len(core), set()
        for i in sorted(range(len(extra)), key=lambda i: -extra[i][0]):
            if len(extra[i][1]) + 3 <= room:
                kept.add(i)
                room -= len(extra[i][1]) + 3
        extra = [e for i, e in enumerate(extra) if i in kept]
    return " · ".join([core, *(text for _, text in extra)])


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
        line = describe(snapshot, self.size.width)
        self.show_lines([[(line, "bold")], [(label, style), (progress, "")]])

    def starting(self, summary: str) -> None:
        """What the header says before the first snapshot."""
        self.show_lines([[(summary, "bold")], [("starting…", "dim")]])
