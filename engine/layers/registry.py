"""Every layer type by name, to rebuild networks from the specs that checkpoints hold."""

from __future__ import annotations

from typing import Any

from engine.layers import ACTIVATION_LAYERS, Dense, Dropout, Layer
from engine.layers.blocks import Residual
from engine.layers.image import AvgPool2D, BatchNorm, Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.sequence import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    MultiHeadSelfAttention,
    PositionalEncoding,
)


def _dense(s: dict[str, Any]) -> Layer:
    return Dense(int(s["in"]), int(s["out"]), str(s.get("init", "default")))


def _conv(s: dict[str, Any]) -> Layer:
    return Conv2D(
        int(s["in"]),
        int(s["out"]),
        int(s["kernel_size"]),
        int(s.get("stride", 1)),
        int(s.get("padding", 0)),
    )


def _recurrent(cls: type) -> Any:
    return lambda s: cls(
        int(s["input_size"]), int(s["hidden_size"]), bool(s.get("return_sequences", True))
    )


BUILDERS: dict[str, Any] = {
    "Dense": _dense,
    **{
        cls.type_name: (lambda s, cls=cls: cls(s.get("alpha")))
        for cls in ACTIVATION_LAYERS.values()
    },
    "Dropout": lambda s: Dropout(float(s.get("p", 0.5))),
    "Conv2D": _conv,
    "MaxPool2D": lambda s: MaxPool2D(int(s["kernel_size"]), int(s["stride"])),
    "AvgPool2D": lambda s: AvgPool2D(int(s["kernel_size"]), int(s["stride"])),
    "Flatten": lambda s: Flatten(),
    "BatchNorm": lambda s: BatchNorm(int(s["num_features"]), float(s["eps"]), float(s["momentum"])),
    "LayerNorm": lambda s: LayerNorm(int(s["d"]), float(s["eps"])),
    "Embedding": lambda s: Embedding(int(s["vocab"]), int(s["d"])),
    "RNN": _recurrent(RNN),
    "LSTM": _recurrent(LSTM),
    "GRU": _recurrent(GRU),
    "PositionalEncoding": lambda s: PositionalEncoding(int(s["d"]), int(s["max_len"])),
    "MultiHeadSelfAttention": lambda s: MultiHeadSelfAttention(
        int(s["d"]), int(s["heads"]), bool(s["causal"])
    ),
    "Residual": lambda s: Residual([build_layer(inner) for inner in s["layers"]]),
}


def build_layer(spec: dict[str, Any]) -> Layer:
    """The layer a ``spec()`` describes; ValueError for an unknown type or missing key."""
    kind = spec.get("type")
    if kind not in BUILDERS:
        raise ValueError(f"unknown layer type {kind!r}")
    try:
        return BUILDERS[kind](spec)
    except KeyError as exc:
        raise ValueError(f"layer {kind} lacks {exc}") from None
