"""The gradient of one weight in index notation, expanding only the terms on its paths.

A weight Wˡⱼₖ reaches the loss only through unit j of its layer, then through every unit of each
later layer. The forward pass shows those units (the others appear as numbers); the backward pass
walks the same units back, one chain-rule factor per step, and ends with ∂L/∂Wˡⱼₖ = δˡⱼ aˡ⁻¹ₖ;
for a handful of paths it also writes the gradient out as a sum over them. A wide layer on the
paths (``derive.stack.wide``) has its first unit written out, then all its units in one step.
"""

from __future__ import annotations

import math

import sympy as sp

from derive.activations import prime as slope_of
from derive.activations import prime_rule
from derive.expr import abbreviate, add, mul, total
from derive.losses import output_grad
from derive.notation import prime, sym
from derive.rules import rule
from derive.stack import wide
from derive.stack.context import Context, key
from derive.stack.forward import head_unit, off_path_steps, unit_step
from derive.stack.model import Stage, Vec
from derive.stack.shared_steps import gradient_tail, loss_steps
from derive.steps import StepSpec

MAX_PATHS = 16  # write the gradient as a sum over paths up to this many
R = sp.Symbol("r", integer=True)


def build(ctx: Context) -> list[StepSpec]:
    """Forward, loss and backward steps for ``ctx.ref``, in index notation."""
    return forward(ctx) + loss_steps(ctx) + backward(ctx) + paths(ctx) + gradient_tail(ctx)


def forward(ctx: Context) -> list[StepSpec]:
    model = ctx.model
    stages, p = model.stages, model.index(ctx.ref.pos)
    path = ctx.on_path()
    specs: list[StepSpec] = []
    if ctx.ref.k is not None and stages[p].inp != model.x:
        q = max((i for i in range(p) if stages[i].kind == "dense"), default=0)
        specs += [unit_step(ctx, st, ctx.ref.k) for st in stages[q:p]]
    specs.append(unit_step(ctx, stages[p], ctx.ref.j))
    for st in stages[p + 1 :]:
        if st.kind == "dense":
            specs += _off(ctx, st.inp, path)
        specs += _units(ctx, st, path[key(st.out)])
    if model.head == "softmax":
        specs += _off(ctx, model.last, path)
        assert ctx.label is not None
        specs += _heads(ctx, sorted(set(path[key(model.last)]) | {ctx.label}))
    elif model.head == "sigmoid":
        specs += _heads(ctx, path[key(model.last)])
        specs += _off(ctx, model.yhat, path)
    else:
        specs += _off(ctx, model.yhat, path)
    return specs


def _units(ctx: Context, st: Stage, units: list[int]) -> list[StepSpec]:
    """Stage ``st``'s units on the paths: one step each, or a wide layer's two steps."""
    if not wide.is_wide(units):
        return [unit_step(ctx, st, i) for i in units]
    any_unit = unit_step(ctx, st, wide.LETTER)
    if st.kind == "dense":
        compute = wide.dense_forward(st, units)
    else:
        compute = wide.elementwise(any_unit.general, units)
    return wide.collapse(unit_step(ctx, st, units[0]), any_unit, units, compute)


def _heads(ctx: Context, units: list[int]) -> list[StepSpec]:
    """ŷ from the logits, for the units the loss reads."""
    if not wide.is_wide(units):
        return [_head_step(ctx, i) for i in units]
    any_unit = _head_step(ctx, wide.LETTER)
    if ctx.model.head == "softmax":
        compute = wide.softmax(ctx.model.last, units)
    else:
        compute = wide.elementwise(any_unit.general, units)
    shown = _shown_output(ctx, units)
    return wide.collapse(_head_step(ctx, shown), any_unit, units, compute, shown)


def _shown_output(ctx: Context, units: list[int]) -> int:
    """The output unit a wide output layer writes out: the label's, which the loss reads."""
    return ctx.label if ctx.label is not None else units[0]


def _off(ctx: Context, v: Vec, path: dict[tuple[str, int | None], list[int]]) -> list[StepSpec]:
    on = set(path[key(v)])
    return off_path_steps(ctx, v, [m for m in range(v.width) if m not in on])


def _head_step(ctx: Context, i: int | str) -> StepSpec:
    full, shown, why = head_unit(ctx, i)
    return StepSpec("forward", ctx.model.yhat.at(i), why, shown, full)


