"""Generated from the engine's registries: every activation derived and verified, and derive's
lists equal to the engine's."""

from __future__ import annotations

import numpy as np
import pytest
from derive_helpers import engine_grad

from derive import derive, verify
from engine import Dense, Sequential
from engine.activations import activation
from engine.errors import UserError
from engine.layers.activations import ACTIVATION_LAYERS, Heaviside
from engine.layers.image import Conv2D, Flatten

SMOOTH = [n for n in ACTIVATION_LAYERS if activation(n).differentiable]
X = np.array([[0.5, -1.2], [-0.3, 0.8], [1.1, 0.4]])
Y = np.array([[0.2, -0.1], [0.4, 0.9], [-0.5, 0.3]])


def _net(name: str, seed: int = 1) -> Sequential:
    act = ACTIVATION_LAYERS[name]()
    return Sequential([Dense(2, 3), act, Dense(3, 2)], seed=seed, dtype="float64")


@pytest.mark.parametrize("view", ["index", "vector"])
@pytest.mark.parametrize("name", SMOOTH)
def test_every_activation_is_derived_as_the_engine_computes(name: str, view: str) -> None:
    net = _net(name)
    net.loss_and_grad(X, Y, "mse")
    for param in ("0.W[1,0]", "0.b[2]"):
        d = derive(net, X, Y, "mse", param, view=view, sample=1, direct=True)
        assert d.value == pytest.approx(engine_grad(net, param), abs=1e-12)
        assert d.check is not None and d.check.difference < 1e-12
        assert activation(name).symbol in d.to_text()


@pytest.mark.parametrize("name", SMOOTH)
def test_every_activation_verifies_against_the_engine(name: str) -> None:
    assert verify(_net(name, seed=4), X, Y, "mse") < 1e-12


def test_the_step_derives_above_it_and_refuses_below() -> None:
    net = _net("step")
    d = derive(net, X, Y, "mse", "2.W[0,1]", direct=True)  # no gradient through H needed
    assert "H(z¹₁)" in d.to_text()
    assert d.check is not None and d.check.difference < 1e-12
    with pytest.raises(UserError, match="no gradient flows through Heaviside"):
        derive(net, X, Y, "mse", "0.W[0,0]")


def test_the_step_in_a_layer_network_derives_above_it_and_refuses_below() -> None:
    net = Sequential(
        [Conv2D(1, 2, 3), Heaviside(), Flatten(), Dense(8, 1)],
        input_shape=(1, 4, 4),
        seed=0,
        dtype="float64",
    )
    x = np.random.default_rng(0).normal(size=(3, 1, 4, 4))
    y = np.array([[0.5], [-0.2], [0.1]])
    d = derive(net, x, y, "mse", "3.W[0,5]")
    feats = np.stack([net.layers[1].forward(net.layers[0].forward(x, False), False)])[0]
    feats = feats.reshape(3, -1)
    out = feats @ net.params["3.W"].T + net.params["3.b"]
    assert d.value == pytest.approx(float(2 * ((out - y)[:, 0] * feats[:, 5]).mean()), abs=1e-12)
    with pytest.raises(UserError, match="no gradient flows through Heaviside"):
        derive(net, x, y, "mse", "0.b[1]")
