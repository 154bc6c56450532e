"""Steps both views share: the loss, the batch mean and the penalty."""

from __future__ import annotations

import sympy as sp

from derive.expr import add, mul, scaled, total
from derive.losses import penalty_expr, penalty_symbols, sample_loss
from derive.notation import partial, sym
from derive.rules import rule
from derive.stack.context import Context
from derive.steps import StepSpec

S = sp.Symbol("s", integer=True)


def loss_steps(ctx: Context) -> list[StepSpec]:
    """L for the shown sample, L̄ over the batch, and the penalty R."""
    full, shown, why = sample_loss(ctx.model, ctx.label)
    L = ctx.loss_symbol
    specs = [StepSpec("loss", L, why, shown, full)]
    if ctx.n > 1:
        terms = [L if s == ctx.s else sym("L", None, s) for s in range(ctx.n)]
        f, shown = total(terms, S, sym("L", None, "s"))
        specs.append(
            StepSpec(
                "loss",
                sym("Lbar"),
                rule("batch_loss", n=ctx.n, s=ctx.s),
                scaled(sp.Rational(1, ctx.n), shown),
                scaled(sp.Rational(1, ctx.n), f),
            )
        )
    if ctx.l1 or ctx.l2:
        specs.append(
            StepSpec("loss", sym("R"), rule("penalty"), penalty_expr(bool(ctx.l1), bool(ctx.l2)))
        )
    return specs


def gradient_tail(ctx: Context) -> list[StepSpec]:
    """From the shown sample's ∂L/∂θ to the engine's: the batch mean, then the penalty."""
    specs = []
    of = "L"
    if ctx.n > 1:
        terms = [ctx.dL() if s == ctx.s else sym("g", None, s) for s in range(ctx.n)]
        f, shown = total(terms, S, sym("g", None, "s"))
        specs.append(
            StepSpec(
                "backward",
                ctx.dL("Lbar"),
                rule("batch_mean", n=ctx.n, s=ctx.s),
                scaled(sp.Rational(1, ctx.n), shown),
                scaled(sp.Rational(1, ctx.n), f),
            )
        )
        of = "Lbar"
    if ctx.ref.kind == "W" and (ctx.l1 or ctx.l2):
        l1, l2, _, _ = penalty_symbols()
        theta = ctx.theta
        terms = [partial(of, theta)]
        if ctx.l1:
            terms.append(mul(l1, sp.sign(theta, evaluate=False)))
        if ctx.l2:
            terms.append(mul(l2, theta))
        specs.append(
            StepSpec("backward", partial(f"{of}+R", theta), rule("penalty_grad"), add(*terms))
        )
    return specs
