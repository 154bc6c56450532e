"""Each layer family as ONNX operators, for ``engine.interop.onnx``.

A converter takes the graph being built, the layer, the name of its input, one sample's input
shape and the layer's name in the network (``"3"``, ``"2.1"`` inside a residual block), adds its
nodes and initializers, and returns the name of its output. Shapes are one sample's, as the
engine's ``out_shape`` gives them; the batch axis stays symbolic in the graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from engine.interop.onnx import UnsupportedExport, as_float32
from engine.layers import (
    ELU,
    GELU,
    GRU,
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
)
from engine.network import Sequential

Shape = tuple[int, ...]
Converter = Callable[["Graph", Any, str, Shape, str], str]

# Gate blocks of the recurrent weights, PyTorch's (the engine's) order → ONNX's order:
# LSTM i, f, g, o → i, o, f, c(= g);  GRU r, z, n → z, r, h(= n).
LSTM_ORDER = (0, 3, 1, 2)
GRU_ORDER = (1, 0, 2)


def embeds_tokens(net: Sequential) -> bool:
    """Whether the network starts with an embedding, whose input is token ids."""
    return isinstance(net.layers[0], Embedding)


class Graph:
    """The nodes and initializers of the graph under construction, with unique names."""

    def __init__(self, net: Sequential) -> None:
        self.net = net
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: set[str] = {"input"}

    def fresh(self, base: str) -> str:
        """A name no other value in the graph has: ``base``, else ``base_1``, ``base_2`` …"""
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        """An initializer holding ``value`` (float32 unless said); returns its name."""
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        unique = self.fresh(name)
        self.initializers.append(numpy_helper.from_array(array, unique))
        return unique

    def weight(self, layer: Layer, key: str, prefix: str, value: Any = None) -> str:
        """The layer's parameter ``key`` (or ``value`` made from it) as a float32 initializer,
        named as the engine names it (``"0.W"``)."""
        if value is None:
            value = self.net.backend.to_host(layer.params[key])
        return self.const(f"{prefix}.{key}", as_float32(value))

    def buffer(self, layer: Layer, key: str, prefix: str) -> str:
        return self.const(
            f"{prefix}.{key}", as_float32(self.net.backend.to_host(layer.buffers[key]))
        )

    def node(self, op: str, inputs: Sequence[str], name: str | None = None, **attrs: Any) -> str:
        """Adds one node with one output (named after ``name`` or the operator); returns it."""
        out = self.fresh(name or op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def run_layers(self, layers: Sequence[Layer], x: str, shape: Shape, prefix: str) -> str:
        """The layers one after another from ``x``; returns the last one's output."""
        for i, layer in enumerate(layers):
            name = f"{prefix}{i}"
            convert = CONVERTERS.get(type(layer))
            if convert is None:
                raise UnsupportedExport(
                    f"layer {name} ({layer.type_name}) has no ONNX form: the export knows "
                    f"{', '.join(sorted(cls.type_name for cls in CONVERTERS))}",
                    "replace the layer with one of those, or export the network without it",
                )
            x = convert(self, layer, x, shape, name)
            shape = layer.out_shape(shape)
        return x


# --------------------------------------------------------------------------- dense and activations
def dense(g: Graph, layer: Dense, x: str, shape: Shape, name: str) -> str:
    """z = x Wᵀ + b: one Gemm for flat samples, MatMul and Add on the last axis otherwise."""
    W = g.net.backend.to_host(layer.params["W"])
    b = g.weight(layer, "b", name)
    if len(shape) == 1:
        return g.node("Gemm", [x, g.weight(layer, "W", name), b], name, transB=1)
    Wt = g.weight(layer, "W", name, np.asarray(W).T)  # stored as (in, out) for MatMul
    return g.node("Add", [g.node("MatMul", [x, Wt], f"{name}.xW"), b], name)


def elementwise(op: str, **attrs: Any) -> Converter:
    def convert(g: Graph, layer: Any, x: str, shape: Shape, name: str) -> str:
        extra = {k: (layer.alpha if v == "alpha" else v) for k, v in attrs.items()}
        return g.node(op, [x], name, **extra)

    return convert


def step(g: Graph, layer: Heaviside, x: str, shape: Shape, name: str) -> str:
    """H(z) = 1 if z > 0 else 0, as the engine's step: Greater gives the test, Cast its 0/1."""
    above = g.node("Greater", [x, g.const(f"{name}.zero", 0.0)], f"{name}.above")
    return g.node("Cast", [above], name, to=TensorProto.FLOAT)


