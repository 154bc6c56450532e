"""Loss pieces and pooling's max as SymPy functions that know their own derivative.

(The activations are generated from the engine's registry in ``derive.activations``.) Each
class evaluates itself only on numbers (so a general expression stays symbolic), gives its
derivative through ``fdiff`` in the form a student reads, and carries a NumPy twin in ``_imp_``
so ``lambdify`` can turn a derived expression into array code.
Huber's kink follows the engine: the branch ``|d| ≤ δ``.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp


def _numbers(*args: sp.Basic) -> bool:
    return all(a.is_Number for a in args)


class Numeric(sp.Function):
    """Evaluates through ``evalf`` too: its arguments first, then ``eval`` on the numbers."""

    def _eval_evalf(self, prec: int) -> sp.Basic | None:
        args = [a.evalf(prec) for a in self.args]
        value = self.func(*args)
        return value if value.is_Number else None


class window_max(Numeric):
    """The largest of its arguments, kept in the order written (a pooling window's inputs,
    row by row; SymPy's own ``Max`` would sort them and drop repeats)."""

    @classmethod
    def eval(cls, *args: sp.Basic) -> sp.Basic | None:
        return max(args, key=float) if all(a.is_Number for a in args) else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        first = max(range(len(self.args)), key=lambda i: float(self.args[i]))
        return sp.S.One if argindex - 1 == first else sp.S.Zero


class huber_grad(Numeric):
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


class huber(Numeric):
    """h(d) = ½d² if |d| ≤ δ else δ(|d| − ½δ) (PyTorch's HuberLoss per element)."""

    _imp_ = staticmethod(_np_huber)

    @classmethod
    def eval(cls, d: sp.Basic, delta: sp.Basic) -> sp.Basic | None:
        if not _numbers(d, delta):
            return None
        return sp.Float(float(_np_huber(np.array(float(d)), float(delta))))

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return huber_grad(*self.args)


def _log_clamped_float(x: float) -> float:
    return max(math.log(x), -100.0) if x > 0 else -100.0


class log_clamped(Numeric):
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
