"""``engine.interop.to_torch`` / ``from_torch`` against PyTorch itself (skipped without it).

Each network below runs in both (float64, outputs to 1e-12); the round trip gives back the same
layers and every tensor bit for bit; state-dict names and shapes equal those of PyTorch's own
modules; a safetensors file of ``net.save`` loads with ``load_state_dict(strict=True)``; and a
training run that moves to ``torch.optim`` and back (Adam state included) follows an
uninterrupted engine run step by step.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import Sequential
from engine.datasets import load
from engine.errors import UserError
from engine.interop import from_torch, to_torch
from engine.interop.torch_names import torch_name
from engine.layers import (
    ELU,
    GELU,
    GRU,
    LAYER_TYPES,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Heaviside,
    Layer,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    MultiHeadSelfAttention,
    PositionalEncoding,
    ReLU,
    Residual,
    Sigmoid,
    Tanh,
    transformer_block,
)
from engine.optim.base import create

torch = pytest.importorskip("torch")
tm = pytest.importorskip("engine.interop.torch_modules")  # imports PyTorch
nn = torch.nn
F = torch.nn.functional

NETS: dict[str, tuple[Callable[[], list[Layer]], tuple[int, ...], int]] = {
    # name: (layers, one sample's input shape, vocabulary (0: real inputs))
    "mlp": (
        lambda: [
            Dense(3, 5),
            Tanh(),
            Dense(5, 4),
            LeakyReLU(0.2),
            Dense(4, 4),
            ELU(0.7),
            Dense(4, 3),
            GELU(),
            Dropout(0.3),
            Dense(3, 3),
            Sigmoid(),
            Dense(3, 2),
            Heaviside(),
        ],
        (3,),
        0,
    ),
    "image": (
        lambda: [
            Conv2D(2, 3, 3, stride=2, padding=1),
            BatchNorm(3, momentum=0.2),
            ReLU(),
            MaxPool2D(2, 1),
            AvgPool2D(2),
            Flatten(),
            Dense(3, 4),
            BatchNorm(4),
        ],
        (2, 7, 7),
        0,
    ),
    "sequence": (
        lambda: [
            Dense(3, 6),
            BatchNorm(5),
            RNN(6, 4),
            GRU(4, 5),
            LayerNorm(5),
            LSTM(5, 3, return_sequences=False),
        ],
        (5, 3),
        0,
    ),
    "transformer": (
        lambda: [
            Embedding(9, 8),
            PositionalEncoding(8, max_len=12),
            *transformer_block(8, 2, ff=12, causal=True),
            Residual([MultiHeadSelfAttention(8, 4), Tanh()]),
            Dense(8, 9),
        ],
        (6,),
        9,
    ),
}


def _net(name: str, dtype: str = "float64", seed: int = 3) -> Sequential:
    layers, shape, _ = NETS[name]
    net = Sequential(layers(), seed=seed, dtype=dtype, input_shape=shape)
    rng = np.random.default_rng(seed)  # no identity norms, zero biases or unit variances left
    for views in (net.params, net.buffers):
        for key, value in views.items():
            views[key] = value + rng.uniform(0.05, 0.2, value.shape)
    return net


def _inputs(name: str, n: int = 4) -> np.ndarray:
    _, shape, vocab = NETS[name]
    rng = np.random.default_rng(11)
    if vocab:
        return rng.integers(0, vocab, (n, *shape)).astype(np.float64)
    return rng.normal(size=(n, *shape))


def _walk(layers: list[Layer]) -> list[Layer]:
    return [x for layer in layers for x in (layer, *_walk(getattr(layer, "inner", [])))]


def test_the_networks_hold_every_layer_type() -> None:
    held = {layer.type_name for name in NETS for layer in _walk(NETS[name][0]())}
    assert held == set(LAYER_TYPES), f"add {set(LAYER_TYPES) - held} to NETS"


@pytest.mark.parametrize("name", NETS)
def test_the_module_computes_what_the_network_does(name: str) -> None:
    net = _net(name)
    model = to_torch(net).eval()
    x = _inputs(name)
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, net.forward(x), rtol=1e-12, atol=1e-12)
    assert model.input_shape == net.input_shape


@pytest.mark.parametrize("name", NETS)
def test_from_torch_gives_the_network_back(name: str) -> None:
    net = _net(name)
    back = from_torch(to_torch(net))
    assert back.spec() == net.spec()
    assert back.dtype == net.dtype and back.input_shape == net.input_shape
    np.testing.assert_array_equal(back.data, net.data)
    np.testing.assert_array_equal(back.state, net.state)


def test_float32_stays_float32() -> None:
    net = _net("image", "float32")
    model = to_torch(net)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert from_torch(model).dtype == np.float32


def test_state_dict_names_and_shapes_are_pytorchs() -> None:
    """The same as PyTorch's own modules give, numbered as nn.Sequential numbers them."""
    net = Sequential(
        [Conv2D(1, 2, 3), BatchNorm(2), Flatten(), Dense(8, 4), ReLU()], input_shape=(1, 4, 4)
    )
    theirs = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 4), nn.ReLU()
    )
    seq = Sequential([LSTM(3, 5), MultiHeadSelfAttention(5, 1), GRU(5, 2)], input_shape=(4, 3))
    theirs_seq = nn.ModuleList(
        [nn.LSTM(3, 5, batch_first=True), nn.MultiheadAttention(5, 1), nn.GRU(5, 2)]
    )
    for ours, plain in ((net, theirs), (seq, theirs_seq)):
        got = {k: tuple(v.shape) for k, v in to_torch(ours).state_dict().items()}
        assert got == {k: tuple(v.shape) for k, v in plain.state_dict().items()}