def gelu(g: Graph, layer: GELU, x: str, shape: Shape, name: str) -> str:
    """The exact GELU the engine computes: ½ z (1 + erf(z/√2)) (opset 17 has no Gelu)."""
    scaled = g.node("Mul", [x, g.const(f"{name}.sqrt_half", math.sqrt(0.5))], f"{name}.scaled")
    one_plus = g.node(
        "Add", [g.node("Erf", [scaled], f"{name}.erf"), g.const(f"{name}.one", 1.0)], f"{name}.cdf"
    )
    half_x = g.node("Mul", [x, g.const(f"{name}.half", 0.5)], f"{name}.half_x")
    return g.node("Mul", [half_x, one_plus], name)


def identity(g: Graph, layer: Layer, x: str, shape: Shape, name: str) -> str:
    """Dropout at inference: the input unchanged."""
    return g.node("Identity", [x], name)


# --------------------------------------------------------------------------- images
def conv2d(g: Graph, layer: Conv2D, x: str, shape: Shape, name: str) -> str:
    k, s, p = layer.k, layer.stride, layer.padding
    W, b = g.weight(layer, "W", name), g.weight(layer, "b", name)
    return g.node("Conv", [x, W, b], name, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])


def pool(op: str) -> Converter:
    def convert(g: Graph, layer: Any, x: str, shape: Shape, name: str) -> str:
        k, s = layer.k, layer.stride
        return g.node(op, [x], name, kernel_shape=[k, k], strides=[s, s])

    return convert


def flatten(g: Graph, layer: Flatten, x: str, shape: Shape, name: str) -> str:
    return g.node("Flatten", [x], name, axis=1)


def batchnorm(g: Graph, layer: BatchNorm, x: str, shape: Shape, name: str) -> str:
    """Inference: (x − running mean)/√(running var + ε), scaled and shifted; the feature or
    channel axis is axis 1, as the engine's."""
    inputs = [
        x,
        g.weight(layer, "gamma", name),
        g.weight(layer, "beta", name),
        g.buffer(layer, "running_mean", name),
        g.buffer(layer, "running_var", name),
    ]
    return g.node("BatchNormalization", inputs, name, epsilon=layer.eps)


def layernorm(g: Graph, layer: LayerNorm, x: str, shape: Shape, name: str) -> str:
    gamma, beta = g.weight(layer, "gamma", name), g.weight(layer, "beta", name)
    return g.node("LayerNormalization", [x, gamma, beta], name, axis=-1, epsilon=layer.eps)


# --------------------------------------------------------------------------- sequences
def embedding(g: Graph, layer: Embedding, x: str, shape: Shape, name: str) -> str:
    """Row W[id] for each token id: Gather on the table's first axis."""
    return g.node("Gather", [g.weight(layer, "W", name), x], name, axis=0)


def positional(g: Graph, layer: PositionalEncoding, x: str, shape: Shape, name: str) -> str:
    """The sinusoidal code of the first T positions, a constant (T is fixed by the input)."""
    T = shape[0]
    if layer.max_len < T:
        raise UnsupportedExport(
            f"layer {name} (PositionalEncoding) holds {layer.max_len} positions, "
            f"the network's sequences have {T}",
            "rebuild the layer with max_len at least the sequence length",
        )
    return g.node("Add", [x, g.const(f"{name}.table", layer.table[:T])], name)


def _gates(g: Graph, layer: Any, key: str, order: tuple[int, ...]) -> np.ndarray:
    """A recurrent weight with its gate blocks put in ONNX's order."""
    value = np.asarray(g.net.backend.to_host(layer.params[key]))
    blocks = np.split(value, len(order), axis=0)
    return np.concatenate([blocks[i] for i in order], axis=0)


def recurrent(op: str, order: tuple[int, ...], **attrs: Any) -> Converter:
    """ONNX's RNN, LSTM or GRU, one direction: batch-first (n, T, d) is turned time-major for
    the operator and back; a layer without ``return_sequences`` gives the last state."""

    def convert(g: Graph, layer: Any, x: str, shape: Shape, name: str) -> str:
        W = g.weight(layer, "W_ih", name, _gates(g, layer, "W_ih", order)[None])
        R = g.weight(layer, "W_hh", name, _gates(g, layer, "W_hh", order)[None])
        bias = np.concatenate([_gates(g, layer, "b_ih", order), _gates(g, layer, "b_hh", order)])
        B = g.const(f"{name}.bias", bias[None])
        xt = g.node("Transpose", [x], f"{name}.time_major", perm=[1, 0, 2])
        outs = [g.fresh(f"{name}.Y"), g.fresh(f"{name}.Y_h")]
        g.nodes.append(
            helper.make_node(
                op, [xt, W, R, B], outs, name=f"{name}.{op}", hidden_size=layer.hidden, **attrs
            )
        )
        if not layer.return_sequences:  # Y_h: (1, n, H)
            return g.node("Squeeze", [outs[1], g.const(f"{name}.axis0", [0], np.int64)], name)
        axis1 = g.const(f"{name}.axis1", [1], np.int64)
        ys = g.node("Squeeze", [outs[0], axis1], f"{name}.steps")  # (T, 1, n, H) → (T, n, H)
        return g.node("Transpose", [ys], name, perm=[1, 0, 2])

    return convert


