"""Layers, each with its forward pass and its backward pass side by side.

Notation (the same that ``derive`` prints): a batch is rows, ``x`` is the layer's input, ``z`` a
pre-activation, ``a = σ(z)`` an activation, ``δ = ∂L/∂z``. A layer's ``backward`` receives
``∂L/∂(its output)`` and returns ``∂L/∂(its input)``, writing its parameters' gradients into the
network's flat gradient buffer through named views.

Buffers are reused across steps of the same batch size (``_buffer``), so training allocates nothing
in the steady state. ``cache=False`` (public inference) allocates fresh ones instead, which keeps
an inference call from another thread off the training buffers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.backends.base import Array, Backend
from engine.backends.cpu import CPU

INITS = ("default", "xavier", "he")

LAYER_TYPES: dict[str, type[Layer]] = {}
"""Every layer class by its ``type_name``, the ``type`` of a saved spec. A class enters itself
when it is defined (``Layer.__init_subclass__``); ``engine.layers.registry`` builds from here."""


def sub_views(views: dict[str, Array], index: int) -> dict[str, Array]:
    """The views of layer ``index``, renamed without its prefix: {"3.W": w} → {"W": w}."""
    prefix = f"{index}."
    return {name[len(prefix) :]: v for name, v in views.items() if name.startswith(prefix)}


class Layer:
    """Base class: no parameters, identity shape; subclasses override what they need."""

    type_name = "Layer"
    splits_batch = False
    """Whether the layer may run a batch in chunks over Numba's threads (``batch_chunks``)."""

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        """Registers the class under its ``type_name``; ``register=False`` for a base class
        that is no layer of its own (``_Pool2D``, ``Activation``)."""
        super().__init_subclass__(**kwargs)
        if not register:
            return
        taken = LAYER_TYPES.get(cls.type_name)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise TypeError(
                f"{cls.__qualname__}: layer type {cls.type_name!r} is taken by"
                f" {taken.__qualname__}; give the class a type_name of its own"
            )
        LAYER_TYPES[cls.type_name] = cls

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.buffers: dict[str, Array] = {}  # state that is not trained (running statistics)
        self.backend: Backend = CPU
        self.rng: np.random.Generator = np.random.default_rng(0)
        self.dtype: np.dtype = np.dtype(np.float32)
        self._buffers: dict[tuple[str, int], Array] = {}
        self._views: dict[str, tuple[Array, tuple[int, ...], Array]] = {}

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The trained parameters this layer needs for inputs of shape ``in_shape`` (one sample)."""
        return {}

    def buffer_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """State kept beside the parameters but not trained (e.g. batch norm's running mean)."""
        return {}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one sample's output for one sample's input shape."""
        return in_shape

    def bind(
        self, params: dict[str, Array], grads: dict[str, Array], buffers: dict[str, Array]
    ) -> None:
        """Receives its views into the network's flat parameter, gradient and buffer arrays."""
        self.params, self.grads, self.buffers = params, grads, buffers

    def configure(self, backend: Backend, dtype: np.dtype, rng: np.random.Generator) -> None:
        self.backend, self.dtype, self.rng = backend, dtype, rng

    def spec(self) -> dict[str, Any]:
        """``type`` and the constructor's keyword arguments: ``LAYER_TYPES[type](**the rest)``
        builds the layer again (``engine.layers.registry.build_layer``)."""
        return {"type": self.type_name}

    def reset(self, rng: np.random.Generator) -> None:
        """Draws fresh initial parameters (none by default)."""

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        raise NotImplementedError

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        raise NotImplementedError

    def _buffer(
        self, key: str, shape: tuple[int, ...], cache: bool, dtype: np.dtype | None = None
    ) -> Array:
        dtype = self.dtype if dtype is None else dtype
        if not cache:
            return self.backend.empty(shape, dtype)
        buf = self._buffers.get((key, shape[0]))
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            if len(self._buffers) > 32:  # many batch sizes: keep memory bounded
                self._buffers.clear()
            buf = self.backend.empty(shape, dtype)
            self._buffers[(key, shape[0])] = buf
        return buf

    def _view(self, key: str, a: Array, shape: tuple[int, ...], cache: bool = True) -> Array:
        """``a.reshape(shape)``, kept (``cache``) while ``a`` is the same array: a training step
        makes no view (each is an object of its own, ~100 bytes)."""
        kept = self._views.get(key) if cache else None
        if kept is None or kept[0] is not a or kept[1] != shape:
            kept = (a, shape, a.reshape(shape))
            if cache:
                self._views[key] = kept
        return kept[2]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "type")
        return f"{self.type_name}({args})"


