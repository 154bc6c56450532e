"""Parameters and layers of any network, named as the engine names them.

A parameter is ``"k.NAME[i,j,…]"``: layer k of the network (``"1.0"`` for layer 0 inside the
residual block at position 1), array ``NAME`` (``W``, ``b``, ``W_hh``, ``gamma`` …), one entry.
Layers are visited as *nodes*: a path of positions, the layer, and the names of its input and
output arrays as the derivation prints them (``x`` for the network's input, ``aᵏ`` for layer
k's output).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from derive.layers.derivations import derivation
from derive.notation import sym
from derive.stack.model import locate
from engine.layers import Activation, Dense, Dropout, Layer
from engine.layers.blocks import Residual
from engine.layers.sequence import MultiHeadSelfAttention
from engine.network import Sequential


def is_plain_mlp(net: Sequential) -> bool:
    """Whether the network is a stack of Dense, activation and Dropout layers on flat inputs,
    which ``derive.stack.index_view`` / ``derive.stack.vector_view`` derive unit by unit."""
    return len(net.input_shape) == 1 and all(
        isinstance(lay, (Dense, Activation, Dropout)) for lay in net.layers
    )


@dataclass(frozen=True)
class Node:
    """One layer where it sits: ``path`` (1, 0) is layer 0 inside the block at position 1."""

    path: tuple[int, ...]
    layer: Any  # an engine layer; which attributes it has depends on its type

    @property
    def label(self) -> str:
        """The engine's name of the layer: ``"1.0"``, as its parameters are named."""
        return ".".join(str(p) for p in self.path)

    @property
    def sup(self) -> str:
        """The layer's number in the maths, counted from 1 (``"2.1"``): see ``math_label``."""
        return math_label(self.path)

    @property
    def kind(self) -> str:
        return self.layer.type_name

    @property
    def children(self) -> list[Node]:
        if isinstance(self.layer, Residual):
            return [Node((*self.path, i), lay) for i, lay in enumerate(self.layer.inner)]
        return []

    def param(self, net: Sequential, name: str) -> np.ndarray:
        """The layer's parameter ``name`` in float64."""
        return np.asarray(net.backend.to_host(net.params[f"{self.label}.{name}"]), np.float64)

    def param_names(self, net: Sequential) -> list[str]:
        prefix = f"{self.label}."
        return [
            k[len(prefix) :]
            for k in net.params
            if k.startswith(prefix) and "." not in k[len(prefix) :]
        ]


def nodes(net: Sequential) -> list[Node]:
    """The network's top-level layers as nodes."""
    return [Node((i,), lay) for i, lay in enumerate(net.layers)]


def walk(items: list[Node]) -> Iterator[Node]:
    """Every node, blocks before their inner layers, in forward order."""
    for node in items:
        yield node
        yield from walk(node.children)


def find(net: Sequential, path: tuple[int, ...]) -> Node:
    return next(n for n in walk(nodes(net)) if n.path == path)


def math_label(path: tuple[int, ...]) -> str:
    """A layer's number in the maths: its place counted from 1 at every level, as the Dense
    stacks count (W¹ is the first layer's weight, a⁰ = x). The engine counts from 0 (``"0.W"``),
    so derivations print the engine's name beside the parameter's symbol."""
    return ".".join(str(p + 1) for p in path)


def output_symbol(path: tuple[int, ...]) -> sp.Symbol:
    """aᵏ: the output of the layer at ``path`` (k counted from 1, see ``math_label``)."""
    return sym("a", math_label(path))


def input_symbol(path: tuple[int, ...]) -> sp.Symbol:
    """The array a layer reads: the previous layer's output, the block's input, or x."""
    if path[-1] > 0:
        return output_symbol((*path[:-1], path[-1] - 1))
    if len(path) > 1:
        return input_symbol(path[:-1])
    return sym("x")


def describe_layer(layer: Layer) -> str:
    """``Conv2D(2→3, 3×3)``, ``LSTM(2→4)``, ``Residual[LayerNorm(6) → Dense(6→6)]``: by the
    layer type's derivation, or from its spec (``LayerNorm(d 6)``)."""
    spec = layer.spec()
    kind = spec["type"]
    describe = derivation(kind).describe
    if describe is not None:
        return describe(layer)
    sizes = [f"{k} {v}" for k, v in spec.items() if k != "type" and not isinstance(v, float)]
    return f"{kind}({', '.join(sizes)})" if sizes else kind