def test_a_plain_sequential_converts() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Dropout(0.1), nn.Linear(6, 2)).double()
    net = from_torch(model)
    assert [layer.type_name for layer in net.layers] == ["Dense", "Tanh", "Dropout", "Dense"]
    x = np.random.default_rng(0).normal(size=(5, 4))
    with torch.no_grad():
        expected = model.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12)


def test_a_saved_file_loads_into_the_module(tmp_path: Path) -> None:
    """``net.save('….safetensors')`` is a state dict PyTorch takes strictly, and back."""
    st = pytest.importorskip("safetensors.torch")
    net = _net("image")
    net.save(tmp_path / "model.safetensors")
    model = to_torch(_net("image", seed=8))  # other weights, to be overwritten
    model.load_state_dict(st.load_file(str(tmp_path / "model.safetensors")), strict=True)
    np.testing.assert_array_equal(from_torch(model).data, net.data)
    back = Sequential.load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(back.state, net.state)
    st.save_file(model.state_dict(), str(tmp_path / "theirs.safetensors"))
    with pytest.raises(UserError, match="no dltui network description"):
        Sequential.load(tmp_path / "theirs.safetensors")  # tensors without their layers


REFUSED: dict[str, tuple[Callable[[], Any], str]] = {
    "no bias": (lambda: nn.Sequential(nn.Linear(3, 2, bias=False)), "module 0 (Linear)"),
    "dilated": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)),
        "module 0 (Conv2d)",
    ),
    "bare lstm": (lambda: nn.Sequential(nn.LSTM(3, 4)), "module 0 (LSTM)"),
    "unknown": (lambda: nn.Sequential(nn.Linear(3, 3), nn.Softplus()), "module 1 (Softplus)"),
    "nested": (
        lambda: nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 3))),
        "module 1 (Sequential)",
    ),
    "tanh gelu": (lambda: nn.Sequential(nn.GELU(approximate="tanh")), "module 0 (GELU)"),
    "not sequential": (lambda: nn.Linear(3, 2), "not 'Linear'"),
    "state dict": (lambda: nn.Sequential(nn.Linear(3, 2)).state_dict(), "not a state dict"),
    "half": (lambda: nn.Sequential(nn.Linear(3, 2)).half(), "float16"),
    "no shape": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3)), "input's shape is unknown"),
    "code": (
        lambda: nn.Sequential(tm.PositionalEncoding(np.ones((5, 4)))),
        "module 0 (PositionalEncoding)",
    ),
    "sizes": (lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)), "do not fit together"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cannot_convert_is_named(case: str) -> None:
    build, words = REFUSED[case]
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)")):
        from_torch(build())


# ---------------------------------------------------------------- training across both
TRAINED: dict[str, tuple[Callable[[], list[Layer]], tuple[int, ...]]] = {
    "mlp": (lambda: [Dense(64, 16), Tanh(), Dense(16, 10)], (64,)),
    "conv": (  # the norm after the nonlinearity: a bias right before it has no gradient
        lambda: [
            Conv2D(1, 3, 3, padding=1),
            ReLU(),
            BatchNorm(3),
            MaxPool2D(2),
            Flatten(),
            Dense(48, 10),
        ],
        (1, 8, 8),
    ),
    "lstm": (lambda: [LSTM(8, 6, return_sequences=False), Dense(6, 10)], (8, 8)),
}
STEPS, BATCH, LR = 3, 16, 0.01


