"""The forward formula of one unit of a stage, in symbols: what ``zˡⱼ``, ``aˡⱼ``, ``ŷᵢ`` are.

Units are numbers, or a letter (``"m"``) for "any unit", which the off-path steps use.
A Dense unit with many inputs is shown as a Σ and evaluated in full.
"""

from __future__ import annotations

import sympy as sp

from derive.activations import act_rule, apply, sigmoid
from derive.expr import SHOW_TERMS, add, div, mul, total
from derive.notation import spelled, sym
from derive.rules import Rule, rule
from derive.stack.context import Context
from derive.stack.model import Stage, Vec
from derive.steps import StepSpec

K = sp.Symbol("k", integer=True)
M = sp.Symbol("m", integer=True)


def dense_unit(st: Stage, i: int | str) -> tuple[sp.Basic, sp.Basic]:
    """zˡᵢ = Σₖ Wˡᵢₖ aₖ + bˡᵢ: (in full, as shown).

    A letter for the unit ("any unit") has no numbers to put in: it is shown as a Σ, which is
    also its "in full" (nothing evaluates it term by term).
    """
    bias = sym("b", st.layer, i)
    if isinstance(i, str) or st.inp.width > SHOW_TERMS:
        term = mul(sym("W", st.layer, i, "k"), st.inp.at("k"))
        shown = add(sp.Sum(term, (K, 0, st.inp.width - 1)), bias)
        if isinstance(i, str):
            return shown, shown
    inputs = [mul(sym("W", st.layer, i, k), st.inp.at(k)) for k in range(st.inp.width)]
    full = add(*inputs, bias)
    return full, (full if st.inp.width <= SHOW_TERMS else shown)


def stage_unit(ctx: Context, st: Stage, i: int | str) -> tuple[sp.Basic, sp.Basic, Rule]:
    """Stage ``st``'s formula for unit i: (in full, as shown, rule)."""
    if st.kind == "dense":
        full, shown = dense_unit(st, i)
        return full, shown, rule("dense")
    if st.kind == "activation":
        expr = apply(st.act, st.inp.at(i), st.alpha)
        return expr, expr, act_rule(st.act, st.alpha)
    if st.pos in ctx.masks_on:
        expr = mul(st.mask_at(i), st.inp.at(i))
        return expr, expr, rule("dropout", p=st.p)
    expr = st.inp.at(i)
    return expr, expr, rule("dropout_off", p=st.p)


def unit_step(ctx: Context, st: Stage, i: int | str) -> StepSpec:
    full, shown, why = stage_unit(ctx, st, i)
    return StepSpec("forward", st.out.at(i), why, shown, full)


def head_unit(ctx: Context, i: int | str) -> tuple[sp.Basic, sp.Basic, Rule]:
    """ŷᵢ from the logits: softmax or σ (only for the losses that own their head)."""
    z = ctx.model.last
    if ctx.model.head == "sigmoid":
        expr = sigmoid(z.at(i))
        return expr, expr, rule("sigmoid_head")
    exps = [sp.exp(z.at(m), evaluate=False) for m in range(z.width)]
    full, shown = total(exps, M, sp.exp(z.at("m"), evaluate=False))
    return (
        div(sp.exp(z.at(i), evaluate=False), full),
        div(sp.exp(z.at(i), evaluate=False), shown),
        rule("softmax"),
    )


def off_path_steps(ctx: Context, v: Vec, units: list[int]) -> list[StepSpec]:
    """The units of ``v`` the parameter does not reach, whose values the next stage needs.

    A few are shown like any step; many make one step that lists their values.
    """
    if not units:
        return []
    producer = next((st for st in ctx.model.stages if st.out == v), None)

    def formula(i: int | str) -> tuple[sp.Basic, sp.Basic]:
        full, shown, _ = head_unit(ctx, i) if producer is None else stage_unit(ctx, producer, i)
        return full, shown

    param = spelled(ctx.theta)
    if len(units) <= 3:
        why = rule("off_path", param=param)
        return [StepSpec("forward", v.at(m), why, formula(m)[1], formula(m)[0]) for m in units]
    why = rule("off_path_many", j=ctx.ref.j, param=param)
    gather = tuple(v.at(m) for m in units)
    return [StepSpec("forward", v.at("m"), why, formula("m")[1], show_numbers=False, gather=gather)]
