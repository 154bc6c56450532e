"""The app's chain rule for every activation the engine defines (with a layer class): each
factor from the activation's one definition, checked against finite differences and against
the engine's own backward pass."""

from __future__ import annotations

import numpy as np
import pytest

from engine import optim
from engine.activations import ACTIVATIONS
from engine.layers import Dense
from engine.layers.activations import ACTIVATION_LAYERS
from engine.network import Sequential
from engine.trainer import Trainer
from tui.session import probes

NAMES = [n for n in ACTIVATIONS if n in ACTIVATION_LAYERS]
PARAMS = ["0.W[1,0]", "0.W[3,1]", "0.b[2]", "2.W[0,4]", "2.b[1]"]


def setup(name: str) -> tuple[Sequential, Trainer, np.ndarray, np.ndarray]:
    layers = [Dense(2, 5), ACTIVATION_LAYERS[name](), Dense(5, 2)]
    net = Sequential(layers, seed=3, dtype="float64")
    trainer = Trainer(net, "mse", optim.SGD(net, lr=0.1), batch_size=4)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2))
    y = rng.normal(size=(6, 2))
    return net, trainer, X, y


def loss_of(net: Sequential, trainer: Trainer, x: np.ndarray, y: np.ndarray) -> float:
    a = x
    for layer in net.layers:
        a = probes._layer_forward(layer, a)
    return probes._loss_and_grad(net, trainer, a, y)[0]


def test_every_activation_with_a_layer_is_covered() -> None:
    assert set(NAMES) == set(ACTIVATION_LAYERS) and len(NAMES) >= 7


@pytest.mark.parametrize("name", NAMES)
def test_the_probes_forward_is_the_engines(name: str) -> None:
    net, _, X, _ = setup(name)
    a = X
    for layer in net.layers:
        a = probes._layer_forward(layer, a)
    np.testing.assert_allclose(a, net.forward(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("param", PARAMS)
def test_chain_rule_matches_finite_differences_and_the_engine(name: str, param: str) -> None:
    net, trainer, X, y = setup(name)
    sample = 2
    rule = probes.chain_rule(net, trainer, X, y, param, sample)
    assert rule.grad == pytest.approx(rule.delta * rule.a)
    layer, kind, j, k = probes.parse_param(param)
    values = net.params[f"{layer}.{kind}"]
    at = (j, k) if kind == "W" else (j,)
    x, t = X[sample : sample + 1], y[sample : sample + 1]
    h, old = 1e-6, float(values[at])
    values[at] = old + h
    up = loss_of(net, trainer, x, t)
    values[at] = old - h
    down = loss_of(net, trainer, x, t)
    values[at] = old
    assert rule.grad == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)
    if ACTIVATIONS[name].differentiable:
        net.loss_and_grad(x, t, "mse")
        assert rule.grad == pytest.approx(float(net.grads[f"{layer}.{kind}"][at]), rel=1e-9)


def test_a_layer_the_chain_rule_does_not_know_raises() -> None:
    from engine.layers.blocks import Residual

    net = Sequential([Dense(2, 2), Residual([Dense(2, 2)]), Dense(2, 1)], dtype="float64")
    trainer = Trainer(net, "mse", optim.SGD(net, lr=0.1))
    with pytest.raises(TypeError, match="Residual"):
        probes.chain_rule(net, trainer, np.ones((1, 2)), np.ones((1, 1)), "0.W[0,0]", 0)
