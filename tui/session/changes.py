"""What a change of experiment or learning rate takes: pure functions, shared by the screens."""

from __future__ import annotations

from engine.experiment.config import Experiment

LR_LADDER = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
"""The learning rates ``+`` and ``-`` step through (TensorFlow Playground's 1-3-10 ladder)."""


def next_lr(lr: float, direction: int) -> float:
    """The next learning rate of ``LR_LADDER`` above (direction > 0) or below ``lr``."""
    if direction > 0:
        higher = [v for v in LR_LADDER if v > lr * (1 + 1e-9)]
        return higher[0] if higher else LR_LADDER[-1]
    lower = [v for v in LR_LADDER if v < lr * (1 - 1e-9)]
    return lower[-1] if lower else LR_LADDER[0]


def change_kind(old: Experiment, new: Experiment) -> str:
    """What applying ``new`` over ``old`` takes.

    Returns:
        "none" (nothing changed), "live" (only the learning rate or the number of epochs: set
        while training), "keep" (same data and network: the weights stay, the trainer and
        optimiser start again) or "new" (the network must be built again, with new weights).
    """
    a, b = old.to_dict(), new.to_dict()
    if a == b:
        return "none"
    for live in ("lr", "epochs"):
        a["train"].pop(live), b["train"].pop(live)
    if a == b:
        return "live"
    if a["data"] != b["data"] or a["model"] != b["model"]:
        return "new"
    resolves = (old.train.loss == "bce") == (new.train.loss == "bce")  # the "auto" output layer
    return "keep" if resolves else "new"
