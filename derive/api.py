"""``derive`` itself: from a live network and a sample to a ``Derivation``.

Dropout: the derivation uses the mask of the network's last training forward pass when that
pass saw a batch of the same size (``net.loss_and_grad(x, y)`` then ``derive(net, x, y)`` gives
the engine's gradient exactly); otherwise dropout is treated as off (inference), and the step
says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from derive import index_view, update, vector_view
from derive.activations import differentiable, no_gradient
from derive.batch import batch_gradient
from derive.context import Context
from derive.env import Env
from derive.expand import TINY_PARAMS, direct_check
from derive.layers.build import derive_layers
from derive.layers.param import is_plain_mlp
from derive.model import build_model, parse_param
from derive.steps import Derivation, evaluate
from derive.tape import Tape, run_tape
from engine.errors import UserError
from engine.losses import check_loss
from engine.network import Sequential

VIEWS = ("index", "vector")


def derive(
    net: Sequential,
    x: Any,
    y: Any,
    loss: str = "mse",
    param: str = "0.W[0,0]",
    *,
    view: str = "index",
    sample: int = 0,
    l1: float = 0.0,
    l2: float = 0.0,
    optimizer: Any = None,
    lr: float = 0.01,
    batch: tuple[Any, Any] | None = None,
    direct: bool | None = None,
) -> Derivation:
    """Derives ∂L/∂``param`` for the batch ``x``, ``y``, every chain-rule factor shown.

    Args:
        net: the network, as it is now (its weights and last dropout masks are read, not changed).
        x, y: one sample or a batch; the gradient is the batch mean, as the engine's.
        loss: the loss name; ``l1``, ``l2``: penalty rates, as ``net.loss_and_grad`` takes them.
        param: which scalar, e.g. ``"2.W[0,1]"`` (``"2.b[0]"`` for a bias), ``"0.W[1,0,2,2]"``
            for a convolution's kernel, ``"1.0.W_hh[3,2]"`` inside a residual block.
        view: "index" (per weight, over its paths) or "vector" (layer by layer, δˡ vectors).
            Networks with other layers than Dense, activations and Dropout (convolutions,
            pooling, normalisation, recurrent layers, attention, residual blocks) have one view,
            "layer": the δ arriving at the parameter's layer as the engine's backward computes
            it, then the layer's own gradient in its own terms (``derive.layers``).
        sample: which sample of the batch has its terms shown.
        optimizer: an ``engine.optim`` optimiser whose next update is shown with its state;
            None shows plain gradient descent with ``lr``.
        batch: the mini-batch (x, y) the optimiser's step trains on, when it is not ``x``, ``y``
            (the sample shown lies in another batch): the update then steps along the engine's
            gradient over ``batch``. None: ``x``, ``y`` are that batch, and their mean is used.
        direct: also differentiate the whole loss with SymPy (default: for tiny networks).
    """
    check_loss(loss)
    if view not in VIEWS:
        raise UserError(f"unknown view {view!r}", "use 'index' or 'vector'")
    if not is_plain_mlp(net):
        return derive_layers(
            net, x, y, loss, param, sample=sample, l1=l1, l2=l2, optimizer=optimizer, lr=lr,
            batch=batch,
        )  # fmt: skip
    ctx, tape = _setup(net, x, y, loss, param, sample, float(l1), float(l2))
    env = Env(ctx, tape)
    specs = index_view.build(ctx) if view == "index" else vector_view.build(ctx, tape)
    steps = evaluate(specs, env)
    value = float(steps[-1].value)
    grad = None if batch is None else batch_gradient(net, batch, loss, l1, l2, ctx.ref.flat)
    update_specs, numbers = update.build(ctx, steps[-1].lhs, optimizer, lr, grad)
    env.update(numbers)
    steps += evaluate(update_specs, env)
    check = None
    if direct or (direct is None and net.n_params <= TINY_PARAMS):
        check = direct_check(ctx, tape, value)
    return Derivation(
        param=ctx.ref,
        symbol=ctx.theta,
        loss=loss,
        view=view,
        network=net.describe(),
        sample=sample,
        n_samples=ctx.n,
        x=tape.values[ctx.model.x][sample],
        y=np.asarray(tape.labels[sample] if tape.labels is not None else tape.targets[sample]),
        steps=tuple(steps),
        value=value,
        check=check,
        optimizer=repr(optimizer) if optimizer is not None else f"gradient descent (lr={lr:g})",
    )


def _setup(
    net: Sequential, x: Any, y: Any, loss: str, param: str, sample: int, l1: float, l2: float
) -> tuple[Context, Tape]:
    """The derivation's setting, and the float64 tape of the batch through the network."""
    ref = parse_param(net, param)
    model = build_model(net, loss)
    for st in model.stages[model.index(ref.pos) + 1 :]:
        if st.kind == "activation" and not differentiable(st.act):
            raise no_gradient(st.act, f" (layer {st.pos}, between {ref.text} and the loss)")
    X, Y = _batch(net, x, y, loss)
    n = X.shape[0]
    if not 0 <= sample < n:
        raise UserError(f"sample {sample} is outside the batch of {n}", f"use 0 to {n - 1}")
    tape = run_tape(model, net, X, Y, l1, l2)
    label = int(tape.labels[sample]) if tape.labels is not None else None
    masks_on = frozenset(pos for pos, m in tape.masks.items() if m is not None)
    return Context(model, ref, n, sample, label, masks_on, l1, l2), tape


def _batch(net: Sequential, x: Any, y: Any, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` as a float64 batch, checked as the engine checks them."""
    try:  # through the engine's own casts, so a float32 network sees the same numbers
        X = np.asarray(net.as_input(x), dtype=np.float64)
    except ValueError as exc:
        raise UserError(
            f"the input does not fit: {exc}",
            f"give one sample of {net.in_features} numbers, or a batch (n, {net.in_features})",
        ) from None
    try:
        target = net.as_target(y, loss, X.shape[0])
    except ValueError as exc:
        raise UserError(f"the targets do not fit: {exc}", "give one target per sample") from None
    Y = np.asarray(target)
    return X, (Y if loss == "cross_entropy" else Y.astype(np.float64).reshape(X.shape[0], -1))
