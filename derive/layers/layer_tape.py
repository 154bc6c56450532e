"""The engine's own forward and backward pass, layer by layer, on a float64 copy of the network.

``Sequential.loss_and_grad`` runs the same layers in the same order; here every layer's input,
output and the gradients at both are kept, so a derivation can say "the δ arriving at layer k
from the layers above, as the engine's backward computes it" and show its numbers. Dropout uses
the mask of the network's last training pass when it fits the batch (else it is off), as the
derivations of Dense stacks do; batch normalisation uses the batch's statistics, as in training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from derive.layers.param import Node, find, nodes
from engine.layers.blocks import Residual
from engine.layers.core import Dropout
from engine.losses import LOSSES
from engine.network import Sequential

Path = tuple[int, ...]


def float64_twin(net: Sequential) -> Sequential:
    """A float64 copy of ``net`` with the same weights and buffers (the checks run in float64)."""
    twin = Sequential.from_spec(
        net.spec(), dtype="float64", device=net.device, input_shape=net.input_shape
    )
    twin.data[...] = np.asarray(net.backend.to_host(net.data), dtype=np.float64)
    if net.state.size:
        twin.state[...] = np.asarray(net.backend.to_host(net.state), dtype=np.float64)
    return twin


def last_mask(layer: Dropout, shape: tuple[int, ...]) -> np.ndarray | None:
    """The dropout mask of the layer's last training pass when it fits ``shape``, else None."""
    mask = getattr(layer, "mask", None)
    if mask is None or layer.p == 0.0 or tuple(np.shape(mask)) != tuple(shape):
        return None
    return np.array(layer.backend.to_host(mask), dtype=np.float64)


@dataclass
class LayerTape:
    """A batch through the network in float64, every layer's arrays kept by path.

    Attributes:
        net: the float64 copy the pass ran on (its ``grads`` hold the engine's gradients).
        x: the batch, (n, *input_shape); targets: as the loss reads them.
        inputs, outputs: each layer's input and output; grad_out, grad_in: ∂L̄/∂ of them.
        masks: each dropout layer's mask (None: off).
        loss_value: L̄ (penalty excluded); loss_grad: ∂L̄/∂ŷ.
        penalty: the L1/L2 penalty's value.
        stopped: the layer no gradient flows through (the step), where the backward stopped.
    """

    net: Sequential
    loss: str
    x: np.ndarray
    targets: np.ndarray
    inputs: dict[Path, np.ndarray] = field(default_factory=dict)
    outputs: dict[Path, np.ndarray] = field(default_factory=dict)
    grad_out: dict[Path, np.ndarray] = field(default_factory=dict)
    grad_in: dict[Path, np.ndarray | None] = field(default_factory=dict)
    masks: dict[Path, np.ndarray | None] = field(default_factory=dict)
    loss_value: float = 0.0
    loss_grad: np.ndarray = field(default_factory=lambda: np.zeros(0))
    penalty: float = 0.0
    stopped: Node | None = None

    @property
    def n(self) -> int:
        return int(self.x.shape[0])

    @property
    def output(self) -> np.ndarray:
        return self.outputs[(len(self.net.layers) - 1,)]

    def grad(self, name: str) -> np.ndarray:
        """The engine's gradient of a parameter array (batch mean, penalty included)."""
        return np.asarray(self.net.grads[name], dtype=np.float64)


def run_layer_tape(
    net: Sequential, x: np.ndarray, y: Any, loss: str, l1: float = 0.0, l2: float = 0.0
) -> LayerTape:
    """The engine's pass of ``x``, ``y`` through a float64 copy of ``net``, layer by layer.

    The batch goes through ``net``'s own input cast first: a float32 network trains on inputs
    rounded to float32, and the derivation must see the numbers the network sees (as
    ``derive.api`` does for Dense stacks), not the data set's float64 values.
    """
    twin = float64_twin(net)
    X = np.asarray(twin.as_input(np.asarray(net.as_input(x))), dtype=np.float64)
    targets = np.asarray(twin.as_target(y, loss, X.shape[0]))
    tape = LayerTape(twin, loss, X, targets)
    for node in _all(twin):
        if isinstance(node.layer, Dropout):
            tape.masks[node.path] = None  # filled in by the forward pass
    twin.zero_grad()
    out = _forward(tape, nodes(twin), X, net)
    grad = np.empty_like(out)
    tape.loss_value = float(twin.backend.loss(loss, out, targets, grad, LOSSES[loss].delta))
    tape.loss_grad = grad.copy()
    _backward(tape, nodes(twin), grad)
    if l1 or l2:
        tape.penalty = float(twin.backend.penalty(twin.data, twin.grad, twin.weight_ranges, l1, l2))
    return tape


def _passes_gradient(layer: Any) -> bool:
    """False for an activation no gradient flows through (the step): the backward stops there
    rather than raise, so the layers above it can still be derived."""
    definition = getattr(layer, "definition", None)
    return definition is None or definition.differentiable


def _all(net: Sequential) -> list[Node]:
    out: list[Node] = []
    stack = nodes(net)
    while stack:
        node = stack.pop(0)
        out.append(node)
        stack = node.children + stack
    return out


def _forward(tape: LayerTape, items: list[Node], x: np.ndarray, original: Sequential) -> Any:
    for node in items:
        tape.inputs[node.path] = x.copy()
        if isinstance(node.layer, Residual):
            y = x + _forward(tape, node.children, x, original)
        elif isinstance(node.layer, Dropout):
            source = find(original, node.path).layer
            assert isinstance(source, Dropout)
            mask = last_mask(source, x.shape)
            tape.masks[node.path] = mask
            y = x * mask if mask is not None else x.copy()
        else:
            y = np.array(node.layer.forward(x, True, True), dtype=np.float64)
        tape.outputs[node.path] = y
        x = y
    return x


def _backward(tape: LayerTape, items: list[Node], g: np.ndarray) -> np.ndarray | None:
    current: np.ndarray | None = g
    for node in reversed(items):
        if current is None:
            break
        tape.grad_out[node.path] = current.copy()
        if isinstance(node.layer, Residual):
            inner = _backward(tape, node.children, current)
            if tape.stopped is not None:
                return None
            current = current + inner if inner is not None else current.copy()
        elif not _passes_gradient(node.layer):
            tape.stopped, tape.grad_in[node.path] = node, None
            return None
        elif isinstance(node.layer, Dropout):
            mask = tape.masks[node.path]
            current = current * mask if mask is not None else current.copy()
        else:
            out = node.layer.backward(np.ascontiguousarray(current), True)
            current = None if out is None else np.array(out, dtype=np.float64)
        tape.grad_in[node.path] = current
    return current
