"""The formula checker: equivalent forms accepted, each common slip named, hostile text refused.

Hostile inputs are checked two ways: the verdict refuses them, and Python's ``eval``/``exec`` and
SymPy's ``sympify``/``parse_expr`` are never called while the checker runs.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy.parsing import sympy_parser

import derive.formula as formula
import derive.formula_parser as parser
from derive.formula import KINDS, Verdict, check_formula, plain_text
from derive.formula_parser import FormulaError, parse_formula

NAMES = ["yhat", "y", "x", "z", "a", "w"]
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# SymPy imports some modules on first use, and they sympify their own constant strings: use
# what the tests use once before the guard below is set.
sp.simplify(sp.factor(sp.expand(parse_formula("sigmoid(z)*x^2 + tanh(a)", NAMES))))
check_formula("-x*2", "x", NAMES)


@contextmanager
def no_evaluation(typed: str) -> Iterator[None]:
    """Inside this block, eval or exec of a source holding the typed text, or any text handed
    to SymPy's parser (which sympify of a string calls), fails the test. (SymPy execs code it
    generates itself, for polynomials; that code never holds what was typed.)"""

    def guard(real: Callable[..., Any], always: bool) -> Callable[..., Any]:
        def call(source: object, *args: object, **kwargs: object) -> Any:
            text = source.decode(errors="replace") if isinstance(source, bytes) else source
            if isinstance(text, str) and (always or (len(typed) > 2 and typed in text)):
                raise AssertionError(f"text was evaluated: {text!r}")
            return real(source, *args, **kwargs)

        return call

    saved = builtins.eval, builtins.exec, sympy_parser.parse_expr
    builtins.eval, builtins.exec = guard(saved[0], False), guard(saved[1], False)
    sympy_parser.parse_expr = guard(saved[2], True)
    try:
        yield
    finally:
        builtins.eval, builtins.exec, sympy_parser.parse_expr = saved


def check(typed: str, answer: str) -> Verdict:
    with no_evaluation(typed):
        return check_formula(typed, answer, NAMES)


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sigmoid(z)*(1-sigmoid(z))",
            sp.exp(-sp.Symbol("z", real=True)) / (1 + sp.exp(-sp.Symbol("z", real=True))) ** 2,
        ),
        ("x^2", sp.Symbol("x", real=True) ** 2),
        ("x**2", sp.Symbol("x", real=True) ** 2),
        ("-x^2", -(sp.Symbol("x", real=True) ** 2)),
        ("2^3^2", sp.Integer(512)),  # powers bind to the right
        ("1 - 2 - 3", sp.Integer(-4)),  # minus binds to the left
        ("8/2/2", sp.Integer(2)),
        ("0.5*x", sp.Symbol("x", real=True) / 2),
        ("2e-3", sp.Rational(1, 500)),
        ("x²", sp.Symbol("x", real=True) ** 2),
        ("ŷ − y", sp.Symbol("yhat", real=True) - sp.Symbol("y", real=True)),
        ("y\u0302 \u2212 y", sp.Symbol("yhat", real=True) - sp.Symbol("y", real=True)),
        ("2·x×y", 2 * sp.Symbol("x", real=True) * sp.Symbol("y", real=True)),
    ],
)
def test_reads_plain_text(text: str, expected: sp.Expr) -> None:
    assert sp.simplify(parse_formula(text, NAMES) - expected) == 0


def test_sigma_is_sigmoid_and_greek_letters_are_their_names() -> None:
    assert check("σ(z)*(1-σ(z))", "sigmoid(z)*(1-sigmoid(z))").correct
    assert check_formula("λ*w", "lambda*w", ["lambda", "w"]).correct
    assert check_formula("w - η*δ", "w - eta*delta", ["w", "eta", "delta"]).correct


# --------------------------------------------------------------------------- equivalent forms

# A few answers, each with forms a learner may write that must all be accepted.
EQUIVALENT = {
    "(yhat - y)*x": ["x*(yhat-y)", "yhat*x - y*x", "-(y - yhat)*x", "(yhat-y)*x^1"],
    "2*(yhat-y)": ["2*yhat - 2*y", "(yhat-y)*2", "(yhat-y)+(yhat-y)", "4*(yhat-y)/2"],
    "sigmoid(z)*(1-sigmoid(z))": [
        "sigmoid(z) - sigmoid(z)^2",
        "sigmoid(z)-sigmoid(z)**2",
        "exp(-z)/(1+exp(-z))^2",
        "sigmoid(z)*sigmoid(-z)",
        "1/(1+exp(-z)) * (1 - 1/(1+exp(-z)))",
    ],
    "(yhat-y)*yhat*(1-yhat)*x": ["x*yhat*(1-yhat)*(yhat-y)", "(yhat^2-yhat*y)*(1-yhat)*x"],
    "1 - tanh(z)^2": ["(1-tanh(z))*(1+tanh(z))", "1-tanh(z)*tanh(z)"],
    "(x + w)^3": ["x^3 + 3*x^2*w + 3*x*w^2 + w^3"],
    "log(x*w)": ["log(x) + log(w)"],
}


@pytest.mark.parametrize(
    ("answer", "typed"), [(a, t) for a, forms in EQUIVALENT.items() for t in forms]
)
def test_equivalent_forms_are_right(answer: str, typed: str) -> None:
    verdict = check(typed, answer)
    assert verdict.correct and verdict.kind == "right", verdict


# Random expressions in the grammar, printed as text; the property tests rewrite them.
atoms = st.sampled_from(["x", "y", "w", "yhat", "2", "3", "0.5", "sigmoid(z)", "tanh(a)"])


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    )


expressions = st.recursive(atoms, _combine, max_leaves=6)


def _as_text(expr: sp.Expr, power: str) -> str:
    return str(sp.sstr(expr)).replace("**", power)


@FEW
@given(expressions, st.sampled_from(["^", "**"]))
def test_expanded_and_factored_forms_are_right(text: str, power: str) -> None:
    expr = parse_formula(text, NAMES)
    for form in (sp.expand(expr), sp.factor(expr), expr):
        assert check(_as_text(form, power), text).correct, (form, text)


@FEW
@given(st.lists(expressions, min_size=2, max_size=4), st.randoms(use_true_random=False))
def test_reordered_products_and_sums_are_right(parts: list[str], rng: object) -> None:
    shuffled = list(parts)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    for op in ("*", "+"):
        assert check(op.join(shuffled), op.join(parts)).correct


# --------------------------------------------------------------------------- slips

# answers with their parts: (answer, a factor that the slip drops)
ANSWERS = st.sampled_from(
    ["(yhat - y)*x", "2*(yhat-y)", "(yhat-y)*w*x", "(y - yhat)*(a + 1)", "(yhat-y)*tanh(a)"]
)


@FEW
@given(ANSWERS)
def test_a_wrong_sign_is_named(answer: str) -> None:
    verdict = check(f"-({answer})", answer)
    assert not verdict.correct and verdict.kind == "sign" and "sign" in verdict.message


@FEW
@given(ANSWERS, st.sampled_from([2, 3, 5, 10]))
def test_a_missing_or_extra_constant_is_named(answer: str, c: int) -> None:
    missing = check(f"({answer})/{c}", answer)
    assert (missing.kind, missing.factor) == ("constant", str(c)) and "missing" in missing.message
    extra = check(f"{c}*({answer})", answer)
    assert (extra.kind, extra.factor) == ("constant", str(c)) and "extra" in extra.message


@FEW
@given(ANSWERS, st.sampled_from(["x", "w", "z", "yhat"]))
def test_a_missing_or_extra_variable_factor_is_named(answer: str, v: str) -> None:
    full = f"({answer})*{v}"
    missing = check(answer, full)
    assert (missing.kind, missing.factor) == ("missing_factor", v), missing
    assert v in missing.message
    extra = check(full, answer)
    assert (extra.kind, extra.factor) == ("extra_factor", v), extra


@pytest.mark.parametrize(
    ("typed", "answer", "factor"),
    [
        ("(yhat-y)*x", "(yhat-y)*sigmoid(z)*(1-sigmoid(z))*x", "sigmoid(z)*(1-sigmoid(z))"),
        ("2*(yhat-y)", "2*(yhat-y)*yhat*(1-yhat)", "yhat*(1-yhat)"),
        ("(yhat-y)*w", "(yhat-y)*w*(1-tanh(z)^2)", "1-tanh(z)^2"),
        ("(yhat-y)*w", "(yhat-y)*w*(1-a^2)", "1-a^2"),
        ("(yhat-y)*x", "(yhat-y)*x*sigmoid(w*x)*(1-sigmoid(w*x))", "sigmoid(w*x)*(1-sigmoid(w*x))"),
    ],
)
def test_a_forgotten_activation_derivative_is_named(typed: str, answer: str, factor: str) -> None:
    verdict = check(typed, answer)
    assert (verdict.kind, verdict.factor) == ("activation_derivative", factor), verdict
    assert "σ′" in verdict.message


def test_a_formula_with_no_simple_slip_says_which_names_differ() -> None:
    lacking = check("y*x", "(yhat-y)*x")
    assert lacking.kind == "wrong" and "yhat" in lacking.message
    extra = check("(yhat-y)*x + w", "(yhat-y)*x")
    assert extra.kind == "wrong" and "w" in extra.message
    assert check("(yhat+y)*x", "(yhat-y)*x").kind == "wrong"


def test_a_name_outside_the_question_is_named_with_the_names() -> None:
    verdict = check("(yhat - q)*x", "(yhat - y)*x")
    assert verdict.kind == "unknown_name"
    assert "q" in verdict.message and "yhat, y, x, z, a, w" in verdict.message


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [
        ("2x", "2*x"),
        ("x y", "x*y"),
        ("yhat(1-yhat)", "yhat*("),
        ("(x)(y)", ")*("),
        ("2(x+1)", "2*("),
    ],
)
def test_implicit_multiplication_is_refused_with_the_fix(typed: str, suggestion: str) -> None:
    verdict = check(typed, "x")
    assert verdict.kind == "implicit_multiplication" and suggestion in verdict.message


def test_every_verdict_kind_is_declared() -> None:
    seen = {
        check(t, a).kind
        for t, a in [("x", "x"), ("-x", "x"), ("2*x", "x"), ("x", "x*w"), ("x*w", "x"),
                     ("x", "x*yhat*(1-yhat)"), ("y", "x"), ("q", "x"), ("2x", "x"), ("x+", "x"),
                     ("x^99", "x")]
    }  # fmt: skip
    assert seen == set(KINDS)


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    "__import__('os').system('ls')",
    "lambda: 1",
    "x.__class__",
    "().__class__.__bases__",
    "exec('1')",
    "eval('x')",
    "open('/etc/passwd')",
    "x; import os",
    "x if y else w",
    "[x for x in y]",
    "{x}",
    "1e9999",
    "1e-9999",
    "9**9**9**9",
    "9^9^9^9",
    "(10^64)^64",
    "x^1000",
    "(" * 60 + "x" + ")" * 60,
    "-" * 60 + "x",
    "x+" * 150 + "x",
    "1" * 50,
    "ｘ",  # fullwidth x
    "х",  # Cyrillic ha
    "x\u200b",  # zero-width space
    "x\u202e",  # right-to-left override
    "x\x00",
    "x\n+ y",
    "sigmoid",
    "sigmoid(z",
    "x)",
    "",
    "1/0",
    "log(0)",
    "Symbol('x')",
    "sp.exp(x)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_refused_with_a_message(text: str) -> None:
    verdict = check(text, "x")
    assert not verdict.correct
    assert verdict.kind in {"unknown_name", "syntax", "too_big", "implicit_multiplication"}
    assert verdict.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=250))
def test_any_text_gets_a_verdict(text: str) -> None:
    """Whatever is typed, the checker answers with a verdict, never an exception."""
    verdict = check(text, "(yhat-y)*x")
    assert verdict.kind in KINDS
    assert verdict.correct == (verdict.kind == "right")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="x2()^*+-/ .e9", max_size=60))
def test_grammar_soup_never_builds_a_huge_number(text: str) -> None:
    try:
        with no_evaluation(text):
            expr = parse_formula(text, ["x"])
    except FormulaError:
        return
    big = [n for n in expr.atoms(sp.Number) if n != 0 and abs(n) > sp.Integer(10) ** 400]
    assert not big


def test_limits_are_what_the_messages_say() -> None:
    long = "x+" * (parser.MAX_LENGTH // 2) + "x"
    assert str(parser.MAX_LENGTH) in check(long, "x").message
    deep = "(" * (parser.MAX_DEPTH + 1) + "x" + ")" * (parser.MAX_DEPTH + 1)
    assert check(deep, "x").kind == "too_big"
    shallow = "(" * (parser.MAX_DEPTH - 2) + "x" + ")" * (parser.MAX_DEPTH - 2)
    assert check(shallow, "x").correct
    assert check(f"x^{parser.MAX_POWER}", f"x**{parser.MAX_POWER}").correct
    assert check(f"x^{parser.MAX_POWER + 1}", "x").kind == "too_big"


def test_bad_variable_names_are_refused() -> None:
    for names in (["sigmoid"], ["__x"], ["x y"], ["1x"]):
        with pytest.raises(FormulaError.__mro__[1]):  # engine.errors.UserError
            parse_formula("1", names)


# --------------------------------------------------------------------------- plain text


def test_plain_text_reads_back_to_the_same_expression() -> None:
    from derive.activations import apply

    z, a, y = (sp.Symbol(n, real=True) for n in ("z|2|0", "yhat||0", "y||0"))
    names = {z: "z", a: "yhat", y: "y"}
    for expr in (2 * (a - y), a * (1 - a), apply("sigmoid", z) * (1 - apply("sigmoid", z))):
        text = plain_text(expr, names)
        assert text is not None and "|" not in text
        back = parse_formula(text, list(names.values()))
        values = {sp.Symbol(n, real=True): v for n, v in (("z", 0.3), ("yhat", 0.6), ("y", 1))}
        original = expr.xreplace({k: sp.Symbol(v, real=True) for k, v in names.items()})
        assert abs(float(back.evalf(subs=values) - original.evalf(subs=values))) < 1e-12


def test_plain_text_refuses_what_a_formula_cannot_say() -> None:
    v = sp.MatrixSymbol("d", 2, 1)
    assert plain_text(v, {}) is None
    x = sp.Symbol("x", real=True)
    assert plain_text(x + sp.Symbol("other"), {x: "x"}) is None


def test_module_docstring_example() -> None:
    assert formula.check_formula("(yhat - y)*x", "x*(yhat-y)", ["yhat", "y", "x"]).correct


def test_the_guard_catches_text_evaluation() -> None:
    with pytest.raises(AssertionError, match="text was evaluated"), no_evaluation("x + 1"):
        sp.sympify("x + 1")
    with pytest.raises(AssertionError, match="text was evaluated"), no_evaluation("1 + 1"):
        eval("1 + 1")
