"""Transfer learning: start from a trained network, freeze some layers, give it a new head.

    net = transfer.start_from("runs/digits-0-4/checkpoint.npz", new_out=5)  # new last layer
    transfer.freeze(net, [0, 2])       # layers 0 and 2 keep their weights while training
    # train on the new task: only the unfrozen layers move

Frozen parameters still take part in the forward and backward passes — the gradient must flow
through them to the layers below — but the optimiser leaves them as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engine.errors import UserError
from engine.layers.core import Dense
from engine.network import Sequential


def start_from(path: str | Path, new_out: int | None = None, seed: int = 0) -> Sequential:
    """A network loaded from ``path``; with ``new_out``, its last Dense layer is replaced by a
    fresh one with that many outputs (the "head"), the layers below keeping their weights."""
    net = Sequential.load(path)
    if new_out is None:
        return net
    last = max((i for i, layer in enumerate(net.layers) if isinstance(layer, Dense)), default=None)
    if last is None:
        raise UserError(
            f"{path}: the network has no Dense layer to replace", "set new_head = false"
        )
    layers = list(net.layers)
    head = layers[last]
    assert isinstance(head, Dense)
    layers[last] = Dense(head.in_features, new_out, init=head.init)
    fresh = Sequential(layers, seed=seed, dtype=net.dtype.name, input_shape=net.input_shape)
    for name, view in net.params.items():
        if not name.startswith(f"{last}."):
            fresh.params[name] = view
    fresh.state[...] = net.state
    return fresh


def freeze(net: Sequential, layers: Sequence[int]) -> None:
    """Keeps the parameters of the layers at these indices fixed during training."""
    ranges = []
    for index in layers:
        if not 0 <= index < len(net.layers):
            raise UserError(
                f"freeze: the network has no layer {index}",
                f"use indices 0 to {len(net.layers) - 1}",
            )
        for name in net.params:
            if name.split(".")[0] == str(index):
                start = net.offsets[name]
                ranges.append((start, start + net.params[name].size))
    net.frozen_ranges = sorted(ranges)
