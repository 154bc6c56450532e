"""engine.inspect: layer outputs, dead ReLU units, the loss over two weights, gradient ratios."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import UserError
from engine.inspect import dead_units, grad_ratio, layer_grad_norms, layer_outputs, loss_surface
from engine.layers import Dense, Dropout, LeakyReLU, ReLU, Tanh
from engine.network import Sequential


def points(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, (X[:, :1] * X[:, 1:] > 0).astype(float)


def test_layer_outputs_follow_the_formulas() -> None:
    net = Sequential([Dense(2, 3), Tanh(), Dropout(0.5), Dense(3, 1)], seed=1, dtype="float64")
    X, _ = points(5)
    outs = layer_outputs(net, X)
    z = X @ net.params["0.W"].T + net.params["0.b"]
    np.testing.assert_allclose(outs[0], z)
    np.testing.assert_allclose(outs[1], np.tanh(z))
    np.testing.assert_allclose(outs[2], np.tanh(z))  # dropout is off in evaluation
    np.testing.assert_allclose(outs[3], net.forward(X))


def test_dead_units_count_units_never_positive() -> None:
    net = Sequential(
        [Dense(2, 4), ReLU(), Dense(4, 3), LeakyReLU(), Dense(3, 2), ReLU(), Dense(2, 1)],
        seed=0,
        dtype="float64",
    )
    # unit 0: always off (b = -100); unit 1: always on; units 2, 3: on for some samples
    net.set_params(
        {
            "0.W": [[0, 0], [0, 0], [1, 0], [0, 1]],
            "0.b": [-100.0, 1.0, 0.0, 0.0],
            "4.W": [[0, 0, 0], [1, 0, 0]],
            "4.b": [0.0, 5.0],
        }
    )
    X, _ = points()
    assert dead_units(net, X) == (0.25, 0.0, 0.5)
    # the oracle: pre-activations computed by hand
    z = X @ net.params["0.W"].T + net.params["0.b"]
    assert np.mean(np.all(z <= 0, axis=0)) == 0.25


def test_dead_units_rise_when_the_biases_are_pushed_down() -> None:
    net = Sequential([Dense(2, 8), ReLU(), Dense(8, 1)], seed=0, dtype="float64")
    X, _ = points()
    alive = dead_units(net, X)[0]
    net.set_params({"0.b": [-50.0] * 8})
    assert alive < 1.0 and dead_units(net, X) == (1.0,)


def test_loss_surface_matches_direct_evaluation_and_restores_the_network() -> None:
    net = Sequential([Dense(2, 3), Tanh(), Dense(3, 1)], seed=2, dtype="float64")
    X, y = points()
    before = np.array(net.data)
    a, b, Z = loss_surface(net, "bce_logits", X, y, ("2.W[0,1]", "0.b[2]"), span=1.5, n=9)
    np.testing.assert_array_equal(net.data, before)
    assert Z.shape == (9, 9)
    assert a[4] == pytest.approx(before[net.offsets["2.W"] + 1])
    assert a[0] == pytest.approx(a[4] - 1.5) and b[-1] == pytest.approx(b[4] + 1.5)
    for i, j in ((0, 0), (3, 7), (8, 2), (4, 4)):
        twin = net.copy()
        twin.set_params({"2.W[0,1]": a[i], "0.b[2]": b[j]})
        out = twin.forward(X)[:, 0]
        direct = np.mean(np.logaddexp(0.0, out) - y[:, 0] * out)  # BCE on logits, by hand
        assert Z[j, i] == pytest.approx(direct, rel=1e-10)


def test_loss_surface_of_a_linear_model_is_the_quadratic_it_should_be() -> None:
    net = Sequential([Dense(1, 1)], seed=0, dtype="float64")
    X = np.linspace(-1, 1, 11)[:, None]
    y = 2.0 * X - 0.5
    a, b, Z = loss_surface(net, "mse", X, y, center=(2.0, -0.5), span=1.0, n=5)
    A, B = np.meshgrid(a, b)
    expected = ((A - 2.0) ** 2) * np.mean(X**2) + (B + 0.5) ** 2  # mean(x) = 0
    np.testing.assert_allclose(Z, expected, atol=1e-12)
    assert Z[2, 2] == pytest.approx(0.0, abs=1e-12)


def test_loss_surface_refuses_what_it_cannot_draw() -> None:
    net = Sequential([Dense(2, 1)], seed=0)
    X, y = points()
    with pytest.raises(UserError, match="no parameter '3.W'"):
        loss_surface(net, "mse", X, y, ("3.W[0,0]", "0.b[0]"))
    with pytest.raises(UserError, match="same entry twice"):
        loss_surface(net, "mse", X, y, ("0.b[0]", "0.b[0]"))
    with pytest.raises(UserError, match="outside 0.W"):
        loss_surface(net, "mse", X, y, ("0.W[1,0]", "0.b[0]"))


def test_gradient_norms_and_their_ratio() -> None:
    net = Sequential(
        [Dense(2, 4), Tanh(), Dense(4, 4), Tanh(), Dense(4, 1)], seed=0, dtype="float64"
    )
    X, y = points()
    net.loss_and_grad(X, y, "bce_logits")
    norms = layer_grad_norms(net)
    expected = [
        np.sqrt(np.sum(net.grads[f"{i}.W"] ** 2) + np.sum(net.grads[f"{i}.b"] ** 2))
        for i in (0, 2, 4)
    ]
    np.testing.assert_allclose(norms, expected)
    assert grad_ratio(norms) == pytest.approx(expected[0] / expected[2])
    assert grad_ratio((1.0,)) is None and grad_ratio((1.0, 0.0)) is None
    assert grad_ratio((float("nan"), 1.0)) is None
