"""What every layer's derivation shares: its setting, the numbers it reads, long sums, the tail.

A layer builder writes steps in symbols (``StepSpec``) and collects, beside them, the numbers its
symbols stand for (``Numbers``), read from the engine's pass (``LayerTape``) and the reference
pass of the layer; ``derive.steps.evaluate`` then puts the numbers in, step by step, so every value
shown is computed from the formula above it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from derive.expr import add, mul, truncated
from derive.layers import reference
from derive.layers.layer_rules import rule
from derive.layers.layer_tape import LayerTape
from derive.layers.param import LayerParam, Node, find
from derive.notation import decode, partial, sym
from derive.rules import Rule
from derive.steps import StepSpec

KEEP = 12  # a sum shows this many terms, then "… N more terms"
EXPAND = 300  # terms beyond this many are added in float64 before SymPy sees the sum
SHOW_TIME = 6  # time steps (and rows) whose formulas are written out; the others are values


class Numbers(dict[sp.Basic, Any]):
    """The numbers a builder's symbols stand for."""

    def put(self, symbol: sp.Basic, value: Any) -> sp.Basic:
        self[symbol] = float(value) if np.ndim(value) == 0 else np.asarray(value)
        return symbol


@dataclass
class LayerContext:
    """One derivation's setting: the engine's pass, the parameter, the sample shown.

    Attributes:
        tape: the engine's pass on a float64 copy; ref: the parameter; node: its layer.
        s: the sample shown; loss; l1, l2: the penalty rates.
        numbers: what every symbol of the steps stands for.
        focus_channel: the channel the parameter acts on (a convolution's output channel, a
            batch norm's channel), whose max-pooling windows the way back writes out.
    """

    tape: LayerTape
    ref: LayerParam
    s: int
    loss: str
    l1: float = 0.0
    l2: float = 0.0
    numbers: Numbers = field(default_factory=Numbers)
    focus_channel: int | None = None  # the channel the parameter acts on, for pooling's routing
    _ids: Any = field(default_factory=itertools.count)
    _passes: dict[Any, Any] = field(default_factory=dict)

    @property
    def node(self) -> Node:
        return find(self.tape.net, self.ref.path)

    @property
    def n(self) -> int:
        return self.tape.n

    @property
    def theta(self) -> sp.Symbol:
        return self.ref.symbol()

    def param(self, node: Node, name: str) -> np.ndarray:
        return node.param(self.tape.net, name)

    def params(self, node: Node) -> dict[str, np.ndarray]:
        return {k: node.param(self.tape.net, k) for k in node.param_names(self.tape.net)}

    def reference(self, node: Node, samples: slice | None = None) -> tuple[Any, Any, Any, Any]:
        """The layer's reference pass on its engine input and the engine's δ at its output:
        (output, forward cache, gradients, backward inner arrays), for ``samples`` (all)."""
        key = (node.path, None if samples is None else (samples.start, samples.stop))
        if key not in self._passes:
            self._passes[key] = self._reference(node, samples)
        return self._passes[key]

    def _reference(self, node: Node, samples: slice | None) -> tuple[Any, Any, Any, Any]:
        pick = samples if samples is not None else slice(None)
        x = self.tape.inputs[node.path][pick]
        mask = self.tape.masks.get(node.path)
        mask = mask[pick] if mask is not None else None
        p = self.params(node)
        y, cache = reference.forward(node.layer, p, x, mask)
        _, grads, inner = reference.backward(
            node.layer, p, cache, self.tape.grad_out[node.path][pick]
        )
        return y, cache, grads, inner

    def rest(self) -> sp.Symbol:
        """A fresh symbol for the sum of a long sum's terms beyond ``EXPAND``."""
        return sym("rest", None, next(self._ids))


@dataclass
class Local:
    """A layer builder's steps: after the layer's forward line, and at the end of the way back
    (ending with the shown sample's part of the gradient, or all of it when ``batch_done``)."""

    forward: list[StepSpec]
    backward: list[StepSpec]
    batch_done: bool = False


def entry(array: sp.Symbol, *index: object) -> sp.Symbol:
    """One entry of a named array: ``entry(a⁰, 1, 2)`` is a⁰₁,₂."""
    n = decode(array.name)
    return sym(n.base, n.sup or None, *n.sub, *index)


def grad(array: sp.Symbol, *index: object) -> sp.Symbol:
    """∂L̄/∂ of an array's entry (or of the whole array with no index)."""
    return partial("Lbar", entry(array, *index) if index else array)


