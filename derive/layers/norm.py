"""Batch and layer normalisation: μ, σ², x̂, the gradients of γ and β, the three-term formula.

Batch norm normalises each channel over the whole batch (and the pixels), so its γ's gradient is
a sum over every sample at once; layer norm normalises each row (a sample, or one position of a
sequence) over its features, so each sample's rows give its part. Both pass down
∂L̄/∂x in three terms — the direct path, the path through μ and the one through σ² — written out
for one entry with numbers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import sympy as sp

from derive.expr import add, div, mul, neg, power, sub
from derive.layers import reference
from derive.layers.derivations import LayerDerivation, register
from derive.layers.layer_context import (
    LayerContext,
    Local,
    arrives,
    collect,
    entry,
    grad,
    sample_part,
    sum_spec,
)
from derive.layers.layer_rules import rule
from derive.layers.param import Node, input_symbol, output_symbol
from derive.notation import partial, spelled, sym
from derive.rules import Rule
from derive.steps import StepSpec


class Norm:
    """Where one normalisation group's values sit: their indices and the symbols of its numbers.

    For batch norm the group is channel c over (sample i, pixel j); for layer norm it is one row
    over its features k.
    """

    def __init__(self, ctx: LayerContext, node: Node, key: int, row: tuple[int, ...] = ()) -> None:
        self.ctx, self.node, self.key, self.row = ctx, node, key, row
        self.batch = node.kind == "BatchNorm"
        self.label = node.sup
        self.inp, self.out = input_symbol(node.path), output_symbol(node.path)
        _, self.cache, self.grads, _ = ctx.reference(node)
        x = ctx.tape.inputs[node.path]
        self.spatial = x.shape[2:] if self.batch else ()
        self.eps = float(node.layer.eps)

    def places(self) -> list[tuple[int, ...]]:
        """The group's entries, as indices into the layer's input array."""
        if self.batch:
            n = self.ctx.n
            pixels = list(np.ndindex(*self.spatial)) if self.spatial else [()]
            return [(i, self.key, *p) for i in range(n) for p in pixels]
        d = self.ctx.tape.inputs[self.node.path].shape[-1]
        return [(self.ctx.s, *self.row, k) for k in range(d)]

    def xhat(self, place: tuple[int, ...]) -> float:
        xh = self.cache["xhat"]
        if self.batch:
            i, c, *pixel = place
            j = int(np.ravel_multi_index(pixel, self.spatial)) if pixel else 0
            return float(xh[i, c, j])
        rows = self.ctx.tape.inputs[self.node.path].shape[1:-1]
        r = place[0] * int(np.prod(rows)) + (
            int(np.ravel_multi_index(place[1:-1], rows)) if rows else 0
        )
        return float(xh[r, place[-1]])

    def symbol(self, base: str) -> sp.Symbol:
        """μ, σ², Σδ … of this group: indexed by the channel, or by the row."""
        return sym(base, self.label, *((self.key,) if self.batch else self.row))

    def x(self, place: tuple[int, ...]) -> sp.Symbol:
        return self.ctx.numbers.put(
            entry(self.inp, *place), self.ctx.tape.inputs[self.node.path][place]
        )

    def xh(self, place: tuple[int, ...]) -> sp.Symbol:
        return self.ctx.numbers.put(sym("xhat", self.label, *place), self.xhat(place))

    def delta(self, place: tuple[int, ...]) -> sp.Symbol:
        value = self.ctx.tape.grad_out[self.node.path][place]
        return self.ctx.numbers.put(sym("delta", self.label, *place), value)

    def g(self, place: tuple[int, ...]) -> sp.Basic:
        """What the sums add up: δ (batch norm), or g = δγ (layer norm)."""
        return self.delta(place) if self.batch else mul(self.delta(place), self.gamma(place[-1]))

    def g_value(self, place: tuple[int, ...]) -> float:
        value = float(self.ctx.tape.grad_out[self.node.path][place])
        return value if self.batch else value * float(self.ctx.param(self.node, "gamma")[place[-1]])

    def gamma(self, k: int) -> sp.Symbol:
        return self.ctx.numbers.put(
            sym("gamma", self.label, k), self.ctx.param(self.node, "gamma")[k]
        )

    def epsilon(self) -> sp.Symbol:
        return self.ctx.numbers.put(sym("epsilon"), self.eps)

    def stats(self) -> None:
        """μ and σ² of the group as numbers (for a layer the parameter is not in)."""
        mu, var = self.cache["mu"], self.cache["var"]
        index = (0, self.key, 0) if self.batch else (self._row_index(), 0)
        self.ctx.numbers.put(self.symbol("mu"), mu[index])
        self.ctx.numbers.put(self.symbol("sigma2"), var[index])

    def _row_index(self) -> int:
        rows = self.ctx.tape.inputs[self.node.path].shape[1:-1]
        inner = int(np.ravel_multi_index(self.row, rows)) if rows else 0
        return self.ctx.s * int(np.prod(rows)) + inner


def _over(nm: Norm) -> str:
    if nm.batch:
        return (
            f"channel {nm.key} over the batch and the pixels"
            if nm.spatial
            else f"feature {nm.key} over the batch"
        )
    return "each row (sample, position) over its features"


def statistics(nm: Norm) -> list[StepSpec]:
    """μ and σ² of the group, from every value in it; then x̂ and y of the first shown entry."""
    places, ctx = nm.places(), nm.ctx
    m, scale = len(places), sp.Rational(1, len(places))
    mu, var = nm.symbol("mu"), nm.symbol("sigma2")
    x = ctx.tape.inputs[nm.node.path]
    mean = float(np.mean([x[p] for p in places]))
    what = "batch norm" if nm.batch else "layer norm"
    values = collect(m, lambda i: nm.x(places[i]), lambda i: x[places[i]])
    squares = collect(
        m, lambda i: power(sub(nm.x(places[i]), mu), 2), lambda i: (x[places[i]] - mean) ** 2
    )
    why = rule("norm_mean", what=what, over=_over(nm), m=m)
    specs = [
        sum_spec(ctx, "forward", mu, why, values, scale=scale),
        sum_spec(ctx, "forward", var, rule("norm_var"), squares, scale=scale),
    ]
    first = next(p for p in places if p[0] == ctx.s)
    xh = sym("xhat", nm.label, *first)
    general = div(sub(nm.x(first), mu), power(add(var, nm.epsilon()), sp.S.Half))
    specs.append(StepSpec("forward", xh, rule("norm_xhat", eps=nm.eps), general))
    k = first[1] if nm.batch else first[-1]
    beta = ctx.numbers.put(sym("beta", nm.label, k), ctx.param(nm.node, "beta")[k])
    y = add(mul(nm.gamma(k), xh), beta)
    return [*specs, StepSpec("forward", entry(nm.out, *first), rule("norm_out"), y)]


def three_term(
    nm: Norm, place: tuple[int, ...], sums: tuple[sp.Symbol, sp.Symbol], lhs: sp.Symbol
) -> StepSpec:
    """∂L̄/∂x of one entry (named ``lhs``) from the group's two sums."""
    s1, s2 = sums
    var, eps = nm.symbol("sigma2"), nm.epsilon()
    root = power(add(var, eps), sp.S.Half)
    xh = nm.xh(place)
    if nm.batch:
        m = len(nm.places())
        bracket = add(mul(sp.Integer(m), nm.delta(place)), neg(s1), neg(mul(xh, s2)))
        general = mul(div(nm.gamma(nm.key), mul(sp.Integer(m), root)), bracket)
        why = rule("bn_three_term")
    else:
        d = sp.Integer(len(nm.places()))
        g = mul(nm.delta(place), nm.gamma(place[-1]))
        general = div(add(g, neg(div(s1, d)), neg(mul(xh, div(s2, d)))), root)
        why = rule("ln_three_term")
    return StepSpec("backward", lhs, why, general)


