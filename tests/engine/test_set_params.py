"""Weights set by hand (``Sequential.set_params``) and scaled at initialisation (``init_scale``)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import optim
from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.layers import Dense, Tanh
from engine.network import Sequential


def net() -> Sequential:
    return Sequential([Dense(2, 3), Tanh(), Dense(3, 1)], seed=0, dtype="float64")


def test_whole_arrays_and_single_entries() -> None:
    n = net()
    before = np.array(n.data)
    n.set_params({"0.W": [[1, -1], [0, 2], [3, 4]], "0.b": [0.0, 0.5, -1], "2.W[0,1]": 0.25})
    np.testing.assert_array_equal(n.params["0.W"], [[1, -1], [0, 2], [3, 4]])
    np.testing.assert_array_equal(n.params["0.b"], [0.0, 0.5, -1.0])
    assert n.params["2.W"][0, 1] == 0.25
    untouched = np.array(before[n.offsets["2.W"] :])
    untouched[1] = 0.25
    np.testing.assert_array_equal(n.data[n.offsets["2.W"] :], untouched)
    # the output follows the new weights
    x = np.array([[0.3, -0.7]])
    h = np.tanh(x @ n.params["0.W"].T + n.params["0.b"])
    np.testing.assert_allclose(n.forward(x), h @ n.params["2.W"].T + n.params["2.b"])


def test_a_mistake_changes_nothing_and_names_the_fix() -> None:
    n = net()
    before = np.array(n.data)
    with pytest.raises(UserError, match="no parameter '1.W'") as info:
        n.set_params({"0.b": [9, 9, 9], "1.W": [[1.0]]})
    assert "0.W, 0.b, 2.W, 2.b" in info.value.hint
    with pytest.raises(UserError, match=r"0.W takes shape \(3, 2\); .* shape \(1, 2\)"):
        n.set_params({"0.W": [[1, -1]]})
    with pytest.raises(UserError, match=r"2.W\[0,3\] lies outside 2.W, whose shape is \(1, 3\)"):
        n.set_params({"2.W[0,3]": 1.0})
    with pytest.raises(UserError, match="not finite"):
        n.set_params({"0.b[0]": float("nan")})
    with pytest.raises(UserError, match="single number"):
        n.set_params({"0.b[0]": [1.0, 2.0]})
    np.testing.assert_array_equal(n.data, before)


def test_an_optimiser_steps_from_the_values_set() -> None:
    n = net()
    opt = optim.Adam(n, lr=0.1)
    X, y = np.array([[0.5, -1.0]]), np.array([[1.0]])
    n.loss_and_grad(X, y, "mse")
    opt.step()
    moments = {k: np.array(v) for k, v in opt.state_dict().items()}
    n.set_params({"0.W[1,0]": 2.0})
    n.zero_grad()
    n.loss_and_grad(X, y, "mse")
    twin = n.copy()  # the same values, stepped by hand with plain SGD for comparison
    sgd = Sequential([Dense(2, 3), Tanh(), Dense(3, 1)], seed=0, dtype="float64")
    sgd.data[...] = twin.data
    plain = optim.SGD(sgd, lr=0.5)
    sgd.loss_and_grad(X, y, "mse")
    expected = np.array(sgd.data) - 0.5 * np.array(sgd.grad)
    plain.step()
    np.testing.assert_allclose(sgd.data, expected)
    # Adam kept its moments through the change and steps from the value set
    for k, v in opt.state_dict().items():
        np.testing.assert_array_equal(v, moments[k])
    opt.step()
    assert n.params["0.W"][1, 0] != 2.0 and abs(n.params["0.W"][1, 0] - 2.0) <= 0.1 + 1e-12


def test_init_scale_multiplies_the_weights_not_the_biases() -> None:
    def build(scale: float) -> Sequential:
        exp = Experiment().replace(data={"name": "spiral"}, model={"init_scale": scale})
        return exp.build().net

    one, ten = build(1.0), build(10.0)
    for name in one.params:
        factor = 10.0 if name.endswith("W") else 1.0
        np.testing.assert_allclose(ten.params[name], factor * one.params[name], rtol=1e-6)
    ten.reset()  # a reset draws scaled weights again
    np.testing.assert_allclose(ten.params["0.W"], 10.0 * one.params["0.W"], rtol=1e-6)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("inf")])
def test_init_scale_must_be_positive(scale: float) -> None:
    with pytest.raises(UserError, match="init_scale"):
        Experiment().replace(model={"init_scale": scale})


def test_a_large_init_explodes_and_clipping_tames_it() -> None:
    def final_loss(clip: float | None) -> float:
        train = {"lr": 0.5, "optimizer": "sgd", "epochs": 5}
        if clip is not None:
            train["clip_norm"] = clip
        exp = Experiment().replace(
            data={"name": "plane"},
            model={"hidden": [16, 16], "activation": "relu", "init_scale": 8.0},
            train=train,
        )
        run = exp.build()
        history = run.trainer.fit(run.data.X_train, run.data.y_train, 5)
        return history.train_loss[-1] if history.diverged is None else float("inf")

    assert final_loss(None) == float("inf")
    assert np.isfinite(final_loss(1.0))
