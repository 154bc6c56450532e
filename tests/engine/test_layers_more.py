"""Image, sequence and attention layers: gradients against finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Dense, ReLU, Sequential, Tanh
from engine.layers.blocks import Residual, transformer_block
from engine.layers.image import AvgPool2D, BatchNorm, Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.sequence import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    MultiHeadSelfAttention,
    PositionalEncoding,
)


def images(rng: np.random.Generator, n: int = 3, c: int = 2, h: int = 6) -> np.ndarray:
    return rng.normal(size=(n, c * h * h))


NETS = {
    "conv-maxpool": (
        lambda: [Conv2D(2, 3, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(27, 2)],
        (2, 6, 6),
    ),
    "conv-stride-avgpool": (
        lambda: [Conv2D(2, 4, 3, stride=2), Tanh(), AvgPool2D(2, 1), Flatten(), Dense(4, 2)],
        (2, 6, 6),
    ),
    "batchnorm-conv": (
        lambda: [Conv2D(2, 3, 3), BatchNorm(3), Tanh(), Flatten(), Dense(48, 2)],
        (2, 6, 6),
    ),
    "batchnorm-dense": (lambda: [Dense(72, 5), BatchNorm(5), Tanh(), Dense(5, 2)], (72,)),
    "layernorm-residual": (
        lambda: [Dense(72, 6), Residual([LayerNorm(6), Dense(6, 6), Tanh()]), Dense(6, 2)],
        (72,),
    ),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_image_layers_match_finite_differences(name: str, gradient_error) -> None:
    layers, shape = NETS[name]
    rng = np.random.default_rng(0)
    net = Sequential(layers(), seed=1, dtype="float64", input_shape=shape)
    assert gradient_error(net, images(rng), rng.normal(size=(3, 2)), "mse") < 1e-6


SEQ_NETS = {
    "rnn": lambda: [RNN(2, 4), Dense(4, 1)],
    "lstm-last": lambda: [LSTM(2, 4, return_sequences=False), Dense(4, 1)],
    "gru": lambda: [GRU(2, 3), Tanh(), Dense(3, 1)],
    "attention": lambda: [
        Dense(2, 4),
        PositionalEncoding(4),
        MultiHeadSelfAttention(4, 2),
        Dense(4, 1),
    ],
    "causal-transformer": lambda: [
        Dense(2, 4),
        *transformer_block(4, 2, 8, causal=True),
        Dense(4, 1),
    ],
}


@pytest.mark.parametrize("name", sorted(SEQ_NETS))
def test_sequence_layers_match_finite_differences(name: str, gradient_error) -> None:
    rng = np.random.default_rng(2)
    net = Sequential(SEQ_NETS[name](), seed=3, dtype="float64", input_shape=(5, 2))
    out_shape = (4, *net.output_shape)
    assert gradient_error(net, rng.normal(size=(4, 5, 2)), rng.normal(size=out_shape), "mse") < 1e-6


def test_embedding_gradients_and_token_cross_entropy(gradient_error) -> None:
    rng = np.random.default_rng(4)
    net = Sequential(
        [Embedding(7, 4), LSTM(4, 5), Dense(5, 7)], seed=0, dtype="float64", input_shape=(6,)
    )
    x = rng.integers(0, 7, (3, 6)).astype(float)
    y = rng.integers(0, 7, (3, 6))
    assert gradient_error(net, x, y, "cross_entropy") < 1e-6
    assert net.forward(x).shape == (3, 6, 7)


def test_batchnorm_uses_running_statistics_at_inference_and_saves_them(tmp_path) -> None:
    rng = np.random.default_rng(5)
    net = Sequential([Dense(3, 4), BatchNorm(4), Dense(4, 1)], seed=0, dtype="float64")
    x = rng.normal(size=(16, 3)) * 3 + 2
    for _ in range(3):
        net.loss_and_grad(x, rng.normal(size=(16, 1)), "mse")
    assert not np.allclose(net.buffers["1.running_mean"], 0)
    inference = net.forward(x[:1])  # one sample: only running statistics make sense
    net.save(tmp_path / "bn.npz")
    again = Sequential.load(tmp_path / "bn.npz")
    np.testing.assert_array_equal(again.state, net.state)
    np.testing.assert_allclose(again.forward(x[:1]), inference)


def test_attention_weights_are_kept_and_causal_masks_the_future() -> None:
    net = Sequential([MultiHeadSelfAttention(4, 2, causal=True)], seed=0, input_shape=(5, 4))
    net.forward(np.random.default_rng(0).normal(size=(1, 20)))
    A = net.layers[0].attention_weights
    assert A.shape == (1, 2, 5, 5) and np.allclose(np.triu(A[0, 0], 1), 0)
    assert not A.flags.writeable and net.layers[0].A is not None  # A: the formula's name
    np.testing.assert_allclose(A.sum(axis=-1), 1.0, rtol=1e-6)


def test_recurrent_hidden_states_are_the_outputs_of_every_step() -> None:
    net = Sequential([GRU(2, 3)], seed=0, dtype="float64", input_shape=(4, 2))
    out = net.forward(np.random.default_rng(1).normal(size=(2, 8)), training=True)
    states = net.layers[0].hidden_states()
    assert states.shape == (2, 4, 3) and not states.flags.writeable
    np.testing.assert_array_equal(states, out)
    np.testing.assert_array_equal(net.layers[0].hidden_states(1), out[1])


def test_nested_parameters_are_named_like_pytorch_modules() -> None:
    net = Sequential([Dense(2, 4), *transformer_block(4, 2)], seed=0, input_shape=(3, 2))
    assert "1.1.W_in" in net.params and "2.1.W" in net.params and "1.0.gamma" in net.params
    twin = net.copy()
    np.testing.assert_array_equal(twin.forward(np.ones((1, 6))), net.forward(np.ones((1, 6))))


def test_wrong_input_shapes_are_reported() -> None:
    with pytest.raises(ValueError, match="needs input_shape"):
        Sequential([Conv2D(1, 2, 3)])
    with pytest.raises(ValueError, match="does not fit"):
        Sequential([Conv2D(1, 2, 5)], input_shape=(1, 3, 3))
    with pytest.raises(ValueError, match="must match"):
        Sequential([Residual([Dense(4, 3)])], input_shape=(4,))
