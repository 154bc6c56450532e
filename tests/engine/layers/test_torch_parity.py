"""Layers against PyTorch (optional), in float64: same weights and data, same numbers.

Each test builds a layer (or a block) with the engine, copies its initial parameters into the
equivalent ``torch.nn`` module, runs both forward and backward on the same batch, and compares
outputs, parameter gradients and input gradients, over more settings per layer than the tests
generated from the registry (``test_torch_layers.py``). Skipped when PyTorch is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from torch_helpers import (
    assert_close,
    assert_grads,
    check_mse_parity,
    copy_into,
    engine_mse,
    nn,
    torch,
    torch_mse,
)

from engine import Sequential
from engine.layers.blocks import transformer_block
from engine.layers.image import AvgPool2D, BatchNorm, Conv2D, LayerNorm, MaxPool2D
from engine.layers.sequence import GRU, LSTM, RNN, Embedding, MultiHeadSelfAttention

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
