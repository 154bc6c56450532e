"""Checks a formula a learner typed against the answer, with a hint aimed at the slip made.

::

    from derive.formula import check_formula
    v = check_formula("(yhat - y)*x", "x*(yhat-y)", ["yhat", "y", "x"])
    v.correct, v.kind, v.message      # True, "right", "Right: ..."

Both texts are read by ``derive.formula_parser`` (a whitelist parser: never ``eval`` or
``sympify``). Two formulas are the same when SymPy cancels their difference to 0 (tried on small
expressions only, where it is quick), and otherwise when they agree at seeded random points,
evaluated to 30 digits: numbers decide where algebra gives up. A wrong formula is compared with
the answer the same way, through the ratio of the two, to name the slip: a sign, a constant, a
missing or extra factor, the activation's derivative σ′ forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations_with_replacement

import numpy as np
import sympy as sp

from derive.formula_parser import FUNCTIONS, FormulaError, parse_formula, read_formula

__all__ = ["KINDS", "FormulaError", "Verdict", "check_formula", "parse_formula", "plain_text"]

KINDS = (
    "right",
    "sign",
    "constant",
    "missing_factor",
    "extra_factor",
    "activation_derivative",
    "wrong",
    "unknown_name",
    "implicit_multiplication",
    "syntax",
    "too_big",
)
"""What a ``Verdict`` may say: right, a slip in a formula that reads, or why it does not read."""

POINTS = 24  # random points the two formulas are compared at
MIN_POINTS = 6  # points where the answer is defined that a verdict needs
SEED = 20_241_205
RTOL = 1e-8


@dataclass(frozen=True)
class Verdict:
    """What the checker says about one typed formula.

    Attributes:
        correct: whether it equals the answer.
        message: praise, or a hint that names the slip (never the whole answer).
        kind: one of ``KINDS``: "right"; a slip ("sign", "constant", "missing_factor",
            "extra_factor", "activation_derivative", "wrong"); or why the text was refused
            ("unknown_name", "implicit_multiplication", "syntax", "too_big").
        factor: the factor missing or extra, in plain text ("x", "2",
            "sigmoid(z)*(1-sigmoid(z))"), for the slips that have one; else "".
    """

    correct: bool
    message: str
    kind: str
    factor: str = ""


def check_formula(typed: str, answer: str, variables: Sequence[str]) -> Verdict:
    """Whether ``typed`` equals ``answer`` as formulas in ``variables``, and a hint if not.

    ``answer`` must read (a lesson's loader checks it with ``parse_formula``); ``typed`` may be
    anything: what cannot be read gets a verdict saying why, and is never evaluated.
    """
    expected, answer_calls = read_formula(answer, variables)
    try:
        given, typed_calls = read_formula(typed, variables)
    except FormulaError as exc:
        return Verdict(False, f"{_sentence(exc.message)} {_sentence(exc.hint)}".strip(), exc.kind)
    if _cancels(given - expected):
        return Verdict(True, "Right.", "right")
    symbols = [sp.Symbol(name, real=True) for name in variables]
    points = _points(symbols)
    want = _values(expected, points)
    have = _values(given, points)
    # compared where both are defined: log(x*w) and log(x) + log(w) differ only where x < 0
    usable = [i for i, (h, w) in enumerate(zip(have, want)) if h is not None and w is not None]
    if len(usable) >= MIN_POINTS and all(_close(have[i], want[i]) for i in usable):
        return Verdict(True, "Right.", "right")
    return _slip(given, expected, symbols, points, usable, have, want, answer_calls + typed_calls)


# --------------------------------------------------------------------------- equality


def _cancels(difference: sp.Expr) -> bool:
    """SymPy's proof that a difference is 0, tried only where it is cheap (small, low powers)."""
    if difference == 0:
        return True
    if sp.count_ops(difference) > 40 or any(
        p.exp.is_Number and abs(p.exp) > 6 for p in difference.atoms(sp.Pow)
    ):
        return False
    return bool(sp.cancel(difference) == 0)


def _points(symbols: Sequence[sp.Symbol]) -> list[dict[sp.Symbol, float]]:
    """Seeded points: the first half with every variable positive (log, sqrt are defined)."""
    rng = np.random.default_rng(SEED)
    size = rng.uniform(0.2, 2.5, (POINTS, len(symbols)))
    sign = np.where(rng.random((POINTS, len(symbols))) < 0.5, -1.0, 1.0)
    sign[: POINTS // 2] = 1.0
    return [dict(zip(symbols, (size * sign)[i].tolist())) for i in range(POINTS)]


def _values(expr: sp.Expr, points: Iterable[dict[sp.Symbol, float]]) -> list[float | None]:
    """The expression at each point to 30 digits, None where it is undefined or not real."""
    out: list[float | None] = []
    for point in points:
        value = expr.evalf(30, subs=point)
        ok = value.is_Number and value.is_real and value.is_finite
        number = float(value) if ok else None
        out.append(number if number is not None and np.isfinite(number) else None)
    return out


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return False
    return abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-12


# --------------------------------------------------------------------------- slips


def _slip(
    given: sp.Expr,
    expected: sp.Expr,
    symbols: Sequence[sp.Symbol],
    points: list[dict[sp.Symbol, float]],
    usable: list[int],
    have: list[float | None],
    want: list[float | None],
    calls: list[tuple[str, sp.Expr]],
) -> Verdict:
    """Names the slip from the ratio answer / typed at the points where both are non-zero."""
    both = [i for i in usable if have[i] != 0 and want[i] != 0]
    ratio = [want[i] / have[i] for i in both]  # type: ignore[operator]
    if len(both) >= MIN_POINTS:
        if all(_close(r, -1.0) for r in ratio):
            return Verdict(False, "Almost: the sign is wrong.", "sign")
        if all(_close(r, ratio[0]) for r in ratio) and not _close(ratio[0], 1.0):
            return _constant(ratio[0])
        for text, factor, kind in _factors(symbols, calls):
            values = _values(factor, [points[i] for i in both])
            if all(_close(v, r) for v, r in zip(values, ratio)):
                return _missing(text, kind)
            if all(v is not None and v != 0 and _close(1 / v, r) for v, r in zip(values, ratio)):
                return Verdict(
                    False,
                    f"Close: your formula has an extra factor {text}; take it out.",
                    "extra_factor",
                    text,
                )
    return Verdict(False, _wrong(given, expected), "wrong")


def _constant(ratio: float) -> Verdict:
    """The typed formula is the answer times 1/``ratio``: name the factor lost or added."""
    sign = " and the sign is wrong" if ratio < 0 else ""
    c = Fraction(abs(ratio)).limit_denominator(1000)
    if c.denominator == 1:
        text = str(c.numerator)
        return Verdict(
            False, f"Close: a constant factor {text} is missing{sign}.", "constant", text
        )
    if c.numerator == 1:
        text = str(c.denominator)
        return Verdict(
            False, f"Close: your formula has an extra factor {text}{sign}.", "constant", text
        )
    return Verdict(
        False,
        f"Close: your formula is off by a constant factor{sign}; check the numbers in it.",
        "constant",
        f"{c.numerator}/{c.denominator}",
    )


def _missing(text: str, kind: str) -> Verdict:
    if kind == "activation_derivative":
        message = (
            f"Close: you left out the activation's derivative σ′, here {text}: "
            "the chain rule passes through the activation too."
        )
    else:
        message = f"Close: a factor {text} is missing."
    return Verdict(False, message, kind, text)


def _factors(
    symbols: Sequence[sp.Symbol], calls: list[tuple[str, sp.Expr]]
) -> list[tuple[str, sp.Expr, str]]:
    """The factors a learner often drops or adds: (text, expression, kind).

    The activation's derivative, σ(u)(1 − σ(u)) and 1 − tanh(u)² for each argument u the two
    formulas apply these functions to, and a(1 − a), 1 − a² for each variable a (σ′ or tanh′
    written with a = σ(z)); then each variable (one named ``…_prime`` is σ′ itself), and each
    product of two.
    """
    out: list[tuple[str, sp.Expr, str]] = []
    seen: set[str] = set()

    def add(text: str, expr: sp.Expr, kind: str) -> None:
        if text not in seen:
            seen.add(text)
            out.append((text, expr, kind))

    for name, argument in calls:
        u = _text(argument)
        if name == "sigmoid":
            s = FUNCTIONS["sigmoid"](argument)
            add(f"sigmoid({u})*(1-sigmoid({u}))", s * (1 - s), "activation_derivative")
        elif name == "tanh":
            add(f"1-tanh({u})^2", 1 - sp.tanh(argument) ** 2, "activation_derivative")
    for a in symbols:
        add(f"{a.name}*(1-{a.name})", a * (1 - a), "activation_derivative")
        add(f"1-{a.name}^2", 1 - a**2, "activation_derivative")
    for a in symbols:  # a name like sigmoid_prime stands for σ′ itself (derive.factor_quiz)
        add(a.name, a, "activation_derivative" if "_prime" in a.name else "missing_factor")
    for a, b in combinations_with_replacement(symbols, 2):
        add(f"{a.name}^2" if a == b else f"{a.name}*{b.name}", a * b, "missing_factor")
    return out


def _text(expr: sp.Expr) -> str:
    return str(sp.sstr(expr)).replace("**", "^")


def _wrong(given: sp.Expr, expected: sp.Expr) -> str:
    """A hint for a formula with no simple slip: which names it lacks or has in excess."""
    lacks = sorted(s.name for s in expected.free_symbols - given.free_symbols)
    extra = sorted(s.name for s in given.free_symbols - expected.free_symbols)
    if lacks:
        return f"Not yet: the answer depends on {', '.join(lacks)}, and yours does not."
    if extra:
        return f"Not yet: the answer does not depend on {', '.join(extra)}, and yours does."
    return "Not yet: the names are right, the formula is not. Take the chain rule factor by factor."


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if not text or text.endswith(".") else ".")


# --------------------------------------------------------------------------- printing


def plain_text(expr: sp.Expr, names: dict[sp.Symbol, str]) -> str | None:
    """``expr`` as a learner would type it, each symbol by its plain name (``names``); None
    when it holds something a typed formula cannot say (a vector, a kink's bracket …).

    The text reads back (``parse_formula``) to the same expression.
    """
    plain = {symbol: sp.Symbol(name, real=True) for symbol, name in names.items()}
    if not isinstance(expr, sp.Expr) or expr.free_symbols - set(plain):
        return None
    text = sp.sstr(expr.xreplace(plain), order="none").replace("**", "^")
    try:
        parse_formula(text, list(names.values()))
    except FormulaError:
        return None
    return text
