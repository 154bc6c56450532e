"""A derivation's value is the engine's gradient, for every layer, activation, loss and penalty."""

from __future__ import annotations

import numpy as np
import pytest
from derive_helpers import XOR_X, XOR_Y, engine_grad, entries, target_for, xor_net

from derive import PARTS, derive
from engine import Dense, Dropout, LeakyReLU, ReLU, Sequential, Sigmoid, Tanh, UserError

ACTS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "leaky_relu": lambda: LeakyReLU(0.1)}
LOSSES = ["mse", "huber", "bce", "bce_logits", "cross_entropy"]


def _net(loss: str, act: str, dropout: float = 0.0, seed: int = 0) -> Sequential:
    out = 3 if loss == "cross_entropy" else 2
    layers = [Dense(3, 3), ACTS[act]()]
    if dropout:
        layers.append(Dropout(dropout))
    layers += [Dense(3, out)]
    if loss == "bce":
        layers.append(Sigmoid())
    return Sequential(layers, seed=seed, dtype="float64")


def _data(loss: str, n: int = 3, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)) + 0.05, target_for(
        loss, rng, n, 3 if loss == "cross_entropy" else 2
    )


@pytest.mark.parametrize(("loss", "act"), list(zip(LOSSES, [*ACTS, "tanh"])))
def test_every_parameter_matches_the_engine(loss: str, act: str) -> None:
    net = _net(loss, act)
    x, y = _data(loss)
    net.loss_and_grad(x, y, loss)
    for entry in entries(net):
        d = derive(net, x, y, loss, entry, direct=False)
        assert d.value == pytest.approx(engine_grad(net, entry), abs=1e-12), entry


@pytest.mark.parametrize("loss", LOSSES)
def test_vector_view_gives_the_same_number(loss: str) -> None:
    net = _net(loss, "tanh", seed=2)
    x, y = _data(loss, seed=3)
    net.loss_and_grad(x, y, loss)
    for entry in ("0.W[1,2]", "0.b[2]", "2.W[1,0]", "2.b[0]"):
        d = derive(net, x, y, loss, entry, view="vector", sample=1, direct=False)
        assert d.value == pytest.approx(engine_grad(net, entry), abs=1e-12), entry


@pytest.mark.parametrize(("l1", "l2"), [(0.01, 0.0), (0.0, 0.05), (0.02, 0.03)])
def test_penalties_add_to_weights_only(l1: float, l2: float) -> None:
    net = _net("mse", "tanh")
    x, y = _data("mse")
    net.loss_and_grad(x, y, "mse", l1, l2)
    for entry in ("0.W[0,1]", "0.b[1]", "2.W[1,2]", "2.b[1]"):
        d = derive(net, x, y, "mse", entry, l1=l1, l2=l2)
        assert d.value == pytest.approx(engine_grad(net, entry), abs=1e-12), entry
    assert any(s.label == "R" for s in d.steps)
    assert "penalty" in str(derive(net, x, y, "mse", "2.W[0,0]", l1=l1, l2=l2).steps[-4].rule)


def test_dropout_uses_the_last_training_mask() -> None:
    net = _net("mse", "relu", dropout=0.5, seed=4)
    x, y = _data("mse", n=4)
    net.loss_and_grad(x, y, "mse")
    mask = net.layers[2].mask
    assert mask is not None and (mask == 0).any()
    for entry in ("0.W[0,0]", "0.W[2,1]", "0.b[1]", "3.W[1,2]"):
        for view in ("index", "vector"):
            d = derive(net, x, y, "mse", entry, view=view)
            assert d.value == pytest.approx(engine_grad(net, entry), abs=1e-12)
    rules = {s.rule.key for s in derive(net, x, y, "mse", "0.W[0,0]").steps}
    assert {"dropout", "chain_dropout"} <= rules


def test_dropout_without_a_mask_for_the_batch_is_off() -> None:
    net = _net("mse", "relu", dropout=0.5, seed=4)
    x, y = _data("mse", n=4)
    net.forward(x)  # inference: no mask
    d = derive(net, x, y, "mse", "0.W[0,0]")
    rules = {s.rule.key for s in d.steps}
    assert "dropout_off" in rules and "dropout" not in rules
    twin = Sequential([Dense(3, 3), ReLU(), Dense(3, 2)], dtype="float64")
    twin.data[...] = net.data
    twin.loss_and_grad(x, y, "mse")
    assert d.value == pytest.approx(float(twin.grads["0.W"][0, 0]), abs=1e-12)


