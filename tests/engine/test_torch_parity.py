"""The engine against PyTorch (optional), in float64: same weights and data, same numbers.

Each test builds a layer (or a small network) with the engine, copies its initial parameters into
the equivalent ``torch.nn`` module, runs both forward and backward on the same batch, and compares
outputs, parameter gradients and input gradients. Skipped when PyTorch is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import Dense, ReLU, Sequential, Tanh, optim
from engine.layers.blocks import transformer_block
from engine.layers.core import Layer
from engine.layers.image import AvgPool2D, BatchNorm, Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.sequence import GRU, LSTM, RNN, Embedding, MultiHeadSelfAttention

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

RTOL, ATOL = 1e-9, 1e-11  # float64 end to end: agreement is far tighter than the 1e-6 asked
OPTIM_TOL = 1e-10

# engine parameter and buffer names → PyTorch's, for the last part of a dotted name
TORCH_NAMES = {
    "W": "weight",
    "b": "bias",
    "gamma": "weight",
    "beta": "bias",
    "running_mean": "running_mean",
    "running_var": "running_var",
    "W_ih": "weight_ih_l0",
    "W_hh": "weight_hh_l0",
    "b_ih": "bias_ih_l0",
    "b_hh": "bias_hh_l0",
    "W_in": "in_proj_weight",
    "b_in": "in_proj_bias",
    "W_out": "out_proj.weight",
    "b_out": "out_proj.bias",
}


def torch_name(name: str) -> str:
    """``"3.W"`` → ``"3.weight"``: the same layer index, PyTorch's tensor name."""
    prefix, _, last = name.rpartition(".")
    return f"{prefix}.{TORCH_NAMES[last]}"


def tensors(module: Any) -> dict[str, Any]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def copy_into(module: Any, net: Sequential, names: Callable[[str], str] = torch_name) -> None:
    """The engine's parameters and buffers, copied into the PyTorch module's tensors."""
    target = tensors(module)
    with torch.no_grad():
        for source in (net.params, net.buffers):
            for name, value in source.items():
                target[names(name)].copy_(torch.from_numpy(value.copy()))


def assert_close(actual: Any, expected: Any, what: str) -> None:
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def assert_grads(net: Sequential, module: Any, names: Callable[[str], str] = torch_name) -> None:
    target = tensors(module)
    for name, grad in net.grads.items():
        assert target[names(name)].grad is not None, name
        assert_close(grad, target[names(name)].grad, f"gradient of {name}")


def backprop_input(net: Sequential, grad_out: np.ndarray) -> np.ndarray | None:
    """∂L/∂x from ∂L/∂(output), through the layers of the last training forward."""
    g: np.ndarray | None = grad_out
    for layer in reversed(net.layers):
        assert g is not None
        g = layer.backward(g, need_grad_x=True)
    return g


def engine_mse(net: Sequential, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, Any]:
    """Mean squared error against ``y``: loss, output and input gradient; fills ``net.grads``."""
    if net.n_params:
        loss = net.loss_and_grad(x, y, "mse")
        out = np.array(net.last_output)
    else:  # a network without parameters has no gradient to fill; only ∂L/∂x is of interest
        out = net.forward(x, training=True)
        loss = float(np.mean((out - y) ** 2))
    return loss, out, backprop_input(net, 2.0 * (out - y) / out.size)


def torch_mse(forward: Callable[[Any], Any], x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Loss and output of ``forward`` under mean squared error; the input's gradient is filled."""
    xt = torch.from_numpy(x)
    if xt.is_floating_point():
        xt.requires_grad_(True)
    out = forward(xt)
    loss = F.mse_loss(out, torch.from_numpy(y))
    loss.backward()
    return loss, out, xt


def check_mse_parity(
    layers: list[Layer],
    input_shape: tuple[int, ...],
    module: Any,
    forward: Callable[[Any], Any],
    x: np.ndarray,
    rng: np.random.Generator,
    input_grad: bool = True,
) -> Sequential:
    """Builds the engine network, mirrors it into ``module``, and compares everything."""
    net = Sequential(layers, seed=3, dtype="float64", input_shape=input_shape)
    module.double()
    copy_into(module, net)
    y = rng.normal(size=(x.shape[0], *net.output_shape))
    loss, out, gx = engine_mse(net, x, y)
    t_loss, t_out, xt = torch_mse(forward, x, y)
    assert_close(out, t_out, "output")
    assert loss == pytest.approx(t_loss.item(), rel=RTOL, abs=ATOL)
    assert_grads(net, module)
    if input_grad:
        assert_close(gx, xt.grad, "input gradient")
    return net


# ---------------------------------------------------------------------------- image layers


CONV_CASES = [(3, 1, 0), (3, 1, 1), (3, 2, 0), (3, 2, 1), (2, 2, 1)]  # (kernel, stride, padding)


@pytest.mark.parametrize(("k", "stride", "padding"), CONV_CASES)
def test_conv2d(k: int, stride: int, padding: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 7, 7))
    conv = nn.Sequential(nn.Conv2d(2, 3, k, stride=stride, padding=padding))
    layers = [Conv2D(2, 3, k, stride=stride, padding=padding)]
    check_mse_parity(layers, (2, 7, 7), conv, conv, x, rng)


