"""Every vector of the forward and backward pass of a batch, in float64, from the SymPy rules.

The derivation of one weight expands only that weight's paths; the numbers off those paths (the
other units of a layer, the other samples of the batch) come from here. ``verify`` uses the same
tape for every parameter at once. The derivatives are not written out by hand: each activation's
σ′ and each loss's ∂L/∂ŷ is SymPy's ``diff`` of the rule in ``derive.activations`` /
``derive.losses``, turned into array code by ``lambdify``, then chained in the vector form
δˡ = (Wˡ⁺¹ᵀ δˡ⁺¹) ⊙ σ′(zˡ).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import sympy as sp

from derive.activations import differentiable, numpy_fns, sigmoid
from derive.losses import bce_grad, element_loss
from derive.stack.model import Model, ParamRef, Stage, Vec
from engine.layers.core import Dropout
from engine.losses import LOSSES
from engine.network import Sequential

Fn = Callable[..., np.ndarray]
_yhat, _y = sp.Symbol("yhat", real=True), sp.Symbol("y", real=True)


@cache
def element_grad_fn(loss: str, delta: float) -> Fn:
    """∂ℓ/∂ŷ of one output's loss ℓ(ŷ, y) (∂ℓ/∂z for BCE-with-logits), by SymPy's ``diff``.

    BCE takes the engine's own form, (ŷ − y)/max(ŷ(1 − ŷ), 10⁻¹²): the same as the ``diff``
    wherever that is finite (the tests check it), and finite where ŷ has saturated to 0 or 1.
    """
    if loss == "bce":
        return sp.lambdify([_yhat, _y], bce_grad(_yhat, _y).doit(), "numpy")
    return sp.lambdify([_yhat, _y], sp.diff(element_loss(loss, _yhat, _y, delta), _yhat), "numpy")


@cache
def softmax_ce_grad_fn(width: int) -> Fn:
    """∂L/∂zᵢ of L = log Σₘ e^{zₘ} − Σₘ yₘ zₘ (cross-entropy of softmax), by ``diff``."""
    z = sp.symbols(f"z0:{width}", real=True)
    y = sp.symbols(f"y0:{width}", real=True)
    loss = sp.log(sp.Add(*[sp.exp(zi) for zi in z])) - sp.Add(*[yi * zi for yi, zi in zip(y, z)])
    return sp.lambdify([z, y], [sp.diff(loss, zi) for zi in z], "numpy")


def _as_2d(a: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(n, -1)


@dataclass
class Tape:
    """A batch through the network in float64.

    Attributes:
        values: every vector of the forward pass (and ŷ), shape (n, width).
        grads: ∂Lₛ/∂v of every vector for each sample s, without the batch's 1/n.
        params: the parameters in float64, by engine name.
        masks: each dropout stage's mask (by layer position), None when it is off.
        targets: y as the loss reads it, (n, outputs); one-hot for cross-entropy.
        labels: the class labels for cross-entropy, else None.
        param_grads: ∂L̄/∂p for every parameter array, the batch mean plus any penalty.
    """

    model: Model
    n: int
    values: dict[Vec, np.ndarray] = field(default_factory=dict)
    grads: dict[Vec, np.ndarray] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    masks: dict[int, np.ndarray | None] = field(default_factory=dict)
    targets: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    labels: np.ndarray | None = None
    param_grads: dict[str, np.ndarray] = field(default_factory=dict)
    losses: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def sample_grads(self, ref: ParamRef) -> np.ndarray:
        """∂Lₛ/∂p of one scalar parameter for every sample s (no penalty, no 1/n)."""
        dense = self.model.stage(ref.pos)
        delta = self.grads[dense.out][:, ref.j]
        return delta if ref.k is None else delta * self.values[dense.inp][:, ref.k]


def mask_of(layer: Dropout, n: int, width: int) -> np.ndarray | None:
    """The mask of the layer's last training pass when it fits this batch, else None (off)."""
    mask = getattr(layer, "mask", None)
    if mask is None or np.shape(mask) != (n, width):
        return None
    return np.array(layer.backend.to_host(mask), dtype=np.float64)


