"""Every parameter's gradient from ``derive.layers.reference`` alone: an independent backprop.

The loss's derivative is SymPy's ``diff`` of the loss rule (as for Dense stacks, see
``derive.stack.tape``), the layers' backward passes are the reference ones, chained from the output
down; a residual block adds its identity term to its inner layers' gradient. ``verify`` compares
the result with the engine's gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from derive.layers import reference
from derive.layers.param import Node, nodes
from derive.stack.tape import element_grad_fn, softmax_ce_grad_fn
from engine.layers.blocks import Residual
from engine.losses import LOSSES
from engine.network import Sequential

Path = tuple[int, ...]
MaskOf = Callable[[Path, tuple[int, ...]], "np.ndarray | None"]


def loss_gradient(out: np.ndarray, targets: np.ndarray, loss: str) -> np.ndarray:
    """∂L̄/∂ŷ of the batch's mean loss: over every output, or every position for cross-entropy."""
    if loss == "cross_entropy":
        k = out.shape[-1]
        rows = out.reshape(-1, k)
        onehot = np.eye(k)[np.asarray(targets).reshape(-1).astype(np.int64)]
        shifted = rows - rows.max(axis=1, keepdims=True)  # softmax is shift-invariant
        columns = softmax_ce_grad_fn(k)(list(shifted.T), list(onehot.T))
        g = np.stack([np.asarray(c) for c in columns], axis=1)
        return (g / rows.shape[0]).reshape(out.shape)
    fn = element_grad_fn(loss, LOSSES[loss].delta)
    per = np.asarray(fn(out, np.asarray(targets, dtype=np.float64)), dtype=np.float64)
    return np.broadcast_to(per, out.shape) / out.size


@dataclass
class ReferencePass:
    """The reference forward and backward of a batch: caches and gradients by layer path."""

    net: Sequential
    mask_of: MaskOf
    caches: dict[Path, dict[str, Any]] = field(default_factory=dict)
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    output: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def params(self, node: Node) -> dict[str, np.ndarray]:
        return {k: node.param(self.net, k) for k in node.param_names(self.net)}

    def forward(self, items: list[Node], x: np.ndarray) -> np.ndarray:
        for node in items:
            if isinstance(node.layer, Residual):
                x = x + self.forward(node.children, x)
                continue
            mask = self.mask_of(node.path, x.shape) if node.kind == "Dropout" else None
            x, self.caches[node.path] = reference.forward(node.layer, self.params(node), x, mask)
        return x

    def backward(self, items: list[Node], g: np.ndarray | None) -> np.ndarray | None:
        for node in reversed(items):
            if g is None:
                return None
            if isinstance(node.layer, Residual):
                inner = self.backward(node.children, g)
                g = g + inner if inner is not None else g
                continue
            cache = self.caches[node.path]
            g, grads, _ = reference.backward(node.layer, self.params(node), cache, g)
            for k, v in grads.items():
                self.grads[f"{node.label}.{k}"] = v
        return g


def reference_gradients(
    net: Sequential,
    x: np.ndarray,
    targets: np.ndarray,
    loss: str,
    mask_of: MaskOf,
    l1: float = 0.0,
    l2: float = 0.0,
) -> dict[str, np.ndarray]:
    """∂(L̄ + R)/∂p for every parameter array of ``net``, from the reference passes alone.

    ``mask_of(path, shape)`` gives the dropout layer at ``path`` its mask (None: off).
    """
    run = ReferencePass(net, mask_of)
    run.output = run.forward(nodes(net), np.asarray(x, dtype=np.float64))
    run.backward(nodes(net), loss_gradient(run.output, targets, loss))
    grads = {}
    for name in net.params:
        g = run.grads.get(name, np.zeros(net.params[name].shape))
        if (l1 or l2) and name.split(".")[-1].startswith("W"):
            W = np.asarray(net.backend.to_host(net.params[name]), dtype=np.float64)
            g = g + l1 * np.sign(W) + l2 * W
        grads[name] = g
    return grads
