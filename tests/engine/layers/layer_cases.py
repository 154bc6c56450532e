"""One tiny network per registered layer type: what the generated tests build and check.

A type's case is a network that holds the layer (behind a layer with parameters where it has
none, so that the gradient flowing through it is checked too) and one sample's input shape.
Activation layers need no entry: each is checked behind a ``Dense`` layer, with its default
parameter. A registered type that is neither here nor an activation makes the tests fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from engine.layers import (
    ACTIVATION_LAYERS,
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
    Layer,
    LayerNorm,
    MaxPool2D,
    MultiHeadSelfAttention,
    PositionalEncoding,
    Residual,
    Tanh,
)


@dataclass(frozen=True)
class Case:
    """A network around one layer type: ``layers()`` builds it for samples of ``input_shape``;
    ``vocab`` > 0 means its inputs are token ids below it."""

    layers: Callable[[], list[Layer]]
    input_shape: tuple[int, ...]
    vocab: int = 0

    def inputs(self, rng: np.random.Generator, n: int = 4) -> np.ndarray:
        if self.vocab:
            return rng.integers(0, self.vocab, (n, *self.input_shape)).astype(np.float64)
        return rng.normal(size=(n, *self.input_shape))


CASES: dict[str, Case] = {
    "Dense": Case(lambda: [Dense(3, 2)], (3,)),
    "Dropout": Case(lambda: [Dense(3, 4), Dropout(0.4)], (3,)),
    "Conv2D": Case(lambda: [Conv2D(2, 2, 3, stride=2, padding=1)], (2, 5, 5)),
    "MaxPool2D": Case(lambda: [Conv2D(1, 2, 2), MaxPool2D(2, 1)], (1, 4, 4)),
    "AvgPool2D": Case(lambda: [Conv2D(1, 2, 2), AvgPool2D(2)], (1, 5, 5)),
    "Flatten": Case(lambda: [Conv2D(1, 2, 2), Flatten(), Dense(8, 2)], (1, 3, 3)),
    "BatchNorm": Case(lambda: [Dense(3, 4), BatchNorm(4, momentum=0.2)], (3,)),
    "LayerNorm": Case(lambda: [Dense(3, 4), LayerNorm(4)], (3,)),
    "Embedding": Case(lambda: [Embedding(5, 3)], (4,), vocab=5),
    "RNN": Case(lambda: [RNN(2, 3)], (4, 2)),
    "LSTM": Case(lambda: [LSTM(2, 3, return_sequences=False)], (4, 2)),
    "GRU": Case(lambda: [GRU(2, 3)], (4, 2)),
    "PositionalEncoding": Case(lambda: [Dense(2, 4), PositionalEncoding(4, max_len=6)], (3, 2)),
    "MultiHeadSelfAttention": Case(lambda: [MultiHeadSelfAttention(4, 2, causal=True)], (3, 4)),
    "Residual": Case(lambda: [Residual([Dense(3, 3), Tanh()])], (3,)),
}


def case_for(type_name: str) -> Case:
    """The case of a registered layer type; a failed test for a type that has none."""
    if type_name in CASES:
        return CASES[type_name]
    activations = {cls.type_name: cls for cls in ACTIVATION_LAYERS.values()}
    if type_name in activations:
        cls = activations[type_name]
        return Case(lambda: [Dense(3, 4), cls()], (3,))
    pytest.fail(f"layer type {type_name} has no case: add one to {__name__}.CASES")


def walk(layers: list[Layer]) -> Iterator[Layer]:
    """The layers and, depth first, the layers inside them."""
    for layer in layers:
        yield layer
        yield from walk(getattr(layer, "inner", []))


def layer_types() -> list[str]:
    """Every registered layer type, sorted: the generated tests' parameters."""
    return sorted(LAYER_TYPES)
