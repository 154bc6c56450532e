"""Whole networks, initialisation and optimisers against PyTorch (optional), in float64.

A LeNet's loss, logits, gradients and training steps; the intervals of the default
initialisations; and every optimiser's trajectory. Skipped when PyTorch is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from torch_helpers import (
    OPTIM_TOL,
    RTOL,
    F,
    assert_close,
    assert_grads,
    backprop_input,
    copy_into,
    nn,
    tensors,
    torch,
    torch_name,
)

from engine import Dense, ReLU, Sequential, Tanh, optim
from engine.layers.core import Layer
from engine.layers.image import BatchNorm, Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.sequence import GRU, LSTM, RNN, Embedding, MultiHeadSelfAttention

# ---------------------------------------------------------------------------- whole network


def lenet() -> tuple[list[Layer], Any]:
    """Conv → ReLU → MaxPool → Conv → ReLU → Flatten → Dense, for 1×12×12 images, 5 classes."""
    ours = [Conv2D(1, 4, 3), ReLU(), MaxPool2D(2), Conv2D(4, 6, 3), ReLU(), Flatten(), Dense(54, 5)]
    theirs = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(54, 5),
    )
    return ours, theirs.double()


def test_lenet_cross_entropy_gradients_and_training() -> None:
    """Loss, logits and every gradient, then three SGD-with-momentum steps, as PyTorch."""
    rng = np.random.default_rng(8)
    layers, model = lenet()
    net = Sequential(layers, seed=3, dtype="float64", input_shape=(1, 12, 12))
    copy_into(model, net)
    x = rng.normal(size=(6, 144))  # flat rows, as data sets store images
    labels = rng.integers(0, 5, size=6)
    xt = torch.from_numpy(x.reshape(6, 1, 12, 12)).requires_grad_(True)
    yt = torch.from_numpy(labels)

    loss = net.loss_and_grad(x, labels, "cross_entropy")
    logits = np.array(net.last_output)
    t_loss = F.cross_entropy(model(xt), yt)
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=RTOL)
    with torch.no_grad():
        assert_close(logits, model(xt), "logits")
    assert_grads(net, model)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(6), labels] -= 1.0
    gx = backprop_input(net, p / 6)
    assert_close(gx, xt.grad, "input gradient")

    opt = optim.SGD(net, lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        net.loss_and_grad(x, labels, "cross_entropy")
        opt.step()
        t_opt.zero_grad()
        F.cross_entropy(model(xt), yt).backward()
        t_opt.step()
    named = dict(model.named_parameters())
    for name, value in net.params.items():
        assert_close(value, named[torch_name(name)], f"{name} after three steps")


# ---------------------------------------------------------------------------- initialisation


class BoundsRng:
    """Stands in for ``np.random.Generator``: a draw returns its interval's ends, not samples.

    ``uniform(lo, hi, shape)`` gives ``hi`` everywhere but ``lo`` first; ``normal(μ, σ, shape)``
    gives ``μ + σ`` everywhere but ``μ − σ`` first. PyTorch's ``uniform_``/``normal_`` are patched
    the same way, so equal tensors mean equal initialisation intervals.
    """

    @staticmethod
    def uniform(low: float, high: float, size: tuple[int, ...]) -> np.ndarray:
        out = np.full(size, float(high))
        out.flat[0] = low
        return out

    @staticmethod
    def normal(loc: float, scale: float, size: tuple[int, ...]) -> np.ndarray:
        return BoundsRng.uniform(loc - scale, loc + scale, size)


def bounds_uniform_(self: Any, a: float = 0.0, b: float = 1.0, **_: Any) -> Any:
    with torch.no_grad():
        self.fill_(b)
        self.view(-1)[0] = a
    return self


def bounds_normal_(self: Any, mean: float = 0.0, std: float = 1.0, **_: Any) -> Any:
    return bounds_uniform_(self, mean - std, mean + std)


INITS = {
    "Dense": (lambda: Dense(100, 50), (100,), lambda: nn.Linear(100, 50)),
    "Conv2D": (lambda: Conv2D(3, 8, 5), (3, 9, 9), lambda: nn.Conv2d(3, 8, 5)),
    "RNN": (lambda: RNN(4, 6), (5, 4), lambda: nn.RNN(4, 6, batch_first=True)),
    "LSTM": (lambda: LSTM(4, 6), (5, 4), lambda: nn.LSTM(4, 6, batch_first=True)),
    "GRU": (lambda: GRU(4, 6), (5, 4), lambda: nn.GRU(4, 6, batch_first=True)),
    "MultiHeadSelfAttention": (
        lambda: MultiHeadSelfAttention(8, 2),
        (5, 8),
        lambda: nn.MultiheadAttention(8, 2, batch_first=True),
    ),
    "Embedding": (lambda: Embedding(10, 4), (5,), lambda: nn.Embedding(10, 4)),
    "BatchNorm": (lambda: BatchNorm(3), (3, 4, 4), lambda: nn.BatchNorm2d(3)),
    "LayerNorm": (lambda: LayerNorm(6), (5, 6), lambda: nn.LayerNorm(6)),
}


@pytest.mark.parametrize("kind", list(INITS))
def test_default_initialisation_intervals(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each parameter is drawn from the same distribution's interval as PyTorch's default."""
    make_layer, input_shape, make_module = INITS[kind]
    monkeypatch.setattr(torch.Tensor, "uniform_", bounds_uniform_)
    monkeypatch.setattr(torch.Tensor, "normal_", bounds_normal_)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # draw in float64, as the engine does
    try:
        module = nn.Sequential(make_module())
    finally:
        torch.set_default_dtype(default)
    net = Sequential([make_layer()], dtype="float64", input_shape=input_shape)
    net.layers[0].reset(BoundsRng())  # type: ignore[arg-type]
    theirs = tensors(module)
    for source in (net.params, net.buffers):
        for name, value in source.items():
            np.testing.assert_allclose(
                value, theirs[torch_name(name)].detach().numpy(), rtol=0, atol=1e-10, err_msg=name
            )