def _batches(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    data = load("digits")
    order = np.random.default_rng(5).permutation(len(data.X_train))[: n * BATCH]
    return [(data.X_train[idx], data.y_train[idx]) for idx in np.array_split(order, n)]


def _engine_steps(net: Sequential, opt: Any, batches: list[tuple[Any, Any]]) -> list[float]:
    losses = []
    for x, y in batches:
        opt.zero_grad()
        losses.append(net.loss_and_grad(x.astype(net.dtype), y, "cross_entropy"))
        opt.step()
    return losses


def _torch_steps(model: Any, opt: Any, shape: tuple[int, ...], batches: list) -> list[float]:
    losses = []
    for x, y in batches:
        opt.zero_grad()
        xt = torch.from_numpy(x.reshape(len(x), *shape)).to(next(model.parameters()).dtype)
        loss = F.cross_entropy(model(xt), torch.from_numpy(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _adam_to_torch(net: Sequential, opt: Any, model: Any) -> Any:
    """A ``torch.optim.Adam`` over ``model`` that carries on from the engine's ``opt``."""
    theirs = torch.optim.Adam(model.parameters(), lr=LR)
    params = dict(model.named_parameters())
    state = opt.state_dict()
    for name, start in net.offsets.items():
        p = params[torch_name(name)]
        moments = {
            k: torch.from_numpy(state[k][start : start + p.numel()].reshape(p.shape).copy())
            for k in ("exp_avg", "exp_avg_sq")
        }
        theirs.state[p] = {"step": torch.tensor(float(opt.t)), **moments}
    return theirs


def _adam_from_torch(net: Sequential, theirs: Any, model: Any) -> Any:
    """The engine's Adam for ``net`` that carries on from PyTorch's ``theirs``."""
    opt = create("adam", net, lr=LR)
    params = dict(model.named_parameters())
    flat = {k: np.zeros(net.data.shape, net.dtype) for k in ("exp_avg", "exp_avg_sq")}
    steps = set()
    for name, start in net.offsets.items():
        state = theirs.state[params[torch_name(name)]]
        steps.add(int(state["step"]))
        for k, buf in flat.items():
            buf[start : start + net.params[name].size] = state[k].detach().numpy().ravel()
    (t,) = steps
    opt.load_state_dict(flat, t)
    return opt


@pytest.mark.parametrize(("dtype", "tol"), [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("name", TRAINED)
def test_training_moves_to_pytorch_and_back(name: str, dtype: str, tol: float) -> None:
    layers, shape = TRAINED[name]
    batches = _batches(3 * STEPS)
    whole = Sequential(layers(), seed=1, dtype=dtype, input_shape=shape)
    expected = _engine_steps(whole, create("adam", whole, lr=LR), batches)

    net = Sequential(layers(), seed=1, dtype=dtype, input_shape=shape)
    opt = create("adam", net, lr=LR)
    losses = _engine_steps(net, opt, batches[:STEPS])
    model = to_torch(net).train()
    theirs = _adam_to_torch(net, opt, model)
    losses += _torch_steps(model, theirs, shape, batches[STEPS : 2 * STEPS])
    back = from_torch(model)
    losses += _engine_steps(back, _adam_from_torch(back, theirs, model), batches[2 * STEPS :])

    np.testing.assert_allclose(losses, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(back.data, whole.data, rtol=tol * 10, atol=tol * 10)
    np.testing.assert_allclose(back.state, whole.state, rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("name", NETS)
def test_a_float32_network_comes_back_from_torch(name: str) -> None:
    """to_torch gives a float32 network's module in float32, position code included (the
    buffer is rounded with the weights), and from_torch takes it back as it is."""
    net = _net(name, "float32")
    model = to_torch(net)
    back = from_torch(model)
    assert back.spec() == net.spec() and back.dtype == np.float32
    np.testing.assert_array_equal(back.data, net.data)
    x = _inputs(name)
    np.testing.assert_allclose(back.forward(x), net.forward(x), rtol=1e-6, atol=1e-6)


def test_a_position_code_a_little_off_is_refused() -> None:
    """The check allows float32's rounding, not a code that differs by 1e-4."""
    code = torch.from_numpy(PositionalEncoding(4, max_len=5).table + 1e-4).float()
    with pytest.raises(UserError, match="not the sinusoidal code"):
        from_torch(nn.Sequential(tm.PositionalEncoding(code)))


def test_to_torch_of_a_path_says_to_load_it_first() -> None:
    with pytest.raises(UserError, match="takes an engine network") as caught:
        to_torch("model.npz")  # type: ignore[arg-type]
    assert "Sequential.load" in caught.value.hint
