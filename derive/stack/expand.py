"""The whole loss as one SymPy expression, differentiated by SymPy itself.

For a tiny network the loss can be written out in the inputs, targets and every parameter, and
``sympy.diff`` can differentiate it with no help from the chain-rule steps. That number, beside
the chain rule's, is an independent check: the two agree to rounding.
"""

from __future__ import annotations

import itertools

import numpy as np
import sympy as sp

from derive.activations import apply, sigmoid
from derive.expr import add, mul, neg, scaled
from derive.losses import shown_term
from derive.notation import decode, sym
from derive.stack.context import Context
from derive.stack.model import Model
from derive.stack.tape import Tape
from derive.steps import DirectCheck
from engine.losses import LOSSES

TINY_PARAMS = 50  # "a few dozen parameters": networks up to this size get the direct check


def whole_loss(model: Model, masks_on: frozenset[int]) -> sp.Basic:
    """One sample's loss in x, y, the masks and every parameter, forward pass inlined.

    Built unevaluated, in the order the steps write things, so it reads like them.
    """
    cur: list[sp.Basic] = [model.x.at(k) for k in range(model.x.width)]
    for st in model.stages:
        if st.kind == "dense":
            cur = [
                add(
                    *[mul(sym("W", st.layer, i, k), c) for k, c in enumerate(cur)],
                    sym("b", st.layer, i),
                )
                for i in range(st.out.width)
            ]
        elif st.kind == "activation":
            cur = [apply(st.act, c, st.alpha) for c in cur]
        elif st.pos in masks_on:
            cur = [mul(st.mask_at(i), c) for i, c in enumerate(cur)]
    ys = [model.y.at(i) for i in range(len(cur))]
    if model.head == "softmax":
        log_sum = sp.log(add(*[sp.exp(c, evaluate=False) for c in cur]), evaluate=False)
        return add(log_sum, *[neg(mul(y, c)) for y, c in zip(ys, cur)])
    if model.head == "sigmoid":
        cur = [sigmoid(c) for c in cur]
    delta = LOSSES[model.loss].delta
    terms = add(*[shown_term(model.loss, c, y, delta) for c, y in zip(cur, ys)])
    scale = sp.Rational(1, len(cur))
    return (
        neg(scaled(scale, terms)) if model.loss in ("bce", "bce_logits") else scaled(scale, terms)
    )


def direct_check(ctx: Context, tape: Tape, chain_value: float) -> DirectCheck:
    """SymPy's ``diff`` of the whole loss by the parameter, at the batch's numbers."""
    model, theta = ctx.model, ctx.theta
    loss = whole_loss(model, ctx.masks_on)
    derivative = sp.diff(loss, theta)
    value = _batch_mean(ctx, tape, derivative)
    names = (sym("u", None, i) for i in itertools.count(1))
    shared, (reduced,) = sp.cse(derivative, symbols=names, order="none")
    if ctx.ref.kind == "W" and (ctx.l1 or ctx.l2):
        w = float(tape.params[ctx.ref.name][ctx.ref.index])
        penalty = ctx.l1 * sp.Abs(theta) + sp.Rational(1, 2) * ctx.l2 * theta**2
        value += float(sp.diff(penalty, theta).subs(theta, w))
    return DirectCheck(loss, derivative, value, chain_value, tuple(shared), reduced)


def _batch_mean(ctx: Context, tape: Tape, expr: sp.Basic) -> float:
    """The mean over the batch of ``expr``, evaluated in float64 by ``lambdify``."""
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    columns = [_column(ctx, tape, s.name) for s in symbols]
    fn = sp.lambdify(symbols, expr, ["scipy", "numpy"])  # scipy: erf and kin on arrays
    out = np.asarray(fn(*columns), dtype=np.float64)
    return float(np.broadcast_to(out, (tape.n,)).mean())


def _column(ctx: Context, tape: Tape, name: str) -> np.ndarray | float:
    """A symbol's number(s): one per sample for x, y and masks, one for a parameter."""
    n = decode(name)
    idx = tuple(int(i) for i in n.sub)
    stages = ctx.model.stages
    if n.base in ("W", "b"):
        pos = next(st.pos for st in stages if st.kind == "dense" and str(st.layer) == n.sup)
        return float(tape.params[f"{pos}.{n.base}"][idx])
    if n.base == "x":
        return tape.values[ctx.model.x][:, idx[0]]
    if n.base == "y":
        return tape.targets[:, idx[0]]
    dropout = next(
        st for st in stages if st.kind == "dropout" and (st.mask, str(st.layer)) == (n.base, n.sup)
    )
    mask = tape.masks[dropout.pos]
    assert mask is not None
    return mask[:, idx[0]]
