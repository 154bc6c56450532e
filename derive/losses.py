"""The losses as SymPy expressions: per output, per sample, and their first derivative.

Reductions are the engine's (PyTorch's): the mean over a sample's N outputs (over samples too,
which ``derive`` shows as its own step); cross-entropy sums over classes. The derivative forms
are the ones a student is shown, the fused ones included (softmax + cross-entropy → ŷ − y);
the tests check each against SymPy's ``diff`` of the loss.
"""

from __future__ import annotations

import sympy as sp

from derive.activations import sigmoid
from derive.expr import add, div, mul, neg, power, scaled, sub, total
from derive.functions import huber, huber_grad, log_clamped
from derive.notation import sym
from derive.rules import Rule, rule
from derive.stack.model import Model
from engine.losses import LOSSES


def element_loss(loss: str, yhat: sp.Basic, y: sp.Basic, delta: float = 1.0) -> sp.Basic:
    """ℓ(ŷ, y) of one output; for BCE-with-logits ``yhat`` is the logit z and ŷ = σ(z)."""
    if loss == "mse":
        return (yhat - y) ** 2
    if loss == "huber":
        return huber(yhat - y, sp.Float(delta))
    if loss == "bce_logits":
        yhat = sigmoid(yhat)
    if loss in ("bce", "bce_logits"):
        return -(y * log_clamped(yhat) + (1 - y) * log_clamped(1 - yhat))
    raise ValueError(f"{loss!r} has no per-output form (cross-entropy couples the outputs)")


def shown_term(loss: str, yhat: sp.Basic, y: sp.Basic, delta: float) -> sp.Basic:
    """ℓ(ŷ, y) as written (unevaluated); BCE's minus sign and 1/N stay outside."""
    if loss == "mse":
        return power(sub(yhat, y), 2)
    if loss == "huber":
        return huber(sub(yhat, y), sp.Float(delta), evaluate=False)
    return add(
        mul(y, log_clamped(yhat, evaluate=False)),
        mul(sub(sp.S.One, y), log_clamped(sub(sp.S.One, yhat), evaluate=False)),
    )


def sample_loss(model: Model, label: int | None) -> tuple[sp.Basic, sp.Basic, Rule]:
    """One sample's loss L in ŷ and y: (expression to evaluate, expression shown, rule)."""
    loss, width = model.loss, model.yhat.width
    info = LOSSES[loss]
    if loss == "cross_entropy":
        assert label is not None
        expr = neg(sp.log(model.yhat.at(label), evaluate=False))
        return expr, expr, rule("loss_cross_entropy", label=label)
    terms = [shown_term(loss, model.yhat.at(i), model.y.at(i), info.delta) for i in range(width)]
    i = sp.Symbol("i|||", integer=True)
    full, shown = total(terms, i, shown_term(loss, model.yhat.at("i"), model.y.at("i"), info.delta))
    coefficient = sp.Rational(1, width)
    key = {"mse": "loss_mse", "huber": "loss_huber"}.get(loss, "loss_bce")
    outputs = "its one output" if width == 1 else f"the {width} outputs"
    the_rule = rule(key, N=outputs, delta=info.delta)
    if loss in ("bce", "bce_logits"):
        return neg(scaled(coefficient, full)), neg(scaled(coefficient, shown)), the_rule
    return scaled(coefficient, full), scaled(coefficient, shown), the_rule


def output_grad(model: Model, i: int | str) -> tuple[sp.Basic, Rule]:
    """∂L/∂ŷᵢ (or ∂L/∂zᵢ where the loss owns the head) and its rule."""
    loss, width = model.loss, model.yhat.width
    yhat, y = model.yhat.at(i), model.y.at(i)
    coefficient = sp.Rational(1, width)
    if loss == "cross_entropy":
        return sub(yhat, y), rule("grad_cross_entropy")
    if loss == "bce_logits":
        return scaled(coefficient, sub(yhat, y)), rule("grad_bce_logits")
    if loss == "mse":
        return mul(sp.Rational(2, width), sub(yhat, y)), rule("grad_mse")
    if loss == "huber":
        grad = huber_grad(sub(yhat, y), sp.Float(LOSSES[loss].delta), evaluate=False)
        return scaled(coefficient, grad), rule("grad_huber")
    return scaled(coefficient, bce_grad(yhat, y)), rule("grad_bce")


def bce_grad(yhat: sp.Basic, y: sp.Basic) -> sp.Basic:
    """∂ℓ/∂ŷ of binary cross-entropy as the engine (and PyTorch) computes it:
    (ŷ − y)/max(ŷ(1 − ŷ), 10⁻¹²), which is −y/ŷ + (1 − y)/(1 − ŷ) wherever that is finite."""
    denominator = sp.Max(mul(yhat, sub(sp.S.One, yhat)), sp.Float(1e-12), evaluate=False)
    return div(sub(yhat, y), denominator)


def penalty_symbols() -> tuple[sp.Symbol, sp.Symbol, sp.Symbol, sp.Symbol]:
    """λ₁, λ₂ and the sums Σ|W|, ΣW² the penalty step is written in."""
    return sym("lambda", None, 1), sym("lambda", None, 2), sym("sumabsW"), sym("sumsqW")


def penalty_expr(with_l1: bool = True, with_l2: bool = True) -> sp.Basic:
    """R = λ₁Σ|W| + ½λ₂ΣW², leaving out a term whose rate is 0."""
    l1, l2, s1, s2 = penalty_symbols()
    terms = ([mul(l1, s1)] if with_l1 else []) + (
        [mul(sp.Rational(1, 2), l2, s2)] if with_l2 else []
    )
    return add(*terms)
