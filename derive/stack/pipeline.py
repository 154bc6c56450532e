"""The Dense-stack pipeline: a stack of Dense, activation and Dropout layers, unit by unit.

The network becomes named stages (``model``), the batch runs through them in float64 (``tape``),
the steps are built in index notation (``index_view``) or in vectors (``vector_view``) and
evaluated with the numbers ``env`` looks up; for a tiny network SymPy also differentiates the
whole loss (``expand``). ``derive.derive`` adds the optimiser's update.

Dropout: the derivation uses the mask of the network's last training forward pass when that
pass saw a batch of the same size (``net.loss_and_grad(x, y)`` then ``derive(net, x, y)`` gives
the engine's gradient exactly); otherwise dropout is treated as off (inference), and the step
says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from derive.activations import differentiable, no_gradient
from derive.stack import index_view, vector_view
from derive.stack.context import Context
from derive.stack.env import Env
from derive.stack.expand import TINY_PARAMS, direct_check
from derive.stack.model import build_model, parse_param
from derive.stack.tape import Tape, run_tape
from derive.steps import Derived, evaluate
from engine.errors import UserError
from engine.network import Sequential


def derive_stack(
    net: Sequential,
    x: Any,
    y: Any,
    loss: str,
    param: str,
    view: str,
    sample: int,
    l1: float,
    l2: float,
    direct: bool | None,
) -> Derived:
    """Forward, loss and backward steps of ∂L/∂``param`` (see ``derive.derive``)."""
    ctx, tape = _setup(net, x, y, loss, param, sample, float(l1), float(l2))
    env = Env(ctx, tape)
    specs = index_view.build(ctx) if view == "index" else vector_view.build(ctx, tape)
    steps = evaluate(specs, env)
    check = None
    if direct or (direct is None and net.n_params <= TINY_PARAMS):
        check = direct_check(ctx, tape, float(steps[-1].value))
    label = tape.labels[sample] if tape.labels is not None else tape.targets[sample]
    return Derived(
        ref=ctx.ref,
        theta=ctx.theta,
        steps=steps,
        numbers=env,
        view=view,
        network=net.describe(),
        n=ctx.n,
        x=tape.values[ctx.model.x][sample],
        y=np.asarray(label),
        check=check,
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
    X, Y = as_batch(net, x, y, loss)
    n = X.shape[0]
    if not 0 <= sample < n:
        raise UserError(f"sample {sample} is outside the batch of {n}", f"use 0 to {n - 1}")
    tape = run_tape(model, net, X, Y, l1, l2)
    label = int(tape.labels[sample]) if tape.labels is not None else None
    masks_on = frozenset(pos for pos, m in tape.masks.items() if m is not None)
    return Context(model, ref, n, sample, label, masks_on, l1, l2), tape


def as_batch(net: Sequential, x: Any, y: Any, loss: str) -> tuple[np.ndarray, np.ndarray]:
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
