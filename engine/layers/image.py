"""Image layers: convolution, pooling, flattening and normalisation, with PyTorch's layouts.

A batch of images is ``(n, c, h, w)``. ``Conv2D(in_c, out_c, k)`` holds ``W`` of shape
``(out_c, in_c, k, k)`` and ``b`` of shape ``(out_c,)`` and initialises them as ``nn.Conv2d``.

Every computation goes through the network's backend (``engine.backends.cpu_layers`` on the CPU,
``engine.backends.cuda_layers`` on a GPU), which also says what workspaces a convolution needs.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from engine.backends.base import Array, BatchNormState, ConvWorkspace
from engine.layers.core import Layer


def _pooled(size: int, k: int, stride: int, pad: int = 0) -> int:
    return (size + 2 * pad - k) // stride + 1


class Conv2D(Layer):
    """2-D convolution: z[o] = b[o] + Σ_c W[o, c] ⋆ x[c] (cross-correlation, as PyTorch).

    Backward, with δ = ∂L/∂z: ∂L/∂W[o, c, dy, dx] = Σ over the output positions (i, y, x) of
    δ[i, o, y, x] · x_pad[i, c, y·s + dy, x·s + dx] — every position the weight touched.
    """

    type_name = "Conv2D"
    splits_batch = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        if min(in_channels, out_channels, kernel_size, stride) < 1 or padding < 0:
            raise ValueError("Conv2D: channels, kernel size and stride must be ≥ 1, padding ≥ 0")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.k, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        # one workspace record per pass, its arrays refreshed each step: a step allocates none
        self._fwd = ConvWorkspace(self.stride, self.padding, None, None, None)
        self._bwd = ConvWorkspace(self.stride, self.padding, None, None, None)
        self._shapes_for: tuple[object, ...] = ()
        self._shapes: dict[str, tuple[int, ...]] = {}

    def spec(self) -> dict[str, Any]:
        return {
            "type": "Conv2D",
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.k,
            "stride": self.stride,
            "padding": self.padding,
        }

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if len(in_shape) != 3 or in_shape[0] != self.in_channels:
            raise ValueError(
                f"Conv2D({self.in_channels}, …) needs (c={self.in_channels}, h, w), got {in_shape}"
            )
        return {
            "W": (self.out_channels, self.in_channels, self.k, self.k),
            "b": (self.out_channels,),
        }

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        _, h, w = in_shape
        oh, ow = (
            _pooled(h, self.k, self.stride, self.padding),
            _pooled(w, self.k, self.stride, self.padding),
        )
        if oh < 1 or ow < 1:
            raise ValueError(f"Conv2D: a {self.k}×{self.k} kernel does not fit a {h}×{w} image")
        return (self.out_channels, oh, ow)

    def reset(self, rng: np.random.Generator) -> None:
        bound = 1.0 / math.sqrt(self.in_channels * self.k * self.k)
        self.params["W"][...] = rng.uniform(-bound, bound, self.params["W"].shape)
        self.params["b"][...] = rng.uniform(-bound, bound, self.params["b"].shape)

    def workspace_shapes(self, n: int, h: int, w: int) -> dict[str, tuple[int, ...]]:
        """The backend's workspaces for a batch of n images h×w (``conv2d_forward``); the last
        answer is kept, so that a training step asks for them without making a new one."""
        key = (self.backend.name, n, h, w, self.backend.batch_chunks(n))
        if self._shapes_for != key:
            self.out_shape((self.in_channels, h, w))  # a kernel larger than the image: an error
            c, oc, k, s, p = self.in_channels, self.out_channels, self.k, self.stride, self.padding
            self._shapes = self.backend.conv2d_workspace_shapes(c, oc, k, s, p, n, h, w)
            self._shapes_for = key
        return self._shapes

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        n, _, h, w = x.shape
        shapes = self.workspace_shapes(n, h, w)
        xpad = self._buffer("xpad", shapes["xpad"], cache)
        cols = self._buffer("cols", shapes["cols"], cache)
        zt = self._buffer("zt", shapes["zt"], cache)
        z = self._buffer("z", (n, *self.out_shape(x.shape[1:])), cache)
        W, b = self.params["W"], self.params["b"]
        if cache:
            ws = self._fwd
            ws.xpad, ws.cols, ws.zt = xpad, cols, zt
        else:  # an inference call, maybe from another thread: a record of its own
            ws = ConvWorkspace(self.stride, self.padding, xpad, cols, zt)
        self.backend.conv2d_forward(x, W, b, ws, z)
        self._x, self._xpad, self._cols = x, xpad, cols  # what the backward pass reads
        return z

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        n, _, h, w = self._x.shape
        shapes = self.workspace_shapes(n, h, w)
        gx = self._buffer("gx", self._x.shape, True)
        ws = self._bwd
        ws.xpad, ws.cols = self._xpad, self._cols
        ws.zt = self._buffer("dzt", shapes["zt"], True)
        ws.dcols = self._buffer("dcols", shapes["cols"], True)
        ws.parts_W = self._buffer("parts_W", shapes["parts_W"], True)
        ws.parts_b = self._buffer("parts_b", shapes["parts_b"], True)
        delta = self.backend.contiguous(grad_out)
        W, gW, gb = self.params["W"], self.grads["W"], self.grads["b"]
        self.backend.conv2d_backward(self._x, W, delta, ws, gW, gb, gx, need_grad_x)
        return gx if need_grad_x else None


class _Pool2D(Layer, register=False):
    def __init__(self, kernel_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.k = int(kernel_size)
        self.stride = int(stride) if stride else self.k

    def spec(self) -> dict[str, Any]:
        return {"type": self.type_name, "kernel_size": self.k, "stride": self.stride}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = in_shape
        return (c, _pooled(h, self.k, self.stride), _pooled(w, self.k, self.stride))


class MaxPool2D(_Pool2D):
    """Max pooling: each k×k window gives its largest value; backward routes δ to the winner."""

    type_name = "MaxPool2D"
    splits_batch = True

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        shape = (x.shape[0], *self.out_shape(x.shape[1:]))
        out = self._buffer("out", shape, cache)
        self.argmax = self._buffer("argmax", shape, cache, np.dtype(np.int64))
        self.backend.maxpool2d_forward(x, self.k, self.stride, out, self.argmax)
        self._in_shape = x.shape
        return out

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        gx = self._buffer("gx", self._in_shape, True)
        g = self.backend.contiguous(grad_out)
        self.backend.maxpool2d_backward(g, self.argmax, self.k, self.stride, gx)
        return gx


class AvgPool2D(_Pool2D):
    """Average pooling: each k×k window gives its mean; backward spreads δ/k² over the window."""

    type_name = "AvgPool2D"

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        out = self._buffer("out", (x.shape[0], *self.out_shape(x.shape[1:])), cache)
        self.backend.avgpool2d_forward(x, self.k, self.stride, out)
        self._in_shape = x.shape
        return out

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        gx = self._buffer("gx", self._in_shape, True)
        g = self.backend.contiguous(grad_out)
        self.backend.avgpool2d_backward(g, self.k, self.stride, gx)
        return gx


class Flatten(Layer):
    """(n, c, h, w) → (n, c·h·w), in PyTorch's order; backward reshapes back."""

    type_name = "Flatten"

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(in_shape)),)

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        self._in_shape = x.shape
        return self.backend.contiguous(x).reshape(x.shape[0], -1)

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        return grad_out.reshape(self._in_shape)


