"""Loss functions by name, with what the rest of the engine needs to know about each.

The arithmetic lives in the kernels (``engine.kernels.cpu.core``); this module says what each loss
expects and how a prediction turns into a class, so the trainer can report accuracy.
Reductions are PyTorch's: the mean over every element (over samples for cross-entropy).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import UserError


@dataclass(frozen=True)
class LossInfo:
    """What a loss is.

    Attributes:
        name: the name used in configs and the API.
        formula: the per-sample loss, in the notation ``derive`` prints.
        output: what the network's last layer gives it: "logits", "probabilities", "values"
            or "steps" (0 or 1, from a Heaviside unit).
        threshold: for one-output classification, the output value that separates 0 from 1.
        classification: whether accuracy is meaningful.
        delta: Huber's δ (PyTorch's default 1.0).
    """

    name: str
    formula: str
    output: str
    threshold: float = 0.5
    classification: bool = False
    delta: float = 1.0


LOSSES: dict[str, LossInfo] = {
    "mse": LossInfo("mse", "L = (ŷ − y)²", "values"),
    "huber": LossInfo("huber", "L = ½(ŷ − y)² if |ŷ − y| ≤ δ else δ(|ŷ − y| − ½δ)", "values"),
    "bce": LossInfo(
        "bce", "L = −[y log ŷ + (1 − y) log(1 − ŷ)]", "probabilities", 0.5, classification=True
    ),
    "bce_logits": LossInfo(
        "bce_logits",
        "L = −[y log σ(z) + (1 − y) log(1 − σ(z))]",
        "logits",
        0.0,
        classification=True,
    ),
    "cross_entropy": LossInfo(
        "cross_entropy", "L = −log softmax(z)_y", "logits", 0.0, classification=True
    ),
    "perceptron": LossInfo(
        "perceptron", "L = [ŷ ≠ y];  ∂L/∂z = ŷ − y", "steps", 0.5, classification=True
    ),
}
"""``perceptron`` is Rosenblatt's rule as a loss, for a network ending in a step unit (``output =
"step"``): its value is the share of outputs misclassified, and the gradient it sends back is
(ŷ − y) per output (over the batch's mean, like every loss here), passed straight through the step
to its input z. With SGD, batch size 1 and learning rate 1, one update is exactly the perceptron
rule w ← w + (y − ŷ)·x, b ← b + (y − ŷ)."""

STRAIGHT_THROUGH = ("perceptron",)
"""The losses whose gradient is taken with respect to the last layer's input (a step unit, which
has no gradient of its own): backpropagation starts below that layer."""


def check_loss(name: str) -> LossInfo:
    """The loss called ``name``, or a UserError listing the valid names."""
    try:
        return LOSSES[name]
    except KeyError:
        raise UserError(f"unknown loss {name!r}", f"choose one of: {', '.join(LOSSES)}") from None
