"""Every activation of the engine's registry, as ``derive`` shows it, against two oracles.

Generated from ``engine.activations.ACTIVATIONS``: a new activation is checked here with no
change to this file. The derivative a derivation prints (``sympy_prime``) must equal SymPy's own
``diff`` of the closed form (``sympy``) and the engine's NumPy derivative, away from kinks.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive import printers
from derive.activations import (
    SYMPY_FUNCTIONS,
    apply,
    function,
    numpy_fns,
    prime,
    prime_rule,
    vector_prime,
)
from derive.expr import number, substitute
from engine.activations import ACTIVATIONS
from engine.errors import UserError

Z, A = sp.Symbol("z", real=True), sp.Symbol("a", real=True)
POINTS = (-2.5, -0.3, 0.4, 1.7)  # away from the kinks at 0
NAMES = list(ACTIVATIONS)
SMOOTH = [n for n in NAMES if ACTIVATIONS[n].differentiable]
ALPHA = 0.3


def _alpha(name: str) -> float | None:
    return ALPHA if ACTIVATIONS[name].alpha is not None else None


@pytest.mark.parametrize("name", SMOOTH)
def test_shown_derivative_is_sympys_diff_and_the_numpy_derivative(name: str) -> None:
    d = ACTIVATIONS[name]
    al = _alpha(name)
    closed = d.sympy(sp, Z, sp.Float(al) if al is not None else None)
    shown = prime(name, Z, A, al)
    for z in POINTS:
        a = float(closed.subs(Z, z))
        value = number(substitute(shown, {Z: z, A: a}))
        oracle = float(sp.diff(closed, Z).subs(Z, z))
        assert value == pytest.approx(oracle, abs=1e-12)
        numpy = float(d.derivative(np.array(z), np.array(a), al or 0.0))
        assert value == pytest.approx(numpy, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_function_evaluates_like_the_closed_form_and_the_engine(name: str) -> None:
    d, al = ACTIVATIONS[name], _alpha(name)
    fn = function(name)
    assert apply(name, Z, al).func is fn  # stays symbolic
    forward, _ = numpy_fns(name)
    closed = d.sympy(sp, Z, sp.Float(al) if al is not None else None)
    for z in POINTS:
        exact = float(closed.subs(Z, z))
        assert float(apply(name, sp.Float(z), al)) == pytest.approx(exact, abs=1e-12)
        assert float(forward(np.array(z), al or 0.0)) == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("name", SMOOTH)
def test_diff_of_the_function_is_its_shown_derivative(name: str) -> None:
    """SymPy's ``diff`` goes through ``fdiff``, so lambdified gradients use the shown form."""
    al = _alpha(name)
    _, slope = numpy_fns(name)
    z = np.array(POINTS)
    a = ACTIVATIONS[name].forward(z, al or 0.0)
    expected = ACTIVATIONS[name].derivative(z, a, al or 0.0)
    assert np.allclose(np.broadcast_to(slope(z, al or 0.0), z.shape), expected, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_prints_from_the_registry(name: str) -> None:
    d, al = ACTIVATIONS[name], _alpha(name)
    expr = apply(name, Z, al)
    assert printers.text(expr) == f"{d.symbol}(z)"
    assert d.latex in printers.latex(expr)
    assert d.symbol in printers.unicode(expr)
    if d.differentiable:
        assert prime_rule(name).text == d.prime_rule


def test_kinks_print_as_before() -> None:
    assert printers.text(prime("relu", Z, A)) == "[z > 0]"
    assert printers.text(prime("leaky_relu", Z, A, 0.01)) == "(1 if z > 0 else 0.01)"
    assert printers.text(prime("sigmoid", Z, A)) == "a·(1 - a)"
    assert printers.text(prime("tanh", Z, A)) == "1 - a²"
    col, out = sp.MatrixSymbol("z", 2, 1), sp.MatrixSymbol("a", 2, 1)
    assert printers.text(vector_prime("sigmoid", col, out)) == "a ⊙ (𝟙 - a)"


def test_the_step_has_no_gradient_but_evaluates() -> None:
    assert not ACTIVATIONS["step"].differentiable
    assert float(apply("step", sp.Float(0.5))) == 1.0
    with pytest.raises(UserError, match="no gradient"):
        prime("step", Z, A)
    with pytest.raises(ValueError, match="no gradient"):
        sp.diff(apply("step", Z), Z)


def test_unknown_activation_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="relu"):
        function("swish")


def test_derive_and_engine_list_the_same_activations() -> None:
    assert set(SYMPY_FUNCTIONS) == set(ACTIVATIONS)
