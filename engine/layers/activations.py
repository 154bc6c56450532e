"""Activation layers: a = σ(z) element-wise, one small class per function of ``engine.activations``.

A class names its function (``function = "elu"``); the definition there gives the kernels'
code, the parameter α and its default, and whether a gradient flows. Adding an activation is its
definition in ``engine.activations`` and three lines here.
"""

from __future__ import annotations

from typing import Any

from engine.activations import ActivationDef, activation
from engine.backends.cpu import Array
from engine.errors import UserError
from engine.layers.core import LAYER_TYPES, Layer

__all__ = [
    "ACTIVATION_LAYERS",
    "ELU",
    "GELU",
    "Activation",
    "Heaviside",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "activation_layer",
    "config_choices",
]


class Activation(Layer, register=False):
    """Element-wise a = σ(z); backward ∂L/∂z = ∂L/∂a ⊙ σ'(z).

    Args:
        alpha: the function's parameter (LeakyReLU's slope, ELU's α), for the functions that
            have one; None takes the default of its definition (PyTorch's).
    """

    type_name = "Identity"
    function = "identity"

    def __init__(self, alpha: float | None = None) -> None:
        super().__init__()
        self.definition: ActivationDef = activation(self.function)
        default = self.definition.alpha
        if alpha is not None and default is None:
            raise ValueError(f"{self.type_name} has no parameter alpha")
        self.alpha = float(alpha if alpha is not None else (default or 0.0))
        self.kind = self.definition.code
        self._z: Array | None = None
        self._a: Array | None = None

    def spec(self) -> dict[str, Any]:
        if self.definition.alpha is None:
            return {"type": self.type_name}
        return {"type": self.type_name, "alpha": self.alpha}

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        a = self._buffer("a", x.shape, cache)
        self.backend.activation_forward(x, a, self.kind, self.alpha)
        self._z, self._a = x, a
        return a

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        assert self._z is not None and self._a is not None, "backward before forward"
        if not self.definition.differentiable:
            raise UserError(
                f"{self.type_name} has no gradient: its derivative is zero wherever it exists,"
                " so backpropagation cannot train the layers below it",
                "use a smooth activation (sigmoid, tanh, relu …) for gradient training",
            )
        gz = self._buffer("gz", grad_out.shape, True)
        self.backend.activation_backward(self._z, self._a, grad_out, gz, self.kind, self.alpha)
        return gz


class ReLU(Activation):
    """ReLU: σ(z) = max(0, z);  σ'(z) = 1 if z > 0 else 0."""

    type_name, function = "ReLU", "relu"


class LeakyReLU(Activation):
    """Leaky ReLU: σ(z) = z if z > 0 else αz;  σ'(z) = 1 if z > 0 else α (PyTorch: α = 0.01)."""

    type_name, function = "LeakyReLU", "leaky_relu"


class Sigmoid(Activation):
    """Logistic sigmoid: σ(z) = 1 / (1 + e⁻ᶻ);  σ'(z) = σ(z)(1 − σ(z))."""

    type_name, function = "Sigmoid", "sigmoid"


class Tanh(Activation):
    """Hyperbolic tangent: σ(z) = tanh z;  σ'(z) = 1 − tanh² z."""

    type_name, function = "Tanh", "tanh"


class Heaviside(Activation):
    """The perceptron's step: H(z) = 1 if z > 0 else 0 (config name ``"step"``).

    Forward only: its derivative is zero wherever it exists, so ``backward`` raises a UserError
    rather than train nothing in silence. The perceptron learning rule trains it instead.
    """

    type_name, function = "Heaviside", "step"


class ELU(Activation):
    """ELU: σ(z) = z if z > 0 else α(eᶻ − 1);  σ'(z) = 1 if z > 0 else a + α (PyTorch: α = 1)."""

    type_name, function = "ELU", "elu"


class GELU(Activation):
    """GELU: σ(z) = z Φ(z) = ½z(1 + erf(z/√2));  σ'(z) = Φ(z) + z φ(z) (PyTorch's exact form)."""

    type_name, function = "GELU", "gelu"


ACTIVATION_LAYERS: dict[str, type[Activation]] = {
    cls.function: cls for cls in LAYER_TYPES.values() if issubclass(cls, Activation)
}
"""Every activation layer above by its function's config name, in the order defined (each
class registered itself in ``LAYER_TYPES``; the identity has no layer)."""


def config_choices() -> list[str]:
    """The config's ``activation`` values: each function a gradient flows through, and
    ``"linear"`` (no activation)."""
    return [n for n, cls in ACTIVATION_LAYERS.items() if activation(n).differentiable] + ["linear"]


def activation_layer(name: str, alpha: float | None = None) -> Activation:
    """A new layer of the activation called ``name``; a ValueError listing the names otherwise."""
    if name not in ACTIVATION_LAYERS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATION_LAYERS)}"
        )
    return ACTIVATION_LAYERS[name](alpha)
