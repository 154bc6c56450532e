"""Every derivative the derivation prints is SymPy's own ``diff``, and every function evaluates."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive.activations import sigmoid
from derive.expr import number, substitute
from derive.functions import huber
from derive.losses import element_loss, output_grad, sample_loss
from derive.stack.model import build_model
from derive.stack.tape import element_grad_fn, softmax_ce_grad_fn
from engine import Dense, Sequential, Sigmoid, Tanh

Z = sp.Symbol("z", real=True)


def _at(expr: sp.Basic, values: dict) -> float:
    return number(substitute(expr, values))


def test_loss_pieces_stay_symbolic_and_evaluate_on_numbers() -> None:
    assert sigmoid(Z).func is sigmoid
    assert float(sigmoid(sp.Float(0.0))) == 0.5
    assert float(huber(sp.Float(3.0), sp.Float(1.0))) == 2.5
    assert float(sp.diff(huber(Z, 1), Z).subs(Z, 5).doit()) == 1.0


def _net(loss: str, width: int) -> Sequential:
    layers = [Dense(2, 3), Tanh(), Dense(3, width)]
    if loss == "bce":
        layers.append(Sigmoid())
    return Sequential(layers, seed=0, dtype="float64")


CASES = [(loss, w) for loss in ("mse", "huber", "bce", "bce_logits") for w in (1, 3)]


@pytest.mark.parametrize(("loss", "width"), [*CASES, ("cross_entropy", 2), ("cross_entropy", 4)])
def test_shown_output_gradient_is_the_diff_of_the_shown_loss(loss: str, width: int) -> None:
    """∂L/∂ŷᵢ (∂L/∂zᵢ where the loss owns σ or softmax) against ``diff`` of L itself."""
    model = build_model(_net(loss, width), loss)
    rng = np.random.default_rng(width)
    logits = rng.normal(size=width) * 2
    label = 1 if loss == "cross_entropy" else None
    z = [model.last.at(i) for i in range(width)]
    values = {model.y.at(i): float(v) for i, v in enumerate(rng.integers(0, 2, width))}
    if label is not None:
        values = {model.y.at(i): float(i == label) for i in range(width)}
    yhat = [model.yhat.at(i) for i in range(width)]
    if model.head == "softmax":
        e = [sp.exp(zi) for zi in z]
        head = {yh: ei / sp.Add(*e) for yh, ei in zip(yhat, e)}
    elif model.head == "sigmoid":
        head = {yh: sigmoid(zi) for yh, zi in zip(yhat, z)}
    else:
        head, z = {}, yhat
        logits = 1 / (1 + np.exp(-logits)) if loss == "bce" else logits
    full, _, _ = sample_loss(model, label)
    loss_in_z = full.doit().xreplace(head)
    env = {**values, **{zi: float(v) for zi, v in zip(z, logits)}}
    env |= {
        yh: float(sp.N(head[yh].xreplace({k: sp.Float(v) for k, v in env.items()}))) for yh in head
    }
    for i in range(width):
        shown = _at(output_grad(model, i)[0], env)
        exact = sp.diff(loss_in_z, z[i]).xreplace({k: sp.Float(v) for k, v in env.items()})
        assert shown == pytest.approx(float(sp.N(exact)), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("loss", ["mse", "huber", "bce", "bce_logits"])
def test_tape_loss_gradients_are_lambdified_diffs(loss: str) -> None:
    yh, y = sp.symbols("yh y", real=True)
    fn = element_grad_fn(loss, 1.0)
    points = np.array([0.2, 0.7, 0.95]) if loss == "bce" else np.array([-2.0, 0.3, 1.5])
    target = np.array([1.0, 0.0, 1.0])
    exact = [
        float(sp.diff(element_loss(loss, yh, y), yh).subs({yh: p, y: t}).doit())
        for p, t in zip(points, target)
    ]
    assert np.allclose(fn(points, target), exact, atol=1e-14)


def test_softmax_cross_entropy_gradient_is_softmax_minus_onehot() -> None:
    z = np.array([[0.5, -1.0, 2.0]])
    y = np.array([[0.0, 1.0, 0.0]])
    got = np.stack(softmax_ce_grad_fn(3)(list(z.T), list(y.T)), axis=1)
    soft = np.exp(z) / np.exp(z).sum()
    assert np.allclose(got, soft - y, atol=1e-15)
