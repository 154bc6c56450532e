"""What a derivation is made of: steps as built (symbols), then as evaluated (numbers).

The three stages stay apart. Builders (``derive.stack.index_view``, ``derive.stack.vector_view``,
``derive.update``) return ``StepSpec`` s — symbols and rules, no numbers. ``evaluate`` fills in
the numbers in order, each step's value becoming a number the next steps read, so the gradient at
the end really is the product of the factors printed above it. The printers
(``derive.render``) only format what is here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from derive.expr import SHOW_TERMS, abbreviate, number, substitute, truncated
from derive.layers.param import LayerParam
from derive.notation import component
from derive.rules import Rule
from derive.stack.model import ParamRef

PARTS = ("forward", "loss", "backward", "update")
Value = float | np.ndarray


@dataclass(frozen=True)
class StepSpec:
    """A step as built: what it computes and why, in symbols.

    Attributes:
        part: "forward", "loss", "backward" or "update".
        lhs: the quantity the step gives (z¹₀, ∂L/∂a²₀, δ²₀, θₜ …).
        rule: why it holds.
        general: its expression in symbols, as shown (a long sum may be shown as Σ).
        full: the expression to evaluate when ``general`` is abbreviated; None: ``general``.
        given: the value when it is read rather than computed here (numbers off the weight's
            paths, and the vector form's arrays, come from the float64 tape).
        show_numbers: whether to show ``general`` with the numbers put in.
        gather: symbols whose values, in order, are this step's value (a list of units).
        alias: another name for the same value (a vector written by its components).
        truncate: (keep, hidden, tail): show a long sum's first ``keep`` terms, "… ``hidden``
            more terms", then its last ``tail`` terms; its value is still the whole sum.
        compute: the value as an array, from the values of the steps before (a wide layer's
            units at once, written with a letter for "any unit"); None: from ``general``.
        spread: symbols that take the entries of the value, in order (that layer's units), for
            the steps after it to read one by one.
    """

    part: str
    lhs: sp.Basic
    rule: Rule
    general: sp.Basic
    full: sp.Basic | None = None
    given: Any = None
    show_numbers: bool = True
    gather: tuple[sp.Basic, ...] = ()
    alias: sp.Basic | None = None
    truncate: tuple[int, int, int] | None = None
    compute: Callable[[MutableMapping[sp.Basic, Value]], np.ndarray] | None = None
    spread: tuple[sp.Basic, ...] = ()


@dataclass(frozen=True)
class Step:
    """One line of a derivation: ``lhs = general = substituted = value``, and its rule.

    ``substituted`` has today's numbers in place of the symbols and is left unevaluated so a
    reader sees them (None when a step shows values only); ``value`` is a float, or an array
    for the vector form's vectors and matrices.
    """

    part: str
    lhs: sp.Basic
    rule: Rule
    general: sp.Basic
    substituted: sp.Basic | None
    value: Value

    @property
    def label(self) -> str:
        """The quantity in Unicode, e.g. ``∂L/∂a²₀``."""
        from derive.printers import text

        return text(self.lhs)


@dataclass(frozen=True)
class DirectCheck:
    """The whole loss as one expression, differentiated by SymPy itself (tiny networks only).

    Attributes:
        loss: the shown sample's loss in its inputs, targets and every parameter.
        derivative: SymPy's ``diff`` of ``loss`` by the parameter.
        value: that derivative at today's numbers (mean over the batch, penalty included).
        chain_value: what the chain rule gave (``Derivation.value``).
        shared, reduced: ``derivative`` with its repeated parts named (``sympy.cse``):
            u₁ = …, u₂ = …, then the derivative in them.
    """

    loss: sp.Basic
    derivative: sp.Basic
    value: float
    chain_value: float
    shared: tuple[tuple[sp.Symbol, sp.Basic], ...] = ()
    reduced: sp.Basic | None = None

    @property
    def difference(self) -> float:
        return abs(self.value - self.chain_value)


@dataclass
class Derived:
    """What a pipeline (``derive.stack`` or ``derive.layers``) derives before the update.

    Attributes:
        ref: the parameter; theta: its symbol (the two the update steps read).
        steps: forward, loss and backward, evaluated; the last one's value is the gradient.
        numbers: what every symbol stands for, which the update's numbers join.
        view, network, n, x, y, check: as ``Derivation`` holds them.
    """

    ref: Any
    theta: sp.Symbol
    steps: list[Step]
    numbers: MutableMapping[sp.Basic, Any]
    view: str
    network: str
    n: int
    x: np.ndarray
    y: np.ndarray
    check: DirectCheck | None = None


@dataclass(frozen=True)
class Derivation:
    """The gradient of the loss by one parameter, step by step (see ``derive.derive``).

    Attributes:
        param: the parameter; symbol: its name in the maths (W¹₀,₁).
        view: "index" or "vector" (Dense stacks), "layer" (any other network).
        steps: forward pass, loss, backward chain-rule factors, the gradient, the update.
        value: the gradient, ∂L/∂θ (batch mean, penalty included), as the engine computes it.
        check: SymPy's direct derivative of the whole loss, for tiny networks; else None.
        optimizer: the optimiser whose update is shown, as its repr.
    """

    param: ParamRef | LayerParam
    symbol: sp.Symbol
    loss: str
    view: str
    network: str
    sample: int
    n_samples: int
    x: np.ndarray
    y: np.ndarray
    steps: tuple[Step, ...]
    value: float
    check: DirectCheck | None = None
    optimizer: str = ""

    def part(self, name: str) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.part == name)

    def to_text(self) -> str:
        from derive.render import render

        return render(self, "text")

    def to_unicode(self) -> str:
        from derive.render import render

        return render(self, "unicode")

    def to_latex(self) -> str:
        from derive.render import render

        return render(self, "latex")

    def to_markdown(self) -> str:
        from derive.render import render

        return render(self, "markdown")

    def render(self, fmt: str) -> str:
        """``fmt`` is "text", "unicode", "latex" or "markdown"."""
        from derive.render import render

        return render(self, fmt)


def evaluate(specs: Iterable[StepSpec], env: MutableMapping[sp.Basic, Value]) -> list[Step]:
    """Puts the numbers in, step by step; each value joins ``env`` for the steps after it."""
    steps = []
    for spec in specs:
        shown, value = _evaluate(spec, env)
        for name in (spec.lhs, spec.alias):
            if name is not None:
                _remember(env, name, value)
        for name, entry in zip(spec.spread, np.ravel(value)):
            env[name] = float(entry)
        steps.append(Step(spec.part, spec.lhs, spec.rule, spec.general, shown, value))
    return steps


def _evaluate(
    spec: StepSpec, env: MutableMapping[sp.Basic, Value]
) -> tuple[sp.Basic | None, Value]:
    """A step's numbers put in (as shown; None when it shows values only), and its value."""
    full = spec.full if spec.full is not None else spec.general
    numbers: Any = env
    computed = spec.given is None and not spec.gather and spec.compute is None
    if computed and spec.truncate is None and _long(full):
        # a long sum: only the terms shown get numbers put in; the value is added up in floats
        shown = substitute(abbreviate(full), numbers) if spec.show_numbers else None
        return shown, _float_value(full, env)
    substituted_full = substitute(full, numbers) if spec.show_numbers or computed else None
    value: Value
    if spec.compute is not None:
        value = spec.compute(env)
    elif spec.gather:
        value = np.array([env[g] for g in spec.gather], dtype=np.float64)
    elif spec.given is not None:
        value = spec.given
    else:
        assert substituted_full is not None
        value = number(substituted_full)
    shown = None
    if spec.show_numbers and substituted_full is not None:
        shown = (
            truncated(substituted_full, *spec.truncate)
            if spec.truncate
            else abbreviate(substituted_full)
        )
    return shown, value


def _long(expr: sp.Basic) -> bool:
    """Whether ``expr`` holds a sum of more terms than are shown."""
    return any(
        isinstance(e, sp.Add) and len(e.args) > SHOW_TERMS for e in sp.preorder_traversal(expr)
    )


def _float_value(expr: sp.Basic, env: MutableMapping[sp.Basic, Value]) -> float:
    """``number(substitute(expr, env))`` in Python floats where the expression is sums,
    products and powers: the same float64 operations in the same order (SymPy's 53-bit Floats
    round as float64 does), without building hundreds of SymPy numbers. Anything else (an
    activation, exp, a bracket) goes through SymPy as before."""
    if isinstance(expr, sp.Symbol) and expr in env:
        return float(env[expr])
    if expr.is_Number:
        return float(expr)
    if isinstance(expr, sp.Add):
        out = 0.0
        for term in expr.args:
            out += _float_value(term, env)
        return out
    if isinstance(expr, sp.Mul):
        out = 1.0
        for factor in expr.args:
            out *= _float_value(factor, env)
        return out
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer:
        return _float_value(expr.base, env) ** int(expr.exp)
    numbers: Any = env
    return number(substitute(expr, numbers))


def _remember(env: MutableMapping[sp.Basic, Value], name: sp.Basic, value: Value) -> None:
    """Stores a value; a column vector's entries also under their own symbols (δ¹ → δ¹₀)."""
    env[name] = value
    if isinstance(name, sp.MatrixSymbol) and isinstance(value, np.ndarray) and value.shape[1] == 1:
        for i, entry in enumerate(value[:, 0]):
            env[component(name, i)] = float(entry)
