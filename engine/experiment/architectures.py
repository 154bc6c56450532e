"""Network families a config names with ``[model] kind``, built to fit a data set.

``mlp`` is the Playground's network; ``cnn`` a LeNet-style convolutional net for images;
``rnn``, ``lstm`` and ``gru`` recurrent nets for sequences (one output per step when the targets
are per step, else from the last state); ``transformer`` a small causal transformer for
character-level text; ``autoencoder`` an MLP that reproduces its input through a narrow middle;
``residual`` a deep MLP whose hidden layers are residual blocks — beside ``mlp`` of the same
depth, it shows why skip connections ease training.
"""

from __future__ import annotations

import math
from typing import Any

from engine.errors import UserError
from engine.layers import Dense, Dropout, Layer, activation_layer
from engine.layers.blocks import Residual, transformer_block
from engine.layers.image import Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.sequence import GRU, LSTM, RNN, Embedding, PositionalEncoding

MAX_POSITIONS = 512
"""The positions a transformer's position code covers (``PositionalEncoding``'s default)."""

KINDS = ("mlp", "cnn", "rnn", "lstm", "gru", "transformer", "autoencoder", "residual")


def _act(name: str) -> list[Layer]:
    return [] if name == "linear" else [activation_layer(name)]


def mlp(m: Any, n_in: int, n_out: int) -> list[Layer]:
    """Dense, activation (and dropout) per hidden layer, then the output layer."""
    layers: list[Layer] = []
    width = n_in
    for units in m.hidden:
        layers += [Dense(width, int(units), init=m.init), *_act(m.activation)]
        if m.dropout:
            layers.append(Dropout(m.dropout))
        width = int(units)
    return [*layers, Dense(width, n_out, init=m.init)]


def cnn(m: Any, sample_shape: tuple[int, ...], n_out: int) -> list[Layer]:
    """Per entry of ``channels``: a same-padded convolution, the activation, 2×2 max pooling."""
    if len(sample_shape) != 3:
        raise UserError(
            f"kind = 'cnn' needs images; this data set's samples are {sample_shape}",
            "use a data set of images (digits, mnist, fashion-mnist) or kind = 'mlp'",
        )
    c, h, w = sample_shape
    layers: list[Layer] = []
    for ch in m.channels:
        if m.kernel_size > min(h, w):
            raise UserError(
                f"[model] kernel_size = {m.kernel_size} is larger than the {h}×{w} images "
                f"its convolution sees",
                f"use kernel_size ≤ {min(h, w)} (3 or 5 are usual), or fewer channels entries",
            )
        layers += [
            Conv2D(c, int(ch), m.kernel_size, padding=m.kernel_size // 2),
            *_act(m.activation),
        ]
        if min(h, w) >= 2:
            layers.append(MaxPool2D(2))
            h, w = h // 2, w // 2
        c = int(ch)
    layers.append(Flatten())
    return [*layers, *mlp(m, c * h * w, n_out)]


def recurrent(m: Any, sample_shape: tuple[int, ...], n_out: int, per_step: bool) -> list[Layer]:
    """Stacked recurrent layers of ``hidden`` units, then a Dense read-out (per step or last)."""
    if len(sample_shape) != 2:
        raise UserError(
            f"kind = {m.kind!r} needs sequences; this data set's samples are {sample_shape}",
            "use a sequence data set (sine-seq, adding) or kind = 'mlp'; for text, "
            "kind = 'transformer'",
        )
    cls = {"rnn": RNN, "lstm": LSTM, "gru": GRU}[m.kind]
    layers: list[Layer] = []
    width = sample_shape[1]
    for i, units in enumerate(m.hidden):
        last = i == len(m.hidden) - 1
        layers.append(cls(width, int(units), return_sequences=per_step or not last))
        width = int(units)
    return [*layers, Dense(width, n_out)]


def transformer(m: Any, vocab: int, n_out: int) -> list[Layer]:
    """Token embedding, positions, ``blocks`` causal pre-norm blocks, a final norm and read-out."""
    d = m.d_model
    layers: list[Layer] = [Embedding(vocab, d), PositionalEncoding(d)]
    for _ in range(m.blocks):
        layers += transformer_block(d, m.heads, 4 * d, causal=True)
    return [*layers, LayerNorm(d), Dense(d, n_out)]


def residual(m: Any, n_in: int, n_out: int) -> list[Layer]:
    """A Dense to the width of ``hidden[0]``, a residual block per hidden layer, a read-out."""
    width = int(m.hidden[0])
    layers: list[Layer] = [Dense(n_in, width, init=m.init), *_act(m.activation)]
    for _ in m.hidden:
        layers.append(Residual([Dense(width, width, init=m.init), *_act(m.activation)]))
    return [*layers, Dense(width, n_out, init=m.init)]


def build(
    m: Any, sample_shape: tuple[int, ...], n_out: int, per_step: bool, vocab: int
) -> list[Layer]:
    """The layers of ``m.kind`` for samples of ``sample_shape`` and ``n_out`` outputs."""
    n_in = 1
    for s in sample_shape:
        n_in *= s
    if m.kind in ("mlp", "autoencoder"):
        return mlp(m, n_in, n_out)
    if m.kind == "cnn":
        return cnn(m, sample_shape, n_out)
    if m.kind in ("rnn", "lstm", "gru"):
        return recurrent(m, sample_shape, n_out, per_step)
    if m.kind == "transformer":
        if len(sample_shape) != 1 or not vocab or not per_step:
            raise UserError(
                "kind = 'transformer' needs token sequences with a token to predict at every "
                f"position; this data set's samples are {sample_shape or (n_in,)} numbers",
                "use data name = 'text' (or kind = 'mlp' for points, 'lstm' for sine-seq)",
            )
        if sample_shape[0] > MAX_POSITIONS:
            raise UserError(
                f"kind = 'transformer': sequences of {sample_shape[0]} tokens are longer than "
                f"its {MAX_POSITIONS} positions",
                f"use [data] length ≤ {MAX_POSITIONS}",
            )
        return transformer(m, vocab, n_out)
    return residual(m, n_in, n_out)


def footprint(layers: list[Layer], sample_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """Parameters of ``layers``, and the numbers a training step keeps for one sample, in all and
    in the largest layer.

    Walks the shapes without allocating anything, so that a config too large for the machine is
    refused before it is built. A training step keeps every layer's output (and a convolution's
    unfolded patches, attention's weights) for its backward pass; evaluation, without a backward
    pass, needs about the largest of them at a time.
    """
    params, total, largest = 0, 0, 0
    shape = sample_shape
    for layer in layers:
        params += sum(math.prod(s) for s in layer.param_shapes(shape).values())
        params += sum(math.prod(s) for s in layer.buffer_shapes(shape).values())
        kept = 0
        inner = getattr(layer, "inner", None)
        if inner:  # a residual block keeps its inner layers' outputs too
            _, kept, inner_largest = footprint(inner, shape)
            largest = max(largest, inner_largest)
        workspace = getattr(layer, "workspace_shapes", None)
        if workspace is not None and len(shape) == 3:
            kept += sum(math.prod(s) for s in workspace(1, shape[1], shape[2]).values())
        heads = getattr(layer, "heads", 0)
        if heads and len(shape) == 2:
            kept += heads * shape[0] * shape[0]
        shape = layer.out_shape(shape)
        kept += math.prod(shape)
        total += kept
        largest = max(largest, kept)
    return params, total, largest