def run_tape(
    model: Model, net: Sequential, x: np.ndarray, y: np.ndarray, l1: float = 0.0, l2: float = 0.0
) -> Tape:
    """Forward and backward of the batch ``x``, ``y`` (already 2-D) through ``net``'s weights."""
    n = x.shape[0]
    tape = Tape(model, n)
    host = net.backend.to_host
    tape.params = {k: np.array(host(v), dtype=np.float64) for k, v in net.params.items()}
    tape.values[model.x] = np.asarray(x, dtype=np.float64)
    for stage in model.stages:
        tape.values[stage.out] = _forward(tape, stage, net)
    _targets(tape, y)
    tape.losses = sample_losses(tape)
    _backward(tape, net, l1, l2)
    return tape


def sample_losses(tape: Tape) -> np.ndarray:
    """Each sample's loss, in the numerically safe forms the engine's kernels use."""
    model, last, y = tape.model, tape.values[tape.model.last], tape.targets
    if model.head == "softmax":
        top = last.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(last - top).sum(axis=1)) + top[:, 0]
        return log_sum - (last * y).sum(axis=1)
    if model.loss == "bce_logits":
        per = np.maximum(last, 0) - last * y + np.log1p(np.exp(-np.abs(last)))
    elif model.loss == "bce":
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(last), -100.0)
            log_q = np.maximum(np.log(1.0 - last), -100.0)
        per = -(y * log_p + (1.0 - y) * log_q)
    elif model.loss == "huber":
        d = np.abs(last - y)
        delta = LOSSES["huber"].delta
        per = np.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    else:
        per = np.square(last - y)
    return per.mean(axis=1)


def _forward(tape: Tape, stage: Stage, net: Sequential) -> np.ndarray:
    u = tape.values[stage.inp]
    if stage.kind == "dense":
        return u @ tape.params[f"{stage.pos}.W"].T + tape.params[f"{stage.pos}.b"]
    if stage.kind == "activation":
        return np.asarray(numpy_fns(stage.act)[0](u, stage.alpha), dtype=np.float64)
    layer = net.layers[stage.pos]
    assert isinstance(layer, Dropout)
    mask = mask_of(layer, u.shape[0], u.shape[1])
    tape.masks[stage.pos] = mask
    return u if mask is None else u * mask


def _targets(tape: Tape, y: np.ndarray) -> None:
    model, last = tape.model, tape.values[tape.model.last]
    if model.head == "softmax":
        labels = np.asarray(y).reshape(-1).astype(np.int64)
        tape.labels = labels
        tape.targets = np.eye(last.shape[1])[labels]
        e = np.exp(last - last.max(axis=1, keepdims=True))
        tape.values[model.yhat] = e / e.sum(axis=1, keepdims=True)
    else:
        tape.targets = _as_2d(y, tape.n)
        if model.head == "sigmoid":
            tape.values[model.yhat] = sigmoid._imp_(last)


def _loss_grad(tape: Tape) -> np.ndarray:
    model, last = tape.model, tape.values[tape.model.last]
    if model.head == "softmax":
        shifted = last - last.max(axis=1, keepdims=True)  # softmax is shift-invariant
        fn = softmax_ce_grad_fn(last.shape[1])
        columns = [np.asarray(c) for c in fn(list(shifted.T), list(tape.targets.T))]
        return np.stack(columns, axis=1).astype(np.float64)
    fn = element_grad_fn(model.loss, LOSSES[model.loss].delta)
    per_element = np.asarray(fn(last, tape.targets), dtype=np.float64)
    return np.broadcast_to(per_element, last.shape) / last.shape[1]


def _backward(tape: Tape, net: Sequential, l1: float, l2: float) -> None:
    g = _loss_grad(tape)
    for stage in reversed(tape.model.stages):
        tape.grads[stage.out] = g
        u = tape.values[stage.inp]
        if stage.kind == "dense":
            W = tape.params[f"{stage.pos}.W"]
            gW = g.T @ u / tape.n
            if l1 or l2:
                gW = gW + l1 * np.sign(W) + l2 * W
            tape.param_grads[f"{stage.pos}.W"] = gW
            tape.param_grads[f"{stage.pos}.b"] = g.mean(axis=0)
            g = g @ W
        elif stage.kind == "activation":
            if not differentiable(stage.act):
                return  # no gradient below the step: derive refuses parameters down there
            g = g * numpy_fns(stage.act)[1](u, stage.alpha)
        elif tape.masks.get(stage.pos) is not None:
            g = g * tape.masks[stage.pos]
    tape.grads[tape.model.x] = g