def test_steps_come_in_order_and_carry_everything() -> None:
    net = xor_net()
    d = derive(net, XOR_X[1], XOR_Y[1], "mse", "0.W[0,1]")
    order = [PARTS.index(s.part) for s in d.steps]
    assert order == sorted(order) and set(order) == {0, 1, 2, 3}
    for step in d.steps:
        assert step.label and step.rule.text and step.general is not None
    labels = [s.label for s in d.part("backward")]
    assert labels[:3] == ["∂L/∂ŷ₀", "σ′(z²₀)", "δ²₀"] and labels[-1] == "∂L/∂W¹₀,₁"
    assert str(d.part("backward")[1].rule) == "derivative of σ: σ(1 − σ)"
    assert [s.label for s in d.part("forward")] == ["z¹₀", "a¹₀", "a¹₁", "z²₀", "ŷ₀"]
    assert d.check is not None and d.check.difference < 1e-15


def test_batch_value_is_the_mean_and_any_sample_can_be_shown() -> None:
    net = xor_net()
    net.loss_and_grad(XOR_X, XOR_Y, "mse")
    values = {derive(net, XOR_X, XOR_Y, "mse", "0.W[1,0]", sample=s).value for s in range(4)}
    assert max(values) - min(values) < 1e-16
    assert values.pop() == pytest.approx(float(net.grads["0.W"][1, 0]), abs=1e-15)
    d = derive(net, XOR_X, XOR_Y, "mse", "0.W[1,0]", sample=2)
    assert d.part("loss")[1].label == "L̄" and d.part("backward")[-1].label == "∂L̄/∂W¹₁,₀"


def test_wide_layers_list_the_units_off_the_path() -> None:
    net = Sequential([Dense(3, 6), Tanh(), Dense(6, 2)], seed=0, dtype="float64")
    x, y = _data("mse")
    d = derive(net, x, y, "mse", "0.W[2,0]")
    off = next(s for s in d.steps if s.rule.key == "off_path_many")
    a1 = np.tanh(x[0] @ net.params["0.W"].T + net.params["0.b"])
    assert off.substituted is None and np.allclose(off.value, np.delete(a1, 2))


def test_float32_networks_are_derived_in_float64() -> None:
    net = Sequential([Dense(2, 2), Sigmoid(), Dense(2, 1), Sigmoid()], seed=3)
    net.loss_and_grad(XOR_X, XOR_Y, "mse")
    d = derive(net, XOR_X, XOR_Y, "mse", "2.W[0,1]")
    assert d.value == pytest.approx(float(net.grads["2.W"][0, 1]), rel=1e-5)


def test_derive_reads_the_network_without_changing_it() -> None:
    net = _net("mse", "tanh", dropout=0.3)
    x, y = _data("mse")
    net.loss_and_grad(x, y, "mse")
    data, grad, mask = net.data.copy(), net.grad.copy(), net.layers[2].mask.copy()
    derive(net, x, y, "mse", "0.W[0,0]", view="vector")
    assert np.array_equal(net.data, data) and np.array_equal(net.grad, grad)
    assert np.array_equal(net.layers[2].mask, mask)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"view": "matrix"}, "unknown view"),
        ({"sample": 4}, "outside the batch"),
        ({"loss": "hinge"}, "unknown loss"),
        ({"param": "0.W[2,0]"}, "outside 0.W"),
    ],
)
def test_mistakes_are_user_errors(kwargs: dict, message: str) -> None:
    args = {"loss": "mse", "param": "0.W[0,0]", **kwargs}
    with pytest.raises(UserError, match=message):
        derive(xor_net(), XOR_X, XOR_Y, **args)


def test_inputs_of_the_wrong_width_are_user_errors() -> None:
    with pytest.raises(UserError, match="input does not fit"):
        derive(xor_net(), np.zeros(3), [1.0], "mse", "0.W[0,0]")
    with pytest.raises(UserError, match="targets do not fit"):
        derive(xor_net(), np.zeros(2), [1.0, 0.0], "mse", "0.W[0,0]")


def test_saturated_binary_cross_entropy_follows_the_engines_clamps() -> None:
    """ŷ = 1 exactly: logs clamp at −100 and ∂L/∂ŷ's denominator at 10⁻¹², as in PyTorch."""
    net = Sequential([Dense(2, 2), Tanh(), Dense(2, 1), Sigmoid()], seed=0, dtype="float64")
    net.params["2.b"][...] = 60.0
    x, y = np.array([[0.5, -1.0], [1.0, 1.0]]), np.array([[1.0], [0.0]])
    loss = net.loss_and_grad(x, y, "bce")
    for entry in ("0.W[0,1]", "2.W[0,1]", "2.b[0]"):
        d = derive(net, x, y, "bce", entry)
        assert d.value == engine_grad(net, entry)
    assert d.part("loss")[-1].value == pytest.approx(loss)