def attention(g: Graph, layer: MultiHeadSelfAttention, x: str, shape: Shape, name: str) -> str:
    """Per head A = softmax(Q Kᵀ/√d_h + mask), out = concat(A V) W_outᵀ + b_out, through
    MatMul, Reshape, Transpose and Softmax; the causal mask is a constant (T, T)."""
    T, d = shape
    h = layer.heads
    dh = d // h
    host = g.net.backend.to_host
    W_in, b_in = np.asarray(host(layer.params["W_in"])), np.asarray(host(layer.params["b_in"]))
    split = g.const(f"{name}.heads_shape", [0, T, h, dh], np.int64)
    parts = []
    for k, part in enumerate("qkv"):
        rows = slice(k * d, (k + 1) * d)
        Wt = g.const(f"{name}.W_{part}", W_in[rows].T)
        b = g.const(f"{name}.b_{part}", b_in[rows])
        z = g.node("Add", [g.node("MatMul", [x, Wt], f"{name}.x{part}"), b], f"{name}.{part}")
        parts.append(g.node("Reshape", [z, split], f"{name}.{part}_heads"))  # (n, T, h, dh)
    q = g.node("Transpose", [parts[0]], f"{name}.Q", perm=[0, 2, 1, 3])  # (n, h, T, dh)
    kt = g.node("Transpose", [parts[1]], f"{name}.Kt", perm=[0, 2, 3, 1])  # (n, h, dh, T)
    v = g.node("Transpose", [parts[2]], f"{name}.V", perm=[0, 2, 1, 3])
    scores = g.node("MatMul", [q, kt], f"{name}.QKt")
    scores = g.node("Mul", [scores, g.const(f"{name}.scale", 1.0 / math.sqrt(dh))], f"{name}.S")
    if layer.causal:  # position t sees 0..t: the rest gets the most negative float
        mask = np.triu(np.full((T, T), np.finfo(np.float32).min, np.float32), k=1)
        scores = g.node("Add", [scores, g.const(f"{name}.causal_mask", mask)], f"{name}.masked")
    weights = g.node("Softmax", [scores], f"{name}.A", axis=-1)
    o = g.node("MatMul", [weights, v], f"{name}.AV")  # (n, h, T, dh)
    o = g.node("Transpose", [o], f"{name}.AV_steps", perm=[0, 2, 1, 3])
    merged = g.const(f"{name}.merged_shape", [0, T, d], np.int64)
    o = g.node("Reshape", [o, merged], f"{name}.O")
    W_out = g.weight(layer, "W_out", name, np.asarray(host(layer.params["W_out"])).T)
    y = g.node("MatMul", [o, W_out], f"{name}.OW")
    return g.node("Add", [y, g.weight(layer, "b_out", name)], name)


def residual(g: Graph, layer: Residual, x: str, shape: Shape, name: str) -> str:
    """x + f(x), f the block's layers, named ``"k.i"`` inside block k."""
    inner = g.run_layers(layer.inner, x, shape, prefix=f"{name}.")
    return g.node("Add", [x, inner], name)


CONVERTERS: dict[type[Layer], Converter] = {
    Dense: dense,
    ReLU: elementwise("Relu"),
    LeakyReLU: elementwise("LeakyRelu", alpha="alpha"),
    Sigmoid: elementwise("Sigmoid"),
    Tanh: elementwise("Tanh"),
    ELU: elementwise("Elu", alpha="alpha"),
    GELU: gelu,
    Heaviside: step,
    Dropout: identity,
    Conv2D: conv2d,
    MaxPool2D: pool("MaxPool"),
    AvgPool2D: pool("AveragePool"),
    Flatten: flatten,
    BatchNorm: batchnorm,
    LayerNorm: layernorm,
    Embedding: embedding,
    PositionalEncoding: positional,
    RNN: recurrent("RNN", (0,)),
    LSTM: recurrent("LSTM", LSTM_ORDER),
    GRU: recurrent("GRU", GRU_ORDER, linear_before_reset=1),
    MultiHeadSelfAttention: attention,
    Residual: residual,
}
"""The layer classes the export knows, each with its converter."""