class _Normalisation(Layer, register=False):
    """What batch and layer normalisation share: y = γ ⊙ x̂ + β, and a backward pass that is the
    backend's ``{kernel}_backward`` over the x̂ and 1/√(σ² + ε) the forward pass kept."""

    kernel = ""
    xhat: Array
    inv_std: Array
    _in_shape: tuple[int, ...]

    def reset(self, rng: np.random.Generator) -> None:
        self.params["gamma"][...] = 1.0
        self.params["beta"][...] = 0.0

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        dy = self._view("dy", self.backend.contiguous(grad_out), self.xhat.shape)
        gx = self._buffer("gx", self.xhat.shape, True)
        gamma, grad_gamma, grad_beta = self.params["gamma"], self.grads["gamma"], self.grads["beta"]
        # interned: Python's attribute cache would keep each step's new name string alive
        run = getattr(self.backend, sys.intern(f"{self.kernel}_backward"))
        run(dy, self.xhat, gamma, self.inv_std, gx, grad_gamma, grad_beta)
        return self._view("gx", gx, self._in_shape)


class BatchNorm(_Normalisation):
    """Batch normalisation per feature (n, f) or per channel (n, c, h, w), as ``nn.BatchNorm``.

    Training: x̂ = (x − μ_B)/√(σ²_B + ε), y = γ x̂ + β, with μ_B, σ²_B over the batch (and the
    pixels); the running statistics follow with ``momentum``. Inference uses the running ones.
    Backward: ∂L/∂x = γ/(m√(σ²+ε)) · (m·δ − Σδ − x̂·Σ(δ x̂)).
    """

    type_name = "BatchNorm"
    kernel = "batchnorm"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        self._stats = BatchNormState(self.eps, self.momentum, None, None, None, None)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "BatchNorm",
            "num_features": self.num_features,
            "eps": self.eps,
            "momentum": self.momentum,
        }

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if in_shape[0] != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) gets {in_shape[0]} features/channels")
        return {"gamma": (self.num_features,), "beta": (self.num_features,)}

    def buffer_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {"running_mean": (self.num_features,), "running_var": (self.num_features,)}

    def reset(self, rng: np.random.Generator) -> None:
        super().reset(rng)
        self.buffers["running_mean"][...] = 0.0
        self.buffers["running_var"][...] = 1.0

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        x3 = self.backend.contiguous(x).reshape(x.shape[0], self.num_features, -1)
        xhat = self._buffer("xhat", x3.shape, cache)
        out = self._buffer("out", x3.shape, cache)
        self.inv_std = self._buffer("inv_std", (self.num_features,), cache)
        mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        if cache:  # the kept record, its arrays refreshed: a step allocates none
            stats = self._stats
            stats.running_mean, stats.running_var = mean, var
            stats.xhat, stats.inv_std = xhat, self.inv_std
        else:
            stats = BatchNormState(self.eps, self.momentum, mean, var, xhat, self.inv_std)
        self.backend.batchnorm_forward(
            x3, self.params["gamma"], self.params["beta"], training, stats, out
        )
        self.xhat, self._in_shape = xhat, x.shape
        return out.reshape(x.shape)