def backward(ctx: Context) -> list[StepSpec]:
    """From ∂L/∂ŷ back to ∂L/∂θ, one factor per step, only along the parameter's paths."""
    model = ctx.model
    stages, p = model.stages, model.index(ctx.ref.pos)
    path = ctx.on_path()
    specs = _outputs(ctx, path[key(model.last)])
    for st in reversed(stages[p + 1 :]):
        specs += _back_units(ctx, st, path[key(st.inp)])
    dense = stages[p]
    delta = ctx.grad(dense.out, ctx.ref.j)
    if ctx.ref.k is None:
        specs.append(StepSpec("backward", ctx.dL(), rule("grad_b"), delta))
    else:
        specs.append(
            StepSpec("backward", ctx.dL(), rule("grad_W"), mul(delta, dense.inp.at(ctx.ref.k)))
        )
    return specs


def _output_step(ctx: Context, i: int | str) -> StepSpec:
    general, why = output_grad(ctx.model, i)
    return StepSpec("backward", ctx.grad(ctx.model.last, i), why, general)


def _outputs(ctx: Context, units: list[int]) -> list[StepSpec]:
    """∂L/∂ŷᵢ (δᴸᵢ where the loss owns the head) for the outputs on the paths."""
    if not wide.is_wide(units):
        return [_output_step(ctx, i) for i in units]
    any_unit = _output_step(ctx, wide.LETTER)
    compute = wide.elementwise(any_unit.general, units)
    shown = _shown_output(ctx, units)
    return wide.collapse(_output_step(ctx, shown), any_unit, units, compute, shown)


def _back_units(ctx: Context, st: Stage, units: list[int]) -> list[StepSpec]:
    """∂L/∂(input units) of ``st`` on the paths: per unit, or a wide layer's steps in pairs."""
    if not wide.is_wide(units):
        return [spec for i in units for spec in _back_through(ctx, st, i)]
    specs = []
    for example, any_unit in zip(
        _back_through(ctx, st, units[0]), _back_through(ctx, st, wide.LETTER)
    ):
        if st.kind == "dense":
            compute = wide.dense_backward(st, ctx.grad, units)
        else:
            compute = wide.elementwise(any_unit.general, units)
        specs += wide.collapse(example, any_unit, units, compute)
    return specs


def _back_through(ctx: Context, st: Stage, i: int | str) -> list[StepSpec]:
    """∂L/∂(input unit i) of stage ``st`` from ∂L/∂(its outputs)."""
    lhs = ctx.grad(st.inp, i)
    if st.kind == "activation":
        slope = prime(st.act, st.inp.at(i))
        general = slope_of(st.act, st.inp.at(i), st.out.at(i), st.alpha)
        return [
            StepSpec("backward", slope, prime_rule(st.act), general),
            StepSpec("backward", lhs, rule("chain_act"), mul(ctx.grad(st.out, i), slope)),
        ]
    if st.kind == "dropout":
        if st.pos in ctx.masks_on:
            general = mul(ctx.grad(st.out, i), st.mask_at(i))
            return [StepSpec("backward", lhs, rule("chain_dropout"), general)]
        return [StepSpec("backward", lhs, rule("chain_dropout_off"), ctx.grad(st.out, i))]
    terms = [mul(sym("W", st.layer, r, i), ctx.grad(st.out, r)) for r in range(st.out.width)]
    full, shown = total(terms, R, mul(sym("W", st.layer, "r", i), ctx.grad(st.out, "r")))
    return [StepSpec("backward", lhs, rule("chain_dense"), shown, full)]


def path_count(ctx: Context) -> int:
    stages, p = ctx.model.stages, ctx.model.index(ctx.ref.pos)
    return math.prod(st.out.width for st in stages[p + 1 :] if st.kind == "dense")


def paths(ctx: Context) -> list[StepSpec]:
    """∂L/∂θ = Σ over paths of the product of local derivatives (for a few paths)."""
    count = path_count(ctx)
    if count > MAX_PATHS:
        return []
    stages, p = ctx.model.stages, ctx.model.index(ctx.ref.pos)
    start = [] if ctx.ref.k is None else [stages[p].inp.at(ctx.ref.k)]
    walks = [(ctx.ref.j, start)]
    for st in stages[p + 1 :]:
        nxt = []
        for i, factors in walks:
            if st.kind == "activation":
                nxt.append((i, [*factors, prime(st.act, st.inp.at(i))]))
            elif st.kind == "dropout":
                nxt.append((i, [*factors, st.mask_at(i)] if st.pos in ctx.masks_on else factors))
            else:
                nxt += [(r, [*factors, sym("W", st.layer, r, i)]) for r in range(st.out.width)]
        walks = nxt
    last = ctx.model.last
    products = add(*[mul(*factors, ctx.grad(last, i)) for i, factors in walks])
    why = rule("paths" if count > 1 else "path", count=count)
    return [StepSpec("backward", ctx.dL(), why, abbreviate(products), products)]