@pytest.mark.parametrize(("k", "stride"), [(2, None), (3, 2), (2, 1)])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(kind: str, k: int, stride: int | None) -> None:
    """Overlapping windows (stride < k) and sizes that do not divide evenly included."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 7, 7))
    layer = MaxPool2D(k, stride) if kind == "max" else AvgPool2D(k, stride)
    pool = nn.MaxPool2d(k, stride) if kind == "max" else nn.AvgPool2d(k, stride)
    check_mse_parity([layer], (2, 7, 7), nn.Sequential(pool), pool, x, rng)


@pytest.mark.parametrize("input_shape", [(5,), (3, 4, 4)], ids=["features", "channels"])
def test_batchnorm_training_step_then_inference(input_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(2)
    c = input_shape[0]
    bn_class = nn.BatchNorm1d if len(input_shape) == 1 else nn.BatchNorm2d
    bn = bn_class(c, eps=1e-3, momentum=0.3)
    layers = [BatchNorm(c, eps=1e-3, momentum=0.3)]
    net = Sequential(layers, dtype="float64", input_shape=input_shape)
    net.params["0.gamma"] = rng.uniform(0.5, 1.5, c)
    net.params["0.beta"] = rng.normal(size=c)
    net.buffers["0.running_mean"] = rng.normal(size=c)
    net.buffers["0.running_var"] = rng.uniform(0.5, 2.0, c)
    module = nn.Sequential(bn).double()
    copy_into(module, net)

    x = rng.normal(2.0, 3.0, size=(6, *input_shape))
    y = rng.normal(size=x.shape)
    module.train()
    _, out, gx = engine_mse(net, x, y)
    _, t_out, xt = torch_mse(module, x, y)
    assert_close(out, t_out, "training output")
    assert_grads(net, module)
    assert_close(gx, xt.grad, "input gradient")
    assert_close(net.buffers["0.running_mean"], bn.running_mean, "running mean")
    assert_close(net.buffers["0.running_var"], bn.running_var, "running variance")

    module.eval()
    x2 = rng.normal(size=(4, *input_shape))
    with torch.no_grad():
        assert_close(net.forward(x2), module(torch.from_numpy(x2)), "inference output")


@pytest.mark.parametrize("input_shape", [(6,), (4, 6)], ids=["rows", "sequences"])
def test_layernorm(input_shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    d = input_shape[-1]
    module = nn.Sequential(nn.LayerNorm(d, eps=1e-4))
    x = rng.normal(1.0, 2.0, size=(3, *input_shape))
    layers = [LayerNorm(d, eps=1e-4)]
    net = check_mse_parity(layers, input_shape, module, module, x, rng)
    # the identity initial γ, β hide mistakes in their use: repeat with random ones
    net.params["0.gamma"] = rng.uniform(0.5, 1.5, d)
    net.params["0.beta"] = rng.normal(size=d)
    copy_into(module, net)
    module.zero_grad()
    y = rng.normal(size=x.shape)
    _, out, gx = engine_mse(net, x, y)
    _, t_out, xt = torch_mse(module, x, y)
    assert_close(out, t_out, "output")
    assert_grads(net, module)
    assert_close(gx, xt.grad, "input gradient")


# ---------------------------------------------------------------------------- sequence layers

RECURRENT = {"RNN": (RNN, nn.RNN), "LSTM": (LSTM, nn.LSTM), "GRU": (GRU, nn.GRU)}


@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequence", "last-state"])
@pytest.mark.parametrize("kind", sorted(RECURRENT))
def test_recurrent(kind: str, return_sequences: bool) -> None:
    rng = np.random.default_rng(4)
    ours, theirs = RECURRENT[kind]
    rnn = theirs(4, 6, batch_first=True)
    x = rng.normal(size=(3, 5, 4))

    def forward(xt: Any) -> Any:
        seq, _ = rnn(xt)
        return seq if return_sequences else seq[:, -1]

    layers = [ours(4, 6, return_sequences=return_sequences)]
    check_mse_parity(layers, (5, 4), nn.Sequential(rnn), forward, x, rng)


def test_embedding() -> None:
    rng = np.random.default_rng(5)
    emb = nn.Embedding(7, 4)
    ids = np.array([[0, 3, 3, 6, 1], [3, 2, 2, 2, 0], [6, 6, 5, 4, 3]])  # repeats add up
    check_mse_parity([Embedding(7, 4)], (5,), nn.Sequential(emb), emb, ids, rng, input_grad=False)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("heads", [1, 2, 3])
def test_multi_head_self_attention(heads: int, causal: bool) -> None:
    rng = np.random.default_rng(6)
    n, T, d = 2, 5, 6
    mha = nn.MultiheadAttention(d, heads, batch_first=True, bias=True)
    mask = torch.triu(torch.ones(T, T), 1).bool() if causal else None
    weights: list[Any] = []

    def forward(xt: Any) -> Any:
        out, A = mha(xt, xt, xt, need_weights=True, average_attn_weights=False, attn_mask=mask)
        weights.append(A)
        return out

    net = Sequential(
        [MultiHeadSelfAttention(d, heads, causal)], seed=3, dtype="float64", input_shape=(T, d)
    )
    net.params["0.b_in"] = rng.normal(size=3 * d)  # zero at initialisation; test their layout
    net.params["0.b_out"] = rng.normal(size=d)
    module = nn.Sequential(mha).double()
    copy_into(module, net)
    x = rng.normal(size=(n, T, d))
    y = rng.normal(size=x.shape)
    _, out, gx = engine_mse(net, x, y)
    _, t_out, xt = torch_mse(forward, x, y)
    assert_close(out, t_out, "output")
    assert_close(net.layers[0].attention_weights, weights[0], "attention weights")
    assert_grads(net, module)
    assert_close(gx, xt.grad, "input gradient")
    if causal:
        assert not np.triu(net.layers[0].attention_weights, 1).any()


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_transformer_block_matches_pre_norm_encoder_layer(causal: bool) -> None:
    """``transformer_block`` is ``nn.TransformerEncoderLayer(norm_first=True)`` without dropout."""
    rng = np.random.default_rng(7)
    n, T, d, heads, ff = 2, 4, 6, 2, 10
    layer = nn.TransformerEncoderLayer(
        d, heads, ff, dropout=0.0, batch_first=True, norm_first=True
    ).double()
    names = {
        "0.0.gamma": "norm1.weight",
        "0.0.beta": "norm1.bias",
        "0.1.W_in": "self_attn.in_proj_weight",
        "0.1.b_in": "self_attn.in_proj_bias",
        "0.1.W_out": "self_attn.out_proj.weight",
        "0.1.b_out": "self_attn.out_proj.bias",
        "1.0.gamma": "norm2.weight",
        "1.0.beta": "norm2.bias",
        "1.1.W": "linear1.weight",
        "1.1.b": "linear1.bias",
        "1.3.W": "linear2.weight",
        "1.3.b": "linear2.bias",
    }
    net = Sequential(
        transformer_block(d, heads, ff, causal), seed=3, dtype="float64", input_shape=(T, d)
    )
    assert sorted(net.params) == sorted(names)
    for name, value in net.params.items():  # no identity norms or zero biases left to hide behind
        net.params[name] = value + rng.normal(0.0, 0.1, value.shape)
    copy_into(layer, net, names.__getitem__)
    mask = torch.triu(torch.ones(T, T), 1).bool() if causal else None
    x = rng.normal(size=(n, T, d))
    y = rng.normal(size=x.shape)
    _, out, gx = engine_mse(net, x, y)
    _, t_out, xt = torch_mse(lambda xt: layer(xt, src_mask=mask), x, y)
    assert_close(out, t_out, "output")
    assert_grads(net, layer, names.__getitem__)
    assert_close(gx, xt.grad, "input gradient")


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