class LayerNorm(_Normalisation):
    """Layer normalisation over the last axis, as ``nn.LayerNorm(d)``: y = γ ⊙ x̂ + β per sample.

    Backward per row, with g = δ ⊙ γ: ∂L/∂x = (g − mean g − x̂ · mean(g ⊙ x̂)) / √(σ² + ε).
    """

    type_name = "LayerNorm"
    kernel = "layernorm"

    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.d, self.eps = int(d), float(eps)

    def spec(self) -> dict[str, Any]:
        return {"type": "LayerNorm", "d": self.d, "eps": self.eps}

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if in_shape[-1] != self.d:
            raise ValueError(f"LayerNorm({self.d}) gets inputs of width {in_shape[-1]}")
        return {"gamma": (self.d,), "beta": (self.d,)}

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        x2 = self._view("x", self.backend.contiguous(x), (-1, self.d), cache)
        xhat = self._buffer("xhat", x2.shape, cache)
        out = self._buffer("out", x2.shape, cache)
        self.inv_std = self._buffer("inv_std", (x2.shape[0],), cache)
        self.backend.layernorm_forward(
            x2, self.params["gamma"], self.params["beta"], self.eps, xhat, out, self.inv_std
        )
        self.xhat, self._in_shape = xhat, x.shape
        return self._view("out", out, x.shape, cache)
