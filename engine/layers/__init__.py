"""Layers by family, each with its forward and backward pass side by side.

``core`` holds the base class, ``Dense`` and ``Dropout``; ``activations`` one small class per
function of ``engine.activations``; ``image`` convolution, pooling and normalisation;
``sequence`` embeddings, recurrent layers and attention; ``blocks`` residual and transformer
blocks; ``registry`` rebuilds any of them from the spec a checkpoint holds. Each layer class
registers itself where it is defined, so importing the families here fills ``LAYER_TYPES``.
"""

from engine.layers.activations import *  # noqa: F403  (every activation layer, by its own __all__)
from engine.layers.activations import __all__ as _activation_names
from engine.layers.blocks import Residual, transformer_block
from engine.layers.core import LAYER_TYPES, Dense, Dropout, Layer, sub_views
from engine.layers.image import AvgPool2D, BatchNorm, Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.registry import build_layer
from engine.layers.sequence import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    MultiHeadSelfAttention,
    PositionalEncoding,
)

__all__ = [
    *_activation_names,
    "LAYER_TYPES",
    "GRU",
    "LSTM",
    "RNN",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Layer",
    "LayerNorm",
    "MaxPool2D",
    "MultiHeadSelfAttention",
    "PositionalEncoding",
    "Residual",
    "build_layer",
    "sub_views",
    "transformer_block",
]
