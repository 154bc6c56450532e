"""The same gradient layer by layer, in vectors: δˡ = (Wˡ⁺¹ᵀ δˡ⁺¹) ⊙ σ′(zˡ), ∂L/∂Wˡ = δˡ aˡ⁻¹ᵀ.

The forward pass runs the whole network; the backward pass sends the error vectors back down to
the parameter's layer, builds the gradient matrix as an outer product, and reads the entry asked
for. Vectors are columns (one sample). Vectors and matrices of at most eight rows and columns are
shown with their numbers; larger ones by their values. The arrays come from the float64 tape.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.activations import apply, numpy_fns, sigmoid, vector_prime
from derive.expr import mul
from derive.functions import huber_grad
from derive.losses import output_grad
from derive.notation import vec, vpartial, vprime
from derive.rules import rule
from derive.stack.context import Context
from derive.stack.model import Stage, Vec
from derive.stack.shared_steps import gradient_tail, loss_steps
from derive.stack.tape import Tape
from derive.steps import StepSpec
from engine.losses import LOSSES

SHOW = 8  # show matrices with numbers up to this many rows and columns


def _small(expr: sp.Basic) -> bool:
    return all(max(m.shape) <= SHOW for m in expr.atoms(sp.MatrixSymbol))


def _spec(part: str, lhs: sp.Basic, key: str, general: sp.Basic, value: np.ndarray) -> StepSpec:
    return StepSpec(part, lhs, rule(key), general, given=value, show_numbers=_small(general))


def _neg(m: sp.Basic) -> sp.Basic:
    return sp.MatMul(sp.S.NegativeOne, m, evaluate=False)


def _minus(a: sp.Basic, b: sp.Basic) -> sp.Basic:
    return sp.MatAdd(a, _neg(b), evaluate=False)


def _scale(c: sp.Rational, m: sp.Basic) -> sp.Basic:
    if c == 1:
        return m
    return sp.MatMul(c, m, evaluate=False) if isinstance(m, sp.MatrixExpr) else mul(c, m)


def build(ctx: Context, tape: Tape) -> list[StepSpec]:
    return forward(ctx, tape) + loss_steps(ctx) + backward(ctx, tape) + gradient_tail(ctx)


def _col(tape: Tape, v: Vec, s: int) -> np.ndarray:
    return tape.values[v][s].reshape(-1, 1)


def forward(ctx: Context, tape: Tape) -> list[StepSpec]:
    specs, s = [], ctx.s
    for st in ctx.model.stages:
        U, out = st.inp.column(), st.out.column()
        if st.kind == "dense":
            W = vec("W", st.layer, st.out.width, st.inp.width)
            general = sp.MatAdd(sp.MatMul(W, U), vec("b", st.layer, st.out.width), evaluate=False)
            specs.append(_spec("forward", out, "vec_dense", general, _col(tape, st.out, s)))
        elif st.kind == "activation":
            general = apply(st.act, U, st.alpha)
            specs.append(_spec("forward", out, "vec_act", general, _col(tape, st.out, s)))
        else:
            general = (
                sp.HadamardProduct(vec(st.mask, st.layer, st.inp.width), U)
                if st.pos in ctx.masks_on
                else U
            )
            specs.append(_spec("forward", out, "vec_dropout", general, _col(tape, st.out, s)))
    model = ctx.model
    if model.head != "identity":
        Z = model.last.column()
        general = sp.Function("softmax")(Z) if model.head == "softmax" else sigmoid(Z)
        key = "softmax" if model.head == "softmax" else "sigmoid_head"
        specs.append(_spec("forward", model.yhat.column(), key, general, _col(tape, model.yhat, s)))
    return specs


def _grad(ctx: Context, v: Vec) -> sp.MatrixSymbol:
    if v.base == "z":
        return vec("delta", v.layer, v.width)
    return vpartial("L", v.column())


def _output(ctx: Context, tape: Tape) -> StepSpec:
    """∂L/∂ŷ (or δᴸ for the losses that own the head) as a vector."""
    model, s = ctx.model, ctx.s
    yh, y, n_out = model.yhat.column(), model.y.column(), model.yhat.width
    value = tape.grads[model.last][s].reshape(-1, 1)
    lhs = _grad(ctx, model.last)
    c = sp.Rational(1, n_out)
    forms = {
        "mse": lambda: _scale(sp.Rational(2, n_out), _minus(yh, y)),
        "bce_logits": lambda: _scale(c, _minus(yh, y)),
        "cross_entropy": lambda: _minus(yh, y),
        "huber": lambda: _scale(c, huber_grad(_minus(yh, y), sp.Float(LOSSES["huber"].delta))),
    }
    why = output_grad(model, 0)[1]
    if model.loss in forms:
        general = forms[model.loss]()
        return StepSpec("backward", lhs, why, general, given=value, show_numbers=_small(general))
    general = output_grad(model, "i")[0]  # BCE: written for each output i (a letter, "any i")
    return StepSpec(
        "backward",
        ctx.grad(model.last, "i"),
        why,
        general,
        given=value,
        show_numbers=False,
        alias=lhs,
    )


def _slope_step(st: Stage, slope: sp.MatrixSymbol, value: np.ndarray) -> StepSpec:
    """σ′(zˡ) element-wise; by its values alone where it has no element-wise spelling."""
    general = vector_prime(st.act, st.inp.column(), st.out.column(), st.alpha)
    if general is None:
        return StepSpec(
            "backward", slope, rule("vec_prime"), slope, given=value, show_numbers=False
        )
    return _spec("backward", slope, "vec_prime", general, value)


def backward(ctx: Context, tape: Tape) -> list[StepSpec]:
    model, s = ctx.model, ctx.s
    stages, p = model.stages, model.index(ctx.ref.pos)
    specs = [_output(ctx, tape)]
    for st in reversed(stages[p + 1 :]):
        U, lhs, g_out = st.inp.column(), _grad(ctx, st.inp), _grad(ctx, st.out)
        value = tape.grads[st.inp][s].reshape(-1, 1)
        if st.kind == "activation":
            slope = vprime(st.act, U)
            u = tape.values[st.inp][s].reshape(-1, 1)
            slope_value = np.asarray(numpy_fns(st.act)[1](u, st.alpha), dtype=np.float64)
            specs.append(_slope_step(st, slope, slope_value * np.ones_like(u)))
            specs.append(
                _spec("backward", lhs, "vec_chain_act", sp.HadamardProduct(g_out, slope), value)
            )
        elif st.kind == "dropout":
            mask = vec(st.mask, st.layer, st.inp.width)
            general = sp.HadamardProduct(g_out, mask) if st.pos in ctx.masks_on else g_out
            specs.append(_spec("backward", lhs, "vec_chain_dropout", general, value))
        else:
            W = vec("W", st.layer, st.out.width, st.inp.width)
            specs.append(
                _spec("backward", lhs, "vec_back_dense", sp.MatMul(sp.Transpose(W), g_out), value)
            )
    return specs + _param(ctx, tape)


def _param(ctx: Context, tape: Tape) -> list[StepSpec]:
    """∂L/∂Wˡ = δˡ aˡ⁻¹ᵀ (or ∂L/∂bˡ = δˡ), then the entry asked for."""
    dense, s, ref = ctx.dense, ctx.s, ctx.ref
    delta = _grad(ctx, dense.out)
    d = tape.grads[dense.out][s].reshape(-1, 1)
    if ref.k is None:
        lhs = vpartial("L", vec("b", dense.layer, dense.out.width))
        specs = [_spec("backward", lhs, "vec_grad_b", delta, d)]
        entry = ctx.grad(dense.out, ref.j)
    else:
        W = vec("W", dense.layer, dense.out.width, dense.inp.width)
        u = tape.values[dense.inp][s].reshape(-1, 1)
        general = sp.MatMul(delta, sp.Transpose(dense.inp.column()))
        specs = [_spec("backward", vpartial("L", W), "vec_grad_W", general, d @ u.T)]
        entry = mul(ctx.grad(dense.out, ref.j), dense.inp.at(ref.k))
    return [*specs, StepSpec("backward", ctx.dL(), rule("vec_entry"), entry)]