class Dense(Layer):
    """Fully connected layer: z = x Wᵀ + b, with W of shape (out, in) and b of shape (out,).

    Backward, with δ = ∂L/∂z:  ∂L/∂W = δᵀ x,  ∂L/∂b = Σ_rows δ,  ∂L/∂x = δ W.

    Args:
        in_features: inputs per sample.
        out_features: units.
        init: "default" (PyTorch's nn.Linear: W, b ~ U(±1/√in)), "xavier" (W ~ U(±√(6/(in+out))),
            b = 0) or "he" (W ~ N(0, 2/in), b = 0).
    """

    type_name = "Dense"

    def __init__(self, in_features: int, out_features: int, init: str = "default") -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Dense({in_features}, {out_features}): sizes must be at least 1")
        if init not in INITS:
            raise ValueError(f"Dense: unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.in_features = int(in_features)
        self.units = int(out_features)
        self.init = init
        self._x: Array | None = None

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if in_shape[-1] != self.in_features:
            raise ValueError(
                f"Dense({self.in_features}, {self.units}) gets inputs of shape {in_shape}"
            )
        return {"W": (self.units, self.in_features), "b": (self.units,)}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Acts on the last axis: a sequence (T, in) gives (T, out), one row per step."""
        return (*in_shape[:-1], self.units)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "Dense",
            "in_features": self.in_features,
            "out_features": self.units,
            "init": self.init,
        }

    def reset(self, rng: np.random.Generator) -> None:
        W, b = self.params["W"], self.params["b"]
        fan_in, fan_out = self.in_features, self.units
        if self.init == "xavier":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            W[...] = rng.uniform(-bound, bound, W.shape)
            b[...] = 0.0
        elif self.init == "he":
            W[...] = rng.normal(0.0, math.sqrt(2.0 / fan_in), W.shape)
            b[...] = 0.0
        else:
            bound = 1.0 / math.sqrt(fan_in)
            W[...] = rng.uniform(-bound, bound, W.shape)
            b[...] = rng.uniform(-bound, bound, b.shape)

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        x2 = x if x.ndim == 2 else self._view("x", x, (-1, self.in_features), cache)
        z = self._buffer("z", (x2.shape[0], self.units), cache)
        self.backend.dense_forward(x2, self.params["W"], self.params["b"], z)
        self._x = x2
        return z if x.ndim == 2 else self._view("z", z, (*x.shape[:-1], self.units), cache)

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        assert self._x is not None, "backward before forward"
        g2 = grad_out if grad_out.ndim == 2 else self._view("g", grad_out, (-1, self.units))
        gx = self._buffer("gx", self._x.shape, True) if need_grad_x else None
        W = self.params["W"]
        self.backend.dense_backward(self._x, W, g2, self.grads["W"], self.grads["b"], gx)
        if gx is None or grad_out.ndim == 2:
            return gx
        return self._view("gx", gx, (*grad_out.shape[:-1], self.in_features))


class Dropout(Layer):
    """Inverted dropout: training a = x ⊙ m, m = [u ≥ p]/(1 − p), u ~ U(0, 1); inference a = x.

    Backward: ∂L/∂x = ∂L/∂a ⊙ m, the same mask. The last mask is kept (``mask``) for ``derive``.
    """

    type_name = "Dropout"

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout(p={p}): p must be in [0, 1)")
        self.p = float(p)
        self.mask: Array | None = None  # the last training pass's mask (inference keeps it)
        self._masked = False  # whether the last forward applied a mask (what backward undoes)

    def spec(self) -> dict[str, Any]:
        return {"type": "Dropout", "p": self.p}

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        if not training or self.p == 0.0:
            self._masked = False
            if training:
                self.mask = None
            return x
        u = self._buffer("u", x.shape, cache)
        self.backend.uniform(self.rng, u)
        mask = self._buffer("mask", x.shape, cache)
        self.backend.dropout_mask(u, self.p, mask)
        out = self._buffer("out", x.shape, cache)
        self.backend.multiply(x, mask, out)
        self.mask, self._masked = mask, True
        return out

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        if not self._masked or self.mask is None:
            return grad_out
        gx = self._buffer("gx", grad_out.shape, True)
        self.backend.multiply(grad_out, self.mask, gx)
        return gx
