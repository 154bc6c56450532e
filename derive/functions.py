"""Activations and loss pieces as SymPy functions that know their own derivative.

Each class evaluates itself only on numbers (so a general expression stays symbolic), gives its
derivative through ``fdiff`` in the form a student reads (σ′ = σ(1 − σ), not an expanded
quotient of exponentials), and carries a NumPy twin in ``_imp_`` so ``lambdify`` can turn a
derived expression into array code. ``tanh`` is SymPy's own: its derivative is 1 − tanh².

The kinks follow the engine: ReLU′(0) = 0, LeakyReLU′(0) = α, Huber's branch ``|d| ≤ δ``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.expr import mul, power, sub


def _sigmoid_float(z: float) -> float:
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _np_sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _numbers(*args: sp.Basic) -> bool:
    return all(a.is_Number for a in args)


class _Numeric(sp.Function):
    """Evaluates through ``evalf`` too: its arguments first, then ``eval`` on the numbers."""

    def _eval_evalf(self, prec: int) -> sp.Basic | None:
        args = [a.evalf(prec) for a in self.args]
        value = self.func(*args)
        return value if value.is_Number else None


class sigmoid(_Numeric):
    """σ(z) = 1 / (1 + e⁻ᶻ); σ′(z) = σ(z)(1 − σ(z))."""

    _imp_ = staticmethod(_np_sigmoid)

    @classmethod
    def eval(cls, z: sp.Basic) -> sp.Basic | None:
        return sp.Float(_sigmoid_float(float(z))) if z.is_Number else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


class step(_Numeric):
    """The Iverson bracket [z > 0]: ReLU′(z), 0 at the kink as in the engine."""

    _imp_ = staticmethod(lambda z: np.where(np.asarray(z) > 0, 1.0, 0.0))

    @classmethod
    def eval(cls, z: sp.Basic) -> sp.Basic | None:
        return (sp.S.One if z > 0 else sp.S.Zero) if z.is_Number else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return sp.S.Zero


class relu(_Numeric):
    """ReLU(z) = max(0, z); ReLU′(z) = [z > 0]."""

    _imp_ = staticmethod(lambda z: np.maximum(np.asarray(z, dtype=np.float64), 0.0))

    @classmethod
    def eval(cls, z: sp.Basic) -> sp.Basic | None:
        return (z if z > 0 else sp.S.Zero) if z.is_Number else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return step(self.args[0])


class leaky_step(_Numeric):
    """LeakyReLU′(z) = 1 if z > 0 else α."""

    _imp_ = staticmethod(lambda z, alpha: np.where(np.asarray(z) > 0, 1.0, alpha))

    @classmethod
    def eval(cls, z: sp.Basic, alpha: sp.Basic) -> sp.Basic | None:
        return (sp.S.One if z > 0 else alpha) if _numbers(z, alpha) else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return sp.S.Zero


class leaky_relu(_Numeric):
    """LeakyReLU(z) = z if z > 0 else αz (α is the second argument)."""

    _imp_ = staticmethod(lambda z, alpha: np.where(np.asarray(z) > 0, z, alpha * np.asarray(z)))

    @classmethod
    def eval(cls, z: sp.Basic, alpha: sp.Basic) -> sp.Basic | None:
        return (z if z > 0 else alpha * z) if _numbers(z, alpha) else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        if argindex != 1:
            return sp.Piecewise((sp.S.Zero, self.args[0] > 0), (self.args[0], True))
        return leaky_step(*self.args)


class window_max(_Numeric):
    """The largest of its arguments, kept in the order written (a pooling window's inputs,
    row by row; SymPy's own ``Max`` would sort them and drop repeats)."""

    @classmethod
    def eval(cls, *args: sp.Basic) -> sp.Basic | None:
        return max(args, key=float) if all(a.is_Number for a in args) else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        first = max(range(len(self.args)), key=lambda i: float(self.args[i]))
        return sp.S.One if argindex - 1 == first else sp.S.Zero


class huber_grad(_Numeric):
    """h′(d) = clip(d, −δ, δ): d inside the quadratic zone, ±δ outside."""

    _imp_ = staticmethod(lambda d, delta: np.clip(d, -delta, delta))

    @classmethod
    def eval(cls, d: sp.Basic, delta: sp.Basic) -> sp.Basic | None:
        return (
            sp.Float(min(max(float(d), -float(delta)), float(delta)))
            if _numbers(d, delta)
            else None
        )

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return sp.S.Zero


def _np_huber(d: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(d)
    return np.where(a <= delta, 0.5 * np.square(d), delta * (a - 0.5 * delta))


class huber(_Numeric):
    """h(d) = ½d² if |d| ≤ δ else δ(|d| − ½δ) (PyTorch's HuberLoss per element)."""

    _imp_ = staticmethod(_np_huber)

    @classmethod
    def eval(cls, d: sp.Basic, delta: sp.Basic) -> sp.Basic | None:
        return sp.Float(float(_np_huber(float(d), float(delta)))) if _numbers(d, delta) else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return huber_grad(*self.args)


def _log_clamped_float(x: float) -> float:
    return max(math.log(x), -100.0) if x > 0 else -100.0


class log_clamped(_Numeric):
    """log x, never below −100: binary cross-entropy's logarithm as PyTorch's ``BCELoss``
    computes it, so a saturated ŷ = 1 gives a finite loss; printed as log."""

    _imp_ = staticmethod(
        lambda x: np.maximum(np.log(np.maximum(np.asarray(x, dtype=np.float64), 1e-300)), -100.0)
    )

    @classmethod
    def eval(cls, x: sp.Basic) -> sp.Basic | None:
        return sp.Float(_log_clamped_float(float(x))) if x.is_Number else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return 1 / self.args[0]


# --------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class Activation:
    """An engine activation in SymPy: its function, and its derivative as the derivation shows it.

    ``prime(z, a, alpha)`` writes σ′(z) with the cheapest of z and a = σ(z), as the engine's
    kernel does (σ′ = a(1 − a), tanh′ = 1 − a²); the tests check it against ``diff``.
    """

    name: str
    apply: Callable[[sp.Basic, float], sp.Basic]
    prime: Callable[[sp.Basic, sp.Basic, float], sp.Basic]


def _number(value: float | sp.Basic) -> sp.Basic:
    """α as SymPy holds it: a Float, or a symbol when a rule is derived in general."""
    return value if isinstance(value, sp.Basic) else sp.Float(value)


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        "sigmoid", lambda z, al: sigmoid(z), lambda z, a, al: mul(a, sub(sp.S.One, a))
    ),
    "tanh": Activation(
        "tanh",
        lambda z, al: sp.tanh(z),
        lambda z, a, al: sub(sp.S.One, power(a, 2)),
    ),
    "relu": Activation("relu", lambda z, al: relu(z), lambda z, a, al: step(z)),
    "leaky_relu": Activation(
        "leaky_relu",
        lambda z, al: leaky_relu(z, _number(al)),
        lambda z, a, al: leaky_step(z, _number(al)),
    ),
}
