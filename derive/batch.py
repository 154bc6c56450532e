"""The mini-batch the optimiser's step trains on, when the derivation's samples are not it.

The chain rule is shown for one sample; the optimiser steps along the gradient of its whole
mini-batch: gₜ = (1/B) Σ_s ∂L_s/∂θ (+ the penalty's derivative). When the shown samples are that
batch, the derivation's own batch mean is gₜ. When they are not (the chosen sample lies in another
batch), gₜ is the engine's backward pass over the batch, in float64 from the network's weights and
the inputs as the network sees them, as ``derive.verify`` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from derive.layers.layer_tape import float64_twin
from engine.network import Sequential


@dataclass(frozen=True)
class BatchGradient:
    """The optimiser's gradient of one parameter over its mini-batch.

    Attributes:
        size: B, the samples in the batch.
        value: ∂(L̄ + R)/∂θ over them, as the engine's backward pass gives it.
        penalised: whether the penalty R reaches this parameter (a weight, with l1 or l2 on).
    """

    size: int
    value: float
    penalised: bool


def batch_gradient(
    net: Sequential, batch: tuple[Any, Any], loss: str, l1: float, l2: float, flat: int
) -> BatchGradient:
    """The engine's gradient of the parameter at ``flat`` over ``batch`` = (x, y)."""
    x, y = batch
    twin = float64_twin(net)
    X = np.asarray(net.as_input(x), dtype=np.float64)  # the numbers the network sees
    twin.loss_and_grad(X, y, loss, l1, l2)
    value = float(twin.backend.to_host(twin.grad)[flat])
    penalised = False
    if l1 or l2:
        twin.loss_and_grad(X, y, loss)
        penalised = float(twin.backend.to_host(twin.grad)[flat]) != value
    return BatchGradient(int(X.shape[0]), value, penalised)


Shown = tuple[Any, Any, int, "tuple[Any, Any] | None"]


def arrange(x: Any, y: Any, row: int, batch_x: Any, batch_y: Any, rows: np.ndarray) -> Shown:
    """``derive``'s x, y, sample and batch for training row ``row`` and the next step's ``rows``.

    When the row is in the batch, the derivation runs on the batch and shows the row's term as
    one of its B; otherwise on the row alone, its update stepping along the batch's gradient.
    """
    where = np.flatnonzero(np.asarray(rows) == row)
    if where.size:
        return batch_x, batch_y, int(where[0]), None
    return x, y, 0, (batch_x, batch_y)
