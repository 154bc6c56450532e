"""One training step of dltui's engine, as the trainer takes it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine import Dense, ReLU, Sequential, Tanh, optim
from tui.bench.deep import DeepWorkload
from tui.bench.workloads import Workload

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}


def build_net(w: Workload | DeepWorkload, device: str = "cpu", seed: int = 0) -> Sequential:
    """The workload's network: for an MLP, Dense layers with the activation between them."""
    if isinstance(w, DeepWorkload):
        return w.engine_net(device, seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(w.layer_pairs()):
        layers.append(Dense(fan_in, fan_out))
        if i < len(w.widths) - 2:
            layers.append(ACTIVATIONS[w.activation]())
    return Sequential(layers, seed=seed, device=device)


def make_step(
    w: Workload | DeepWorkload, device: str = "cpu", net: Sequential | None = None
) -> Callable[[], float]:
    """A function that trains one step on the workload's batch and returns the loss.

    The batch is put where the network lives once; each call is what ``Trainer`` does per
    mini-batch: forward, loss, backward (``_loss_and_grad``), then the optimiser's update.
    """
    net = build_net(w, device) if net is None else net
    opt = optim.create(w.optimizer, net, lr=w.lr)
    x, y = w.batch_data()
    xb = net.as_input(x)
    yb = net.as_target(y, w.loss, x.shape[0])
    loss = w.loss

    def step() -> float:
        value = net._loss_and_grad(xb, yb, loss, 0.0, 0.0)
        opt.step()
        return value

    return step


def initial_weights(w: Workload, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The engine's initial (W, b) per layer, so the other implementations start from them."""
    net = build_net(w, "cpu", seed)
    return [
        (np.array(net.params[f"{i}.W"]), np.array(net.params[f"{i}.b"]))
        for i, layer in enumerate(net.layers)
        if isinstance(layer, Dense)
    ]
