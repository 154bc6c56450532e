"""A split fused step that takes the optimiser's update (Adam's, AdamW's or SGD's) in the same
call, each thread updating the rows of the gradient it made: the very numbers of a separate
update, and only where one is taken."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import Dense, ReLU, Sequential, Tanh, Trainer, optim
from engine.backends.fused import FusedStep, dense_groups

NETS = {
    "toy": (lambda: [Dense(2, 8), Tanh(), Dense(8, 8), Tanh(), Dense(8, 1)], "bce_logits"),
    "blas layers": (lambda: [Dense(200, 64), ReLU(), Dense(64, 10)], "cross_entropy"),
}


def _batch(net: Sequential, loss: str, n: int, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, net.in_features))
    if loss == "cross_entropy":
        y = rng.integers(0, net.out_features, n)
    else:
        y = (rng.random((n, net.out_features)) < 0.5).astype(float)
    return net.as_input(x), net.as_target(y, loss, n)


def _split(net: Sequential, loss: str, n: int, chunks: int) -> FusedStep:
    groups = dense_groups(net.layers)
    assert groups is not None
    return FusedStep(net, groups, n, loss, chunks=chunks)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("name", "hyper"),
    [
        ("adam", {}),
        ("adam", {"weight_decay": 1e-3}),
        ("adamw", {"weight_decay": 1e-2}),
        ("sgd", {}),
        ("sgd", {"momentum": 0.9, "weight_decay": 1e-3}),
        ("sgd", {"momentum": 0.9, "dampening": 0.5}),
        ("sgd", {"momentum": 0.8, "nesterov": True}),
    ],
)
@pytest.mark.parametrize("chunks", [2, 3])
@pytest.mark.parametrize("net_name", sorted(NETS))
def test_the_update_in_the_step_is_bit_for_bit_a_separate_update(
    net_name: str, chunks: int, name: str, hyper: dict, dtype: str
) -> None:
    make, loss = NETS[net_name]
    net = Sequential(make(), seed=4, dtype=dtype)
    twin = net.copy()
    n = 12 * chunks
    x, y = _batch(net, loss, n)
    step, twin_step = _split(net, loss, n, chunks), _split(twin, loss, n, chunks)
    opt = optim.create(name, net, lr=0.01, **hyper)
    twin_opt = optim.create(name, twin, lr=0.01, **hyper)
    for _ in range(6):
        value = step.run(x, y, opt)
        assert step.updated
        assert value == twin_step.run(x, y)
        assert not twin_step.updated
        twin_opt.step()
    assert opt.t == twin_opt.t == 6
    np.testing.assert_array_equal(net.data, twin.data)
    for key in opt.state:
        np.testing.assert_array_equal(opt.state[key], twin_opt.state[key])
    np.testing.assert_array_equal(net.grad, twin.grad)  # the pure gradient, decay not added


@pytest.mark.parametrize(("name", "hyper"), [("adam", {}), ("sgd", {"momentum": 0.9})])
def test_a_step_whose_loss_is_not_finite_takes_no_update(name: str, hyper: dict) -> None:
    make, loss = NETS["blas layers"]
    net = Sequential(make(), seed=0)
    x, y = _batch(net, loss, 24)
    net.data[-1] = np.nan  # the last bias: every output, whatever ReLU makes of a NaN
    step = _split(net, loss, 24, 2)
    opt = optim.create(name, net, lr=0.01, **hyper)
    before = net.data.copy()
    assert not np.isfinite(step.run(x, y, opt))
    assert not step.updated and opt.t == 0
    np.testing.assert_array_equal(net.data, before)
    assert not any(state.any() for state in opt.state.values())


def test_other_optimisers_and_frozen_layers_keep_their_own_update() -> None:
    make, loss = NETS["blas layers"]
    net = Sequential(make(), seed=0)
    x, y = _batch(net, loss, 24)
    step = _split(net, loss, 24, 2)
    before = net.data.copy()
    step.run(x, y, optim.create("rmsprop", net, lr=0.1))
    assert not step.updated
    np.testing.assert_array_equal(net.data, before)  # the gradient only: RMSprop steps after
    net.frozen_ranges = [(0, 10)]
    adam = optim.create("adam", net, lr=0.01)
    step.run(x, y, adam)
    assert not step.updated and adam.t == 0
    np.testing.assert_array_equal(net.data, before)
    whole = _split(net, loss, 24, 1)  # a whole batch takes no update in its call
    whole.run(x, y, optim.create("adam", net, lr=0.01))
    assert not whole.updated


def test_penalties_keep_the_update_separate() -> None:
    """The L1/L2 penalties' gradients are added after the step's own: the update must see them."""
    make, loss = NETS["blas layers"]
    net = Sequential(make(), seed=0)
    x, y = _batch(net, loss, 24)
    net._fused._steps[(24, loss)] = _split(net, loss, 24, 2)
    opt = optim.create("adam", net, lr=0.01)
    net._loss_and_grad(x, y, loss, 0.0, 1e-3, opt)
    assert not net.last_updated and opt.t == 0
    net._loss_and_grad(x, y, loss, 0.0, 0.0, opt)
    assert net.last_updated and opt.t == 1


def test_training_takes_the_update_in_the_step_and_ends_where_a_separate_update_does() -> None:
    """``Trainer`` hands its optimiser to the step unless it clips (clipping needs the whole
    gradient first): a clip too large to bite gives the separate path the very same numbers."""
    make, loss = NETS["blas layers"]
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(96, 200)), rng.integers(0, 10, 96)
    nets = [Sequential(make(), seed=2, dtype="float32") for _ in range(2)]
    for net in nets:  # one split step for every batch of 24, whatever the threads here
        net._fused._steps[(24, loss)] = _split(net, loss, 24, 2)
    fused = Trainer(nets[0], loss, optim.create("adam", nets[0], lr=0.01), batch_size=24)
    separate = Trainer(
        nets[1], loss, optim.create("adam", nets[1], lr=0.01), batch_size=24, clip_norm=1e30
    )
    fused.fit(X, y, epochs=2)
    assert nets[0].last_updated
    separate.fit(X, y, epochs=2)
    assert not nets[1].last_updated
    assert fused.optimizer.t == separate.optimizer.t == 8
    np.testing.assert_array_equal(nets[0].data, nets[1].data)