def test_dense_default_draws_span_pytorchs_interval() -> None:
    """The real draws fill nn.Linear's U(±1/√in) (bound from torch's own kaiming rule)."""
    theirs = nn.Linear(100, 50)
    bound = torch.nn.init.calculate_gain("leaky_relu", np.sqrt(5)) * np.sqrt(3 / 100)
    assert bound == pytest.approx(1 / np.sqrt(100), rel=1e-12)
    assert theirs.weight.abs().max().item() <= bound
    net = Sequential([Dense(100, 50)], seed=0, dtype="float64")
    for name in ("0.W", "0.b"):
        p = net.params[name]
        assert p.max() <= bound and p.min() >= -bound and np.abs(p).max() > 0.9 * bound


# ---------------------------------------------------------------------------- optimisers

OPTIMISERS = [
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.01}),
    ("sgd", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("adam", {"lr": 0.05}),
    ("adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01}),
    ("adamw", {"lr": 0.05}),
    ("adamw", {"lr": 0.05, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.01}),
    (
        "rmsprop",
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
    ),
    ("adagrad", {"lr": 0.1}),
    (
        "adagrad",
        {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.1, "weight_decay": 0.01},
    ),
]
TORCH_OPTIMISERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
}


@pytest.mark.parametrize(("name", "hyper"), OPTIMISERS, ids=lambda v: str(v))
def test_optimiser_trajectory(name: str, hyper: dict[str, Any]) -> None:
    """Five steps on a tiny MLP under mse: every parameter after every step, to 1e-10."""
    rng = np.random.default_rng(9)
    net = Sequential([Dense(3, 5), Tanh(), Dense(5, 2)], seed=1, dtype="float64")
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    copy_into(model, net)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = optim.create(name, net, **hyper)
    t_opt = getattr(torch.optim, TORCH_OPTIMISERS[name])(model.parameters(), **hyper)
    named = dict(model.named_parameters())
    for step in range(1, 6):
        loss = net.loss_and_grad(x, y, "mse")
        opt.step()
        t_opt.zero_grad()
        t_loss = F.mse_loss(model(xt), yt)
        t_loss.backward()
        t_opt.step()
        assert loss == pytest.approx(t_loss.item(), rel=OPTIM_TOL, abs=OPTIM_TOL)
        for pname, value in net.params.items():
            np.testing.assert_allclose(
                value,
                named[torch_name(pname)].detach().numpy(),
                rtol=OPTIM_TOL,
                atol=OPTIM_TOL,
                err_msg=f"{pname} after step {step}",
            )
