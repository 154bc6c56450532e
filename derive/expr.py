"""Unevaluated SymPy expressions: built as written, filled with numbers, evaluated on request.

A derivation shows each expression three times — symbols, numbers, value — so the expressions
are built with ``evaluate=False``: SymPy then keeps the factors and terms in the order written and
does not fold ``0.3·1 + 0.1`` into ``0.4`` while a reader still needs to see it. Only ``value``
evaluates, through ``doit`` (each activation class evaluates itself on numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import sympy as sp
from sympy.core.parameters import evaluate

from derive.notation import ELLIPSIS

SHOW_TERMS = 8  # sums with more terms are shown abbreviated: three, ⋯, two


def add(*terms: sp.Basic) -> sp.Basic:
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def mul(*factors: sp.Basic) -> sp.Basic:
    factors = tuple(f for f in factors if f is not sp.S.One) or (sp.S.One,)
    return factors[0] if len(factors) == 1 else sp.Mul(*factors, evaluate=False)


def neg(a: sp.Basic) -> sp.Basic:
    return sp.Mul(sp.S.NegativeOne, a, evaluate=False)


def sub(a: sp.Basic, b: sp.Basic) -> sp.Basic:
    return add(a, neg(b))


def div(a: sp.Basic, b: sp.Basic) -> sp.Basic:
    return sp.Mul(a, sp.Pow(b, -1, evaluate=False), evaluate=False)


def power(a: sp.Basic, e: int | sp.Basic) -> sp.Basic:
    return sp.Pow(a, sp.Integer(e) if isinstance(e, int) else e, evaluate=False)


def scaled(coefficient: sp.Rational, expr: sp.Basic) -> sp.Basic:
    """``coefficient · expr``, leaving out a coefficient of 1."""
    return expr if coefficient == 1 else mul(coefficient, expr)


def total(terms: Sequence[sp.Basic], index: sp.Symbol, term: sp.Basic) -> tuple[sp.Basic, sp.Basic]:
    """A sum written out (to evaluate) and as shown: out in full, or Σ over ``index`` if long."""
    full = add(*terms)
    if len(terms) <= SHOW_TERMS:
        return full, full
    return full, sp.Sum(term, (index, 0, len(terms) - 1))


def substitute(expr: sp.Basic, values: Mapping[sp.Basic, float]) -> sp.Basic:
    """``expr`` with each known symbol replaced by its number, nothing evaluated."""
    repl = {}
    for s in expr.free_symbols:
        if isinstance(s, sp.Symbol):
            try:
                repl[s] = _number_atom(values[s])
            except KeyError:
                continue
    repl.update(
        {m: sp.ImmutableMatrix(values[m]) for m in expr.atoms(sp.MatrixSymbol) if m in values}
    )
    with evaluate(False):
        return _fold_signs(expr.xreplace(repl))


class Paren(sp.Expr):
    """A number shown in parentheses, ``−(−0.3)``; ``doit`` gives the number back."""

    is_commutative = True

    def doit(self, **hints: object) -> sp.Basic:
        return self.args[0]

    def _eval_evalf(self, prec: int) -> sp.Basic:
        return self.args[0]._eval_evalf(prec)


class More(sp.Expr):
    """Stands for the terms of a long sum that are not shown: ``… 52 more terms``.

    Only ever part of a shown form; the value always comes from the whole sum.
    """

    is_commutative = True

    @property
    def count(self) -> int:
        return int(self.args[0])


def truncated(expr: sp.Basic, keep: int, hidden: int, tail: int = 0) -> sp.Basic:
    """An unevaluated sum as its first ``keep`` terms, "… hidden more terms", its last ``tail``."""
    if isinstance(expr, sp.Mul) and hidden > 0:  # a scaled sum, (1/m)·(x₁ + x₂ + …)
        args = [truncated(a, keep, hidden, tail) if a.is_Add else a for a in expr.args]
        return sp.Mul(*args, evaluate=False)
    if not isinstance(expr, sp.Add) or hidden <= 0:
        return expr
    args = expr.args
    last = args[len(args) - tail :] if tail else ()
    return sp.Add(*args[:keep], More(sp.Integer(hidden)), *last, evaluate=False)


def _fold_signs(expr: sp.Basic) -> sp.Basic:
    """Numbers put in as a reader writes them: −1·0.6 becomes −0.6 (``1 − 0.6``), and a
    negative number inside a product or under a power gets parentheses: 0.2·(−0.3), (−0.5)²."""
    if not expr.args or isinstance(expr, sp.MatrixBase):
        return expr
    args = [_fold_signs(a) for a in expr.args]
    if isinstance(expr, sp.Mul) and len(args) == 2 and args[0] is sp.S.NegativeOne:
        x = args[1]
        if x.is_Number:
            if x > 0:
                return -x
            if x < 0:
                return sp.Mul(sp.S.NegativeOne, Paren(x), evaluate=False)
    if isinstance(expr, sp.Mul):
        args = [args[0], *(_bracket(a) for a in args[1:])]
    elif isinstance(expr, sp.Pow):
        args = [_bracket(args[0]), args[1]]
    if all(x is y for x, y in zip(args, expr.args)):
        return expr
    with evaluate(False):
        return expr.func(*args)


def _bracket(x: sp.Basic) -> sp.Basic:
    return Paren(x) if x.is_Number and x < 0 else x


def _number_atom(value: object) -> sp.Basic:
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    return sp.Float(float(value))  # type: ignore[arg-type]


def abbreviate(expr: sp.Basic) -> sp.Basic:
    """A long unevaluated sum as its first three terms, ⋯, and its last two.

    A sum already cut short ("… 52 more terms", ``truncated``) keeps its first three terms and
    counts the ones left out with the rest: "… 61 more terms", then what followed.
    """
    if isinstance(expr, sp.Add) and len(expr.args) > SHOW_TERMS:
        a = expr.args
        cut = next((i for i, x in enumerate(a) if isinstance(x, More)), None)
        if cut is not None:
            if cut <= 3:
                return expr
            hidden = More(sp.Integer(a[cut].count + cut - 3))
            return sp.Add(*a[:3], hidden, *a[cut + 1 :], evaluate=False)
        return sp.Add(*a[:3], ELLIPSIS, *a[-2:], evaluate=False)
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)) or (isinstance(expr, sp.Function) and expr.args):
        args = [abbreviate(a) for a in expr.args]
        if any(x is not y for x, y in zip(args, expr.args)):
            return expr.func(*args, evaluate=False)
    return expr


def number(expr: sp.Basic) -> float:
    """The value of an expression whose symbols have all been replaced by numbers.

    ``doit`` evaluates in SymPy Floats of 53 bits, operation by operation like float64, so
    1 − 1.0 is 0 (``evalf`` would chase the cancellation and may return a tiny residue).
    """
    value = expr.doit()
    if value.free_symbols:
        raise ValueError(f"{expr} still has symbols {value.free_symbols}")
    return float(value)
