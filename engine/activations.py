"""Every activation function, each defined once: the one place to add a new one.

An activation is an :class:`ActivationDef` in ``ACTIVATIONS`` plus two lines in the dispatch of
``act``/``act_grad`` below, and a layer class of three lines in ``engine.layers.activations``.
Everything else reads the definition: the CPU and CUDA kernels call ``act``/``act_grad`` (plain
``@njit`` functions, which ``numba.cuda`` compiles as device functions as well), the layers,
the config and the setup picker take the names, ``derive`` builds its SymPy functions from
``sympy``/``sympy_prime`` and prints ``symbol``/``latex`` and the rule texts, and the app's
probes and the tests use the NumPy forms.

This module is a leaf: it imports no other part of the engine (beyond Numba's set-up), so the
kernels can import it. ``engine`` never imports SymPy: the symbolic forms are functions of the
``sympy`` module (and of ``derive``'s small vocabulary ``S``), called only by ``derive``.

Kinks follow PyTorch's backward: ReLU′(0) = 0, LeakyReLU′(0) = α, ELU′(0) = α.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from engine import _numba_setup  # noqa: F401  (cache dir and threading layer first)

IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH, TANH_F32, STEP, ELU, GELU = range(9)
# TANH_F32 is not an activation of its own: the backend's pick of tanh for float32 arrays.

SQRT_HALF = 0.7071067811865476  # 1/√2
INV_SQRT_2PI = 0.3989422804014327  # 1/√(2π)


@dataclass(frozen=True)
class ActivationDef:
    """One activation function, in every form the project needs.

    Attributes:
        name: its name in configs and the API (``"relu"``), lower case.
        code: the integer the kernels dispatch on (``act``/``act_grad``).
        type_name: the layer class's name (``"ReLU"``), also the saved layer type.
        symbol, latex: how a formula writes it: ``σ`` / ``\\sigma``.
        rule, rule_latex: the forward rule a derivation cites (``<alpha>`` is filled in).
        prime_rule, prime_rule_latex: the rule for its derivative.
        forward: NumPy σ(z) in float64 (``alpha`` its parameter, 0 when it has none).
        derivative: NumPy σ′(z), given z and a = σ(z).
        sympy: σ(z) as a closed SymPy expression of ``sp``: the oracle ``diff`` differentiates.
        sympy_prime: σ′(z) as a derivation prints it, written with ``S`` (``derive``'s symbolic
            vocabulary: ``S.sp`` is SymPy, ``S.positive(z)`` the bracket [z > 0],
            ``S.where_positive(z, p, q)`` p if z > 0 else q) and the cheapest of z and a.
        alpha: the default of its parameter, or None for an activation without one.
        differentiable: False for the step function: its derivative is zero wherever it exists,
            so backpropagation through it is refused with a clear error.
        torch: the ``torch.nn`` class that defines it, for the parity tests (None: PyTorch has
            no such module).
        summary: one line for pickers and help.
    """

    name: str
    code: int
    type_name: str
    symbol: str
    latex: str
    rule: str
    rule_latex: str
    prime_rule: str
    prime_rule_latex: str
    forward: Callable[[np.ndarray, float], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray, float], np.ndarray]
    sympy: Callable[[Any, Any, Any], Any]
    sympy_prime: Callable[[Any, Any, Any, Any], Any]
    summary: str
    alpha: float | None = None
    differentiable: bool = True
    torch: str | None = None


# --------------------------------------------------------------------------- scalar kernels
# Plain @njit functions: the CPU kernels inline them, and numba.cuda compiles the same source
# into device functions for the CUDA kernels.


@njit(cache=True, nogil=True, inline="always")
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(cache=True, nogil=True, inline="always")
def tanh_f32(z):
    """tanh z for float32 as Eigen computes it: a 13/6 rational function, clamped at ±7.905.

    Within 7 ulp of the true value, and plain arithmetic, so a loop of it vectorises; ``math.tanh``
    is a library call per element (ten times slower). The backend picks it for float32 only.
    """
    x = min(max(z, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = x2 * np.float32(-2.76076847742355e-16) + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = x2 * np.float32(1.19825839466702e-06) + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return z if abs(z) < np.float32(0.0004) else p * x / q


@njit(cache=True, nogil=True, inline="always")
def act(kind, z, alpha):
    """σ(z) for the activation numbered ``kind``; ``alpha`` its parameter."""
    if kind == RELU:
        return z if z > 0.0 else 0.0
    if kind == LEAKY_RELU:
        return z if z > 0.0 else alpha * z
    if kind == SIGMOID:
        return _sigmoid(z)
    if kind == TANH:
        return math.tanh(z)
    if kind == TANH_F32:
        return tanh_f32(z)
    if kind == STEP:
        return 1.0 if z > 0.0 else 0.0
    if kind == ELU:
        return z if z > 0.0 else alpha * (math.exp(z) - 1.0)
    if kind == GELU:
        return 0.5 * z * (1.0 + math.erf(z * SQRT_HALF))
    return z


@njit(cache=True, nogil=True, inline="always")
def act_grad(kind, z, a, alpha):
    """σ′(z), written with the cheapest of z and a = σ(z)."""
    if kind == RELU:
        return 1.0 if z > 0.0 else 0.0
    if kind == LEAKY_RELU:
        return 1.0 if z > 0.0 else alpha
    if kind == SIGMOID:
        return a * (1.0 - a)
    if kind in (TANH, TANH_F32):
        return 1.0 - a * a
    if kind == STEP:
        return 0.0
    if kind == ELU:
        return 1.0 if z > 0.0 else a + alpha
    if kind == GELU:
        return 0.5 * (1.0 + math.erf(z * SQRT_HALF)) + z * INV_SQRT_2PI * math.exp(-0.5 * z * z)
    return 1.0


# --------------------------------------------------------------------------- NumPy forms


def _f64(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=np.float64)


def _np_sigmoid(z: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    z = _f64(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _np_erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(_f64(x))


def _np_gelu(z: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    z = _f64(z)
    return 0.5 * z * (1.0 + _np_erf(z * SQRT_HALF))


def _np_gelu_prime(z: np.ndarray, a: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    z = _f64(z)
    return 0.5 * (1.0 + _np_erf(z * SQRT_HALF)) + z * INV_SQRT_2PI * np.exp(-0.5 * z * z)


def _np_elu(z: np.ndarray, alpha: float) -> np.ndarray:
    z = _f64(z)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


_DEFS = (
    ActivationDef(
        "identity", IDENTITY, "Identity", "id", r"\operatorname{id}",
        "identity: a = z", r"identity: $a = z$",
        "derivative of the identity: 1", r"derivative of the identity: $1$",
        lambda z, al: _f64(z), lambda z, a, al: np.ones_like(_f64(z)),
        lambda sp, z, al: z, lambda S, z, a, al: S.sp.S.One,
        "no activation: the unit's output is its weighted sum (a linear layer)",
        torch="Identity",
    ),
    ActivationDef(
        "relu", RELU, "ReLU", "ReLU", r"\operatorname{ReLU}",
        "ReLU: max(0, z)", r"ReLU: $\max(0, z)$",
        "derivative of ReLU: 1 if z > 0, else 0", r"derivative of ReLU: $1$ if $z > 0$, else $0$",
        lambda z, al: np.maximum(_f64(z), 0.0),
        lambda z, a, al: np.where(_f64(z) > 0, 1.0, 0.0),
        lambda sp, z, al: sp.Max(0, z), lambda S, z, a, al: S.positive(z),
        "max(0, z): cheap, does not saturate for z > 0, dead for z < 0",
        torch="ReLU",
    ),
    ActivationDef(
        "leaky_relu", LEAKY_RELU, "LeakyReLU", "LeakyReLU", r"\operatorname{LeakyReLU}",
        "leaky ReLU: z if z > 0, else αz (α = <alpha>)",
        r"leaky ReLU: $z$ if $z > 0$, else $\alpha z$ ($\alpha = <alpha>$)",
        "derivative of leaky ReLU: 1 if z > 0, else α",
        r"derivative of leaky ReLU: $1$ if $z > 0$, else $\alpha$",
        lambda z, al: np.where(_f64(z) > 0, _f64(z), al * _f64(z)),
        lambda z, a, al: np.where(_f64(z) > 0, 1.0, al),
        lambda sp, z, al: sp.Piecewise((z, z > 0), (al * z, True)),
        lambda S, z, a, al: S.where_positive(z, S.sp.S.One, al),
        "z if z > 0, else αz: ReLU with a small slope α below zero, so no unit dies",
        alpha=0.01, torch="LeakyReLU",
    ),
    ActivationDef(
        "sigmoid", SIGMOID, "Sigmoid", "σ", r"\sigma",
        "sigmoid: σ(z) = 1/(1 + e⁻ᶻ)", r"sigmoid: $\sigma(z) = 1/(1 + e^{-z})$",
        "derivative of σ: σ(1 − σ)", r"derivative of $\sigma$: $\sigma(1 - \sigma)$",
        _np_sigmoid, lambda z, a, al: _f64(a) * (1.0 - _f64(a)),
        lambda sp, z, al: 1 / (1 + sp.exp(-z)), lambda S, z, a, al: a * (1 - a),
        "1/(1 + e⁻ᶻ): squashes to (0, 1); saturates, so deep stacks of it learn slowly",
        torch="Sigmoid",
    ),
    ActivationDef(
        "tanh", TANH, "Tanh", "tanh", r"\tanh",
        "tanh z = (eᶻ − e⁻ᶻ)/(eᶻ + e⁻ᶻ)", r"$\tanh z = (e^{z} - e^{-z})/(e^{z} + e^{-z})$",
        "derivative of tanh: 1 − tanh²", r"derivative of $\tanh$: $1 - \tanh^{2}$",
        lambda z, al: np.tanh(_f64(z)), lambda z, a, al: 1.0 - _f64(a) ** 2,
        lambda sp, z, al: sp.tanh(z), lambda S, z, a, al: 1 - a**2,
        "squashes to (−1, 1), centred on zero; saturates like the sigmoid",
        torch="Tanh",
    ),
    ActivationDef(
        "step", STEP, "Heaviside", "H", r"H",
        "step: H(z) = 1 if z > 0, else 0", r"step: $H(z) = 1$ if $z > 0$, else $0$",
        "derivative of the step: 0 wherever it exists (no gradient flows)",
        r"derivative of the step: $0$ wherever it exists (no gradient flows)",
        lambda z, al: np.where(_f64(z) > 0, 1.0, 0.0),
        lambda z, a, al: np.zeros_like(_f64(z)),
        lambda sp, z, al: sp.Piecewise((1, z > 0), (0, True)),
        lambda S, z, a, al: S.sp.S.Zero,
        "the perceptron's step, 1 if z > 0 else 0: no gradient, trained by the perceptron rule",
        differentiable=False,
    ),
    ActivationDef(
        "elu", ELU, "ELU", "ELU", r"\operatorname{ELU}",
        "ELU: z if z > 0, else α(eᶻ − 1) (α = <alpha>)",
        r"ELU: $z$ if $z > 0$, else $\alpha(e^{z} - 1)$ ($\alpha = <alpha>$)",
        "derivative of ELU: 1 if z > 0, else α eᶻ = a + α",
        r"derivative of ELU: $1$ if $z > 0$, else $\alpha e^{z} = a + \alpha$",
        _np_elu, lambda z, a, al: np.where(_f64(z) > 0, 1.0, _f64(a) + al),
        lambda sp, z, al: sp.Piecewise((z, z > 0), (al * (sp.exp(z) - 1), True)),
        lambda S, z, a, al: S.where_positive(z, S.sp.S.One, a + al),
        "z if z > 0, else α(eᶻ − 1): smooth below zero, outputs centred nearer zero than ReLU's",
        alpha=1.0, torch="ELU",
    ),
    ActivationDef(
        "gelu", GELU, "GELU", "GELU", r"\operatorname{GELU}",
        "GELU: z Φ(z), Φ the standard normal CDF, Φ(z) = (1 + erf(z/√2))/2",
        r"GELU: $z\,\Phi(z)$, $\Phi(z) = (1 + \operatorname{erf}(z/\sqrt{2}))/2$",
        "derivative of GELU: Φ(z) + z φ(z), φ(z) = e^(−z²/2)/√(2π)",
        r"derivative of GELU: $\Phi(z) + z\,\varphi(z)$, $\varphi(z) = e^{-z^{2}/2}/\sqrt{2\pi}$",
        _np_gelu, _np_gelu_prime,
        lambda sp, z, al: z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
        lambda S, z, a, al: (
            (1 + S.sp.erf(z / S.sp.sqrt(2))) / 2
            + z * S.sp.exp(-(z**2) / 2) / S.sp.sqrt(2 * S.sp.pi)
        ),
        "z Φ(z): a smooth ReLU weighted by how likely z is positive; transformers' usual choice",
        torch="GELU",
    ),
)  # fmt: skip

ACTIVATIONS: dict[str, ActivationDef] = {d.name: d for d in _DEFS}
"""Every activation by its config name, the identity included."""

BY_TYPE: dict[str, ActivationDef] = {d.type_name: d for d in _DEFS}


def activation(name: str) -> ActivationDef:
    """The activation called ``name``; a ValueError that lists the valid names otherwise."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
        ) from None


def names(include_identity: bool = False) -> list[str]:
    """The activations' config names, in the order they are defined."""
    return [n for n in ACTIVATIONS if include_identity or n != "identity"]
