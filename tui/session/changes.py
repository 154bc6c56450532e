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


SHORT_KEYS = {"batch_size": "batch", "optimizer": "optimizer", "activation": "activation"}
"""How a label names a config key, where its own name is long (``batch 32 → 1``)."""
SWITCHES = (
    "dropout",
    "momentum",
    "weight_decay",
    "l1",
    "l2",
    "clip_norm",
    "patience",
    "validation",
    "augment_shift",
    "augment_flip",
    "augment_noise",
    "init_from",
)
"""Keys whose zero (or absence) turns a feature off: labelled ``+ dropout 0.3`` / ``− dropout``."""
LABEL_CHARS = 40  # a label longer than this ends in "…"


def _flat(exp: Experiment) -> dict[str, object]:
    """The experiment's keys, sections flattened (data options under their own names)."""
    raw = exp.to_dict()
    flat: dict[str, object] = {}
    for section in ("data", "model", "train"):
        for key, value in raw.get(section, {}).items():
            flat["data" if (section, key) == ("data", "name") else key] = value
    return flat


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _change(key: str, old: object, new: object) -> str:
    name = SHORT_KEYS.get(key, key)
    off = (None, 0, 0.0, False, "")
    if key in SWITCHES and old in off:
        return f"+ {name}" if new is True else f"+ {name} {_value(new)}"
    if key in SWITCHES and new in off:
        return f"− {name}"
    return f"{name} {_value(old)} → {_value(new)}"


def change_label(old: Experiment, new: Experiment) -> str:
    """What changed from ``old`` to ``new``, as a run's label: ``lr 0.03 → 3``,
    ``+ dropout 0.3``, ``optimizer sgd → adam``, ``hidden [8, 8] → []``, several joined by ", ".

    A label that would run past ``LABEL_CHARS`` is cut and ends in "…"; no change at all gives
    "same".
    """
    a, b = _flat(old), _flat(new)
    parts = [_change(k, a.get(k), b.get(k)) for k in b if a.get(k) != b.get(k)]
    parts += [_change(k, a[k], None) for k in a if k not in b]
    text = ", ".join(parts) or "same"
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