_SUMS = {  # the group's two sums: names, what is summed, and what each sum also is
    True: (
        ("sumdelta", "sumdeltaxhat"),
        (("δ", r"\delta"), ("δx̂", r"\delta\hat x")),
        (
            ("  — this is ∂L̄/∂β, as ∂y/∂β = 1", r" --- this is $\partial\bar L/\partial\beta$"),
            ("  — this is ∂L̄/∂γ, as ∂y/∂γ = x̂", r" --- this is $\partial\bar L/\partial\gamma$"),
        ),
    ),
    False: (
        ("sumg", "sumgxhat"),
        (("g = δγ", r"g = \delta\gamma"), ("g x̂", r"g \hat x")),
        (("", ""), ("", "")),
    ),
}


def sums(nm: Norm) -> tuple[list[StepSpec], tuple[sp.Symbol, sp.Symbol]]:
    """Σδ and Σδx̂ (batch norm) or Σg and Σgx̂ with g = δγ (layer norm) over the group."""
    places, ctx = nm.places(), nm.ctx
    m = len(places)
    names, whats, notes = _SUMS[nm.batch]
    first = collect(m, lambda i: nm.g(places[i]), lambda i: nm.g_value(places[i]))
    second = collect(
        m,
        lambda i: mul(nm.g(places[i]), nm.xh(places[i])),
        lambda i: nm.g_value(places[i]) * nm.xhat(places[i]),
    )
    specs, symbols = [], []
    for name, terms, what, note in zip(names, (first, second), whats, notes):
        symbol = nm.symbol(name)
        why = rule("norm_sum_delta", g=what, m=m, of=note)
        specs.append(sum_spec(ctx, "backward", symbol, why, terms))
        symbols.append(symbol)
    return specs, (symbols[0], symbols[1])


