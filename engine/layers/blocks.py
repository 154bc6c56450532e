"""Blocks made of layers: the residual connection, and a transformer encoder block built from it.

``Residual([...])`` computes ``x + f(x)`` for the layers inside. Its backward is the sum of the
skip path's identity and the block's own chain: ∂L/∂x = ∂L/∂y + (∂f/∂x)ᵀ ∂L/∂y — the identity term
is why gradients survive many stacked blocks. Parameters inside are named ``"k.i.W"`` (layer k of
the network, layer i of the block), as PyTorch names nested modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.backends.cpu import Array
from engine.layers.activations import ReLU
from engine.layers.core import Dense, Layer, sub_views
from engine.layers.image import LayerNorm
from engine.layers.sequence import MultiHeadSelfAttention


class Residual(Layer):
    """y = x + f(x), f the layers inside, whose output must have the input's shape."""

    type_name = "Residual"

    def __init__(self, layers: Sequence[Layer]) -> None:
        super().__init__()
        self.inner = list(layers)

    def spec(self) -> dict[str, Any]:
        return {"type": "Residual", "layers": [layer.spec() for layer in self.inner]}

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return self._named(in_shape, "param_shapes")

    def buffer_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return self._named(in_shape, "buffer_shapes")

    def _named(self, in_shape: tuple[int, ...], which: str) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        shape = in_shape
        for i, layer in enumerate(self.inner):
            for name, s in getattr(layer, which)(shape).items():
                shapes[f"{i}.{name}"] = s
            shape = layer.out_shape(shape)
        if shape != in_shape:
            raise ValueError(f"Residual: the block maps {in_shape} to {shape}; they must match")
        return shapes

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return in_shape

    def bind(
        self, params: dict[str, Array], grads: dict[str, Array], buffers: dict[str, Array]
    ) -> None:
        super().bind(params, grads, buffers)
        for i, layer in enumerate(self.inner):
            layer.bind(sub_views(params, i), sub_views(grads, i), sub_views(buffers, i))

    def configure(self, backend: Any, dtype: np.dtype, rng: np.random.Generator) -> None:
        super().configure(backend, dtype, rng)
        for layer in self.inner:
            layer.configure(backend, dtype, rng)

    def reset(self, rng: np.random.Generator) -> None:
        for layer in self.inner:
            layer.reset(rng)

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        h = x
        for layer in self.inner:
            h = layer.forward(h, training, cache)
        out = self._buffer("out", x.shape, cache)
        self.backend.add(x, h, out)
        return out

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        g: Array | None = grad_out
        i = len(self.inner)
        while i:  # no iterator held through the inner layers' passes: a step's peak
            i -= 1
            assert g is not None
            g = self.inner[i].backward(g, True)
        assert g is not None
        gx = self._buffer("gx", g.shape, True)
        self.backend.add(grad_out, g, gx)
        return gx


def transformer_block(
    d: int, heads: int, ff: int | None = None, causal: bool = False
) -> list[Layer]:
    """A pre-norm transformer encoder block: x + MHSA(LN(x)), then h + FFN(LN(h))."""
    ff = ff or 4 * d
    return [
        Residual([LayerNorm(d), MultiHeadSelfAttention(d, heads, causal)]),
        Residual([LayerNorm(d), Dense(d, ff), ReLU(), Dense(ff, d)]),
    ]
