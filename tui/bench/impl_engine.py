"""One training step of dltui's engine, as the trainer takes it."""

from __future__ import annotations

import numpy as np

from engine import Dense, Sequential, optim
from tui.bench.workloads import Step


def make_step(
    net: Sequential, x: np.ndarray, y: np.ndarray, loss: str, optimizer: str, lr: float
) -> Step:
    """A function that trains ``net`` one step on the batch (x, y) and returns the loss.

    The batch is put where the network lives once; each call is what ``Trainer`` does per
    mini-batch: forward, loss, backward (``_loss_and_grad``), then the optimiser's update (taken
    in the same call by a split fused step, as there).
    """
    opt = optim.create(optimizer, net, lr=lr)
    xb = net.as_input(x)
    yb = net.as_target(y, loss, x.shape[0])

    def step() -> float:
        value = net._loss_and_grad(xb, yb, loss, 0.0, 0.0, opt)
        if not net.last_updated:
            opt.step()
        return value

    return step


def dense_weights(net: Sequential) -> list[tuple[np.ndarray, np.ndarray]]:
    """Copies of (W, b) of every Dense layer, so the other implementations start from them."""
    return [
        (np.array(net.params[f"{i}.W"]), np.array(net.params[f"{i}.b"]))
        for i, layer in enumerate(net.layers)
        if isinstance(layer, Dense)
    ]