def local(ctx: LayerContext) -> Local:
    """∂L̄/∂γ or ∂L̄/∂β of a batch norm's channel or a layer norm's feature."""
    node, ref = ctx.node, ctx.ref
    key = ref.index[0]
    batch = node.kind == "BatchNorm"
    if batch:
        ctx.focus_channel = key
    row = tuple(0 for _ in ctx.tape.inputs[node.path].shape[1:-1])
    nm = Norm(ctx, node, key, row)
    forward = statistics(nm)
    arrive = arrives(ctx, ctx.tape.grad_out[node.path][ctx.s])
    if batch:
        sum_specs, pair = sums(nm)
        first = next(p for p in nm.places() if p[0] == ctx.s)
        gamma = ref.kind == "gamma"
        text = ("Σδx̂", r"\sum\delta\hat x") if gamma else ("Σδ", r"\sum\delta")
        why = rule("norm_grad", param=spelled(ctx.theta), sum=text)
        last = StepSpec("backward", partial("Lbar", ctx.theta), why, pair[1] if gamma else pair[0])
        down = three_term(nm, first, pair, grad(nm.inp, *first))
        return Local(forward, [arrive, *sum_specs, down, last], batch_done=True)
    return Local(forward, [arrive, *_layernorm_backward(ctx, nm)])


def _layernorm_backward(ctx: LayerContext, nm: Norm) -> list[StepSpec]:
    """Σg, Σgx̂ and the three-term formula of the first row, then γ_j's (β_j's) sum over rows."""
    sum_specs, pair = sums(nm)
    j = ctx.ref.index[0]
    place = (ctx.s, *nm.row, j)
    specs = [*sum_specs, three_term(nm, place, pair, grad(nm.inp, *place[1:]))]
    x = ctx.tape.inputs[nm.node.path]
    rows = list(np.ndindex(*x.shape[1:-1])) if x.ndim > 2 else [()]
    g = ctx.tape.grad_out[nm.node.path]
    gamma = ctx.ref.kind == "gamma"

    def term(i: int) -> sp.Basic:
        place = (ctx.s, *rows[i], j)
        return mul(nm.delta(place), nm.xh(place)) if gamma else nm.delta(place)

    def value(i: int) -> float:
        place = (ctx.s, *rows[i], j)
        return float(g[place] * (nm.xhat(place) if gamma else 1.0))

    text = (
        ("Σ_r δ_rj x̂_rj", r"\sum_r \delta_{rj}\hat x_{rj}")
        if gamma
        else ("Σ_r δ_rj", r"\sum_r \delta_{rj}")
    )
    why = rule("norm_grad", param=spelled(ctx.theta), sum=text)
    return [
        *specs,
        sum_spec(ctx, "backward", sample_part(ctx), why, collect(len(rows), term, value)),
    ]


def batchnorm_through(
    ctx: LayerContext, node: Node, e: tuple[int, ...], target: Any
) -> list[StepSpec]:
    """The three-term formula for one entry of a batch norm the parameter lies below."""
    return _through(Norm(ctx, node, e[0]), (ctx.s, *e), target(*e))


def layernorm_through(
    ctx: LayerContext, node: Node, e: tuple[int, ...], target: Any
) -> list[StepSpec]:
    return _through(Norm(ctx, node, 0, e[:-1]), (ctx.s, *e), target(*e))


def _through(nm: Norm, place: tuple[int, ...], lhs: sp.Symbol) -> list[StepSpec]:
    nm.stats()
    g = nm.ctx.tape.grad_out[nm.node.path]
    places = nm.places()
    if nm.batch:
        s1 = float(sum(g[p] for p in places))
        s2 = float(sum(g[p] * nm.xhat(p) for p in places))
        names = ("sumdelta", "sumdeltaxhat")
    else:
        gamma = nm.ctx.param(nm.node, "gamma")
        s1 = float(sum(g[p] * gamma[p[-1]] for p in places))
        s2 = float(sum(g[p] * gamma[p[-1]] * nm.xhat(p) for p in places))
        names = ("sumg", "sumgxhat")
    pair = (
        nm.ctx.numbers.put(nm.symbol(names[0]), s1),
        nm.ctx.numbers.put(nm.symbol(names[1]), s2),
    )
    step = three_term(nm, place, pair, lhs)
    head = f"layer {nm.label}, at its largest entry (an example): "
    why = Rule(step.rule.key, head + step.rule.text, head + step.rule.latex)
    return [replace(step, rule=why)]


_THREE = ("the three-term formula, every entry",) * 2
register(
    LayerDerivation(
        "BatchNorm",
        reference.batchnorm_forward,
        reference.batchnorm_backward,
        how=_THREE,
        back="batchnorm_back",
        local=local,
        through=batchnorm_through,
    ),
    LayerDerivation(
        "LayerNorm",
        reference.layernorm_forward,
        reference.layernorm_backward,
        how=_THREE,
        back="layernorm_back",
        local=local,
        through=layernorm_through,
    ),
)
