"""Backward steps as typed formulas: the plain-text answer means the step, names are typable and
distinct, and wrapped maths loses no character."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
from derive_helpers import XOR_X, XOR_Y, xor_net
from hypothesis import given, settings
from hypothesis import strategies as st

from derive import derive
from derive.factor_quiz import plain_names, question
from derive.formula_parser import parse_formula
from derive.notation import sym, unicode_name
from derive.printers import wrap
from engine import Dense, Sequential, Tanh


def asked(d):
    return [(i, q) for i in range(len(d.steps)) if (q := question(d.steps, i)) is not None]


@pytest.mark.parametrize("param", ["0.W[0,1]", "2.W[0,0]", "0.b[1]"])
def test_each_answer_evaluates_to_the_steps_value(param: str) -> None:
    """The answer, read back and given the values of the names, is the step's value: the plain
    text says exactly what the derivation computed."""
    d = derive(xor_net(), XOR_X[1:2], XOR_Y[1:2], "mse", param)
    questions = asked(d)
    assert len(questions) >= 3
    values = {unicode_name(s.lhs.name): s.value for s in d.steps if isinstance(s.lhs, sp.Symbol)}
    values |= {"x₀": float(XOR_X[1, 0]), "x₁": float(XOR_X[1, 1]), "y₀": float(XOR_Y[1, 0])}
    net = xor_net()
    for name, view in net.params.items():  # the weights, by their printed names
        layer = {"0": 1, "2": 2}[name.split(".")[0]]
        for index in np.ndindex(view.shape):
            symbol = sym(name.split(".")[1], layer, *index)
            values[unicode_name(symbol.name)] = float(view[index])
    for i, q in questions:
        expr = parse_formula(q.answer, q.variables)
        point = {sp.Symbol(p, real=True): values[shown] for p, shown in q.names}
        assert float(expr.evalf(30, subs=point)) == pytest.approx(d.steps[i].value, rel=1e-9)
        assert q.check(q.answer).correct
        assert q.lhs == d.steps[i].label


def test_only_backward_steps_of_the_index_view_are_asked() -> None:
    d = derive(xor_net(), XOR_X, XOR_Y, "mse", "0.W[0,0]")
    assert {d.steps[i].part for i, _ in asked(d)} == {"backward"}
    vector = derive(xor_net(), XOR_X, XOR_Y, "mse", "0.W[0,0]", view="vector")
    assert all(not isinstance(d.steps[i].general, sp.MatrixExpr) for i, _ in asked(vector))


def test_a_forgotten_activation_derivative_is_named_on_a_real_step() -> None:
    d = derive(xor_net(), XOR_X[:1], XOR_Y[:1], "mse", "2.W[0,0]")
    delta = next(q for _, q in asked(d) if q.lhs == "δ²₀")
    verdict = delta.check("dL_dyhat")
    assert verdict.kind == "activation_derivative" and verdict.factor == "sigmoid_prime"
    assert "σ′" in verdict.message


def test_names_are_distinct_identifiers_and_short_when_they_can_be() -> None:
    net = Sequential([Dense(2, 3), Tanh(), Dense(3, 1)], seed=1, dtype="float64")
    d = derive(net, XOR_X[:1], XOR_Y[:1], "mse", "0.W[0,0]")
    for _, q in asked(d):
        plain = q.variables
        assert len(set(plain)) == len(plain)
        assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", p) for p in plain)
    one = plain_names([sym("yhat", None, 0), sym("y", None, 0)])
    assert sorted(one.values()) == ["y", "yhat"]
    two = plain_names([sym("W", 2, 0, 0), sym("W", 2, 0, 1), sym("W", 3, 0, 0)])
    assert len(set(two.values())) == 3


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["x₀", "⋅", " + ", " - ", "W²₀,₁", "(-0.2484)", "tanh′(z¹₀)"])),
    st.integers(10, 60),
)
def test_wrap_keeps_every_character_and_the_width(pieces: list[str], width: int) -> None:
    text = "".join(pieces)
    lines = wrap(text, width)
    assert all(len(line) <= width for line in lines)
    assert "".join("".join(lines).split()) == "".join(text.split())