def describe_network(net: Sequential) -> str:
    """One line: ``input 2×6×6 → Conv2D(2→3, 3×3) → ReLU → …, 95 parameters``."""
    chain = " → ".join(describe_layer(lay) for lay in net.layers)
    shape = "×".join(str(s) for s in net.input_shape)
    return f"input {shape} → {chain}, {net.n_params} parameters"


@dataclass(frozen=True)
class LayerParam:
    """One scalar parameter of any network.

    Attributes:
        name: the engine's name of the array, ``"1.0.W_hh"``; path: its layer's path.
        kind: the array's own name (``"W_hh"``); index: the entry.
        flat: the entry's place in the network's flat ``data`` / ``grad`` buffers.
        layer_type: the layer's type name (``"LSTM"``); what: the entry in words.
    """

    name: str
    path: tuple[int, ...]
    kind: str
    index: tuple[int, ...]
    flat: int
    layer_type: str
    what: str = ""

    @property
    def text(self) -> str:
        return f"{self.name}[{','.join(str(i) for i in self.index)}]"

    @property
    def label(self) -> str:
        return ".".join(str(p) for p in self.path)

    @property
    def penalised(self) -> bool:
        """Whether L1/L2 act on it: the engine penalises the arrays whose name starts with W."""
        return self.kind.startswith("W")

    @property
    def sup(self) -> str:
        return math_label(self.path)

    def symbol(self) -> sp.Symbol:
        return sym(self.kind, self.sup, *self.index)

    def describe(self) -> str:
        """``0.W[1,0,2,1], layer 1 (Conv2D, the engine's layer 0)'s kernel weight from …``."""
        return (
            f"{self.text}, layer {self.sup} ({self.layer_type}, the engine's layer {self.label})"
            f"'s {self.what}"
        )


def _row(layer: Layer, r: int) -> str:
    """Which gate and unit a recurrent weight row feeds, or which head's Q, K or V column."""
    if isinstance(layer, MultiHeadSelfAttention):
        d, dh = layer.d, layer.d // layer.heads
        part = ("query", "key", "value")[r // d]
        return f"the {part} column {(r % d) % dh} of head {(r % d) // dh + 1} of {layer.heads}"
    hidden = getattr(layer, "hidden", 1)
    gates = {
        "LSTM": ("input", "forget", "candidate", "output"),
        "GRU": ("reset", "update", "candidate"),
    }
    names = gates.get(layer.type_name)
    unit = f"unit {r % hidden}"
    return f"the {names[r // hidden]} gate of {unit}" if names else unit


def _what(layer: Layer, kind: str, i: tuple[int, ...]) -> str:
    """What the entry is, in words."""
    name = layer.type_name
    if name == "Conv2D":
        if kind == "b":
            return f"bias of output channel {i[0]}"
        return (f"kernel weight from input channel {i[1]} to output channel {i[0]}, kernel row"
                f" {i[2]}, column {i[3]}")  # fmt: skip
    if name == "Embedding":
        return f"component {i[1]} of token {i[0]}'s vector"
    if kind in ("gamma", "beta"):
        return f"{'scale γ' if kind == 'gamma' else 'shift β'} of feature (channel) {i[0]}"
    if kind in ("W_hh", "W_ih", "W_in"):
        source = {"W_hh": "hidden unit", "W_ih": "input", "W_in": "feature"}[kind]
        return f"weight from {source} {i[1]} to {_row(layer, i[0])}"
    if kind in ("b_hh", "b_ih", "b_in"):
        return f"bias {kind} of {_row(layer, i[0])}"
    if kind == "W_out":
        return f"output projection weight from feature {i[1]} to output {i[0]}"
    if kind == "W":
        return f"weight from input {i[1]} to unit {i[0]}"
    return f"bias of unit {i[0]}" if kind in ("b", "b_out") else f"entry {list(i)} of {kind}"


def parse_layer_param(net: Sequential, text: str) -> LayerParam:
    """Reads ``"1.0.W_hh[3,2]"`` with ``engine.naming`` (never ``eval``), checked on ``net``."""
    entry, flat = locate(net, text)
    layer = find(net, entry.path).layer
    what = _what(layer, entry.array, entry.index)
    return LayerParam(entry.name, entry.path, entry.array, entry.index, flat, layer.type_name, what)