@dataclass
class Terms:
    """A sum in symbols: its first terms (``exprs``), how many it has, the rest's value."""

    exprs: list[sp.Basic]
    total: int
    rest: float = 0.0


def collect(count: int, term: Callable[[int], sp.Basic], value: Callable[[int], float]) -> Terms:
    """Terms 0..count−1: the first ``EXPAND`` as symbols, the others only as their sum."""
    shown = min(count, EXPAND)
    return Terms(
        [term(i) for i in range(shown)], count, float(sum(value(i) for i in range(shown, count)))
    )


def sum_spec(
    ctx: LayerContext,
    part: str,
    lhs: sp.Basic,
    why: Rule,
    terms: Terms,
    extra: Sequence = (),
    scale: sp.Rational | None = None,
) -> StepSpec:
    """``lhs = [scale·](t₁ + t₂ + … N more terms + extra)``; its value is always the whole sum."""
    exprs = list(terms.exprs)
    if terms.total > len(exprs):
        exprs.append(ctx.numbers.put(ctx.rest(), terms.rest))
    full = add(*exprs, *extra) if exprs or extra else sp.S.Zero
    if scale is not None:
        full = mul(scale, full)
    if terms.total <= KEEP:  # written out in full, numbers too
        return StepSpec(part, lhs, why, full, truncate=(KEEP, 0, 0))
    cut = (KEEP, terms.total - KEEP, len(extra))
    general = truncated(add(*terms.exprs[:KEEP], *extra), *cut)
    if scale is not None:
        general = mul(scale, general)
    return StepSpec(part, lhs, why, general, full, truncate=cut)


def given(part: str, lhs: sp.Basic, why: Rule, general: sp.Basic, value: Any) -> StepSpec:
    """A step whose value is read (an array of the engine's pass), not computed here."""
    value = float(value) if np.ndim(value) == 0 else np.asarray(value)
    return StepSpec(part, lhs, why, general, given=value, show_numbers=False)


def arrives(ctx: LayerContext, value: Any) -> StepSpec:
    """δᵏ: what reaches the parameter's layer k from above, as the engine's backward computes it."""
    node = ctx.node
    why = rule("delta_arrives", label=node.sup, kind=node.kind)
    out = partial("Lbar", sym("a", node.sup))
    return given("backward", sym("delta", node.sup), why, out, value)


def sample_part(ctx: LayerContext) -> sp.Symbol:
    """The shown sample's part of ∂L̄/∂θ (the whole of it for a batch of one)."""
    return sym("g", None, ctx.s) if ctx.n > 1 else partial("Lbar", ctx.theta)


def tail(ctx: LayerContext, batch_done: bool) -> list[StepSpec]:
    """From the shown sample's part to the engine's gradient: the other samples, the penalty."""
    specs: list[StepSpec] = []
    of = "Lbar"
    if ctx.n > 1 and not batch_done:
        parts = [
            sample_part(ctx) if i == ctx.s else ctx.numbers.put(sym("g", None, i), _part(ctx, i))
            for i in range(ctx.n)
        ]
        why = rule("batch_sum", n=ctx.n, s=ctx.s)
        specs.append(
            sum_spec(ctx, "backward", partial(of, ctx.theta), why, Terms(parts, len(parts)))
        )
    if ctx.ref.penalised and (ctx.l1 or ctx.l2):
        theta = ctx.numbers.put(ctx.theta, _value(ctx))
        terms = [partial(of, ctx.theta)]
        if ctx.l1:
            terms.append(
                mul(ctx.numbers.put(sym("lambda", None, 1), ctx.l1), sp.sign(theta, evaluate=False))
            )
        if ctx.l2:
            terms.append(mul(ctx.numbers.put(sym("lambda", None, 2), ctx.l2), theta))
        specs.append(
            StepSpec("backward", partial("Lbar+R", ctx.theta), rule("penalty_grad"), add(*terms))
        )
    return specs


def _part(ctx: LayerContext, i: int) -> float:
    """Sample i's part of the gradient: the layer's reference backward on that sample alone
    (with the engine's δ, which already holds whatever couples the samples above the layer)."""
    _, _, grads, _ = ctx.reference(ctx.node, slice(i, i + 1))
    return float(grads[ctx.ref.kind][ctx.ref.index])


def _value(ctx: LayerContext) -> float:
    return float(ctx.tape.net.params[ctx.ref.name][ctx.ref.index])
