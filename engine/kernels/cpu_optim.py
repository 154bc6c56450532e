"""Numba CPU kernels of the optimisers, over the flat parameter buffer.

Each rule is written once, as a ``_*_range`` body over ``[start, stop)``; ``*_step`` runs it
serially (small networks) and ``*_step_par`` over chunks in ``prange`` (large ones). The update
rules are PyTorch's (``torch.optim``), term for term, so the same weights and gradients give the
same trajectory.
"""

from __future__ import annotations

import math

from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu import CHUNK


@njit(cache=True, nogil=True, inline="always")
def _sgd_range(p, g, buf, lr, momentum, dampening, nesterov, wd, first, start, stop):
    for i in range(start, stop):
        d = g[i] + wd * p[i]
        if momentum != 0.0:
            if first:
                buf[i] = d
            else:
                buf[i] = momentum * buf[i] + (1.0 - dampening) * d
            d = d + momentum * buf[i] if nesterov else buf[i]
        p[i] -= lr * d


@njit(cache=True, nogil=True)
def sgd_step(p, g, buf, lr, momentum, dampening, nesterov, wd, first):
    """for i: d = g + wd·p; buf = μ·buf + (1 − τ)·d (d at first); p -= lr·(d + μ·buf | buf)."""
    _sgd_range(p, g, buf, lr, momentum, dampening, nesterov, wd, first, 0, p.size)


@njit(cache=True, nogil=True, parallel=True)
def sgd_step_par(p, g, buf, lr, momentum, dampening, nesterov, wd, first):
    """Chunk-parallel twin of ``sgd_step``."""
    n = p.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        _sgd_range(
            p,
            g,
            buf,
            lr,
            momentum,
            dampening,
            nesterov,
            wd,
            first,
            c * CHUNK,
            min(n, (c + 1) * CHUNK),
        )


@njit(cache=True, nogil=True, inline="always")
def _adam_range(p, g, m, v, lr, b1, b2, eps, wd, decoupled, t, start, stop):
    bc1 = 1.0 - b1**t
    bc2_sqrt = math.sqrt(1.0 - b2**t)
    step_size = lr / bc1
    for i in range(start, stop):
        if decoupled:
            p[i] *= 1.0 - lr * wd
            d = g[i]
        else:
            d = g[i] + wd * p[i]
        m[i] = b1 * m[i] + (1.0 - b1) * d
        v[i] = b2 * v[i] + (1.0 - b2) * d * d
        p[i] -= step_size * m[i] / (math.sqrt(v[i]) / bc2_sqrt + eps)


@njit(cache=True, nogil=True)
def adam_step(p, g, m, v, lr, b1, b2, eps, wd, decoupled, t):
    """Adam (decoupled=False, L2 in the gradient) or AdamW (decoupled=True, p *= 1 − lr·wd).

    m = β₁m + (1 − β₁)g;  v = β₂v + (1 − β₂)g²;  p -= lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε)
    """
    _adam_range(p, g, m, v, lr, b1, b2, eps, wd, decoupled, t, 0, p.size)


@njit(cache=True, nogil=True, parallel=True)
def adam_step_par(p, g, m, v, lr, b1, b2, eps, wd, decoupled, t):
    """Chunk-parallel twin of ``adam_step``."""
    n = p.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        _adam_range(
            p, g, m, v, lr, b1, b2, eps, wd, decoupled, t, c * CHUNK, min(n, (c + 1) * CHUNK)
        )


@njit(cache=True, nogil=True, inline="always")
def _rmsprop_range(p, g, sq, gavg, buf, lr, alpha, eps, wd, momentum, centered, start, stop):
    for i in range(start, stop):
        d = g[i] + wd * p[i]
        sq[i] = alpha * sq[i] + (1.0 - alpha) * d * d
        if centered:
            gavg[i] = alpha * gavg[i] + (1.0 - alpha) * d
            avg = math.sqrt(sq[i] - gavg[i] * gavg[i]) + eps
        else:
            avg = math.sqrt(sq[i]) + eps
        if momentum > 0.0:
            buf[i] = momentum * buf[i] + d / avg
            p[i] -= lr * buf[i]
        else:
            p[i] -= lr * d / avg


@njit(cache=True, nogil=True)
def rmsprop_step(p, g, sq, gavg, buf, lr, alpha, eps, wd, momentum, centered):
    """s = αs + (1 − α)g²;  p -= lr·g / (√s + ε)  (centred: √(s − ḡ²); with momentum: a buffer)."""
    _rmsprop_range(p, g, sq, gavg, buf, lr, alpha, eps, wd, momentum, centered, 0, p.size)


@njit(cache=True, nogil=True, parallel=True)
def rmsprop_step_par(p, g, sq, gavg, buf, lr, alpha, eps, wd, momentum, centered):
    """Chunk-parallel twin of ``rmsprop_step``."""
    n = p.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        _rmsprop_range(
            p,
            g,
            sq,
            gavg,
            buf,
            lr,
            alpha,
            eps,
            wd,
            momentum,
            centered,
            c * CHUNK,
            min(n, (c + 1) * CHUNK),
        )


@njit(cache=True, nogil=True, inline="always")
def _adagrad_range(p, g, acc, clr, eps, wd, start, stop):
    for i in range(start, stop):
        d = g[i] + wd * p[i]
        acc[i] += d * d
        p[i] -= clr * d / (math.sqrt(acc[i]) + eps)


@njit(cache=True, nogil=True)
def adagrad_step(p, g, acc, clr, eps, wd):
    """G += g²;  p -= clr · g / (√G + ε), where clr = lr / (1 + (t − 1)·lr_decay)."""
    _adagrad_range(p, g, acc, clr, eps, wd, 0, p.size)


@njit(cache=True, nogil=True, parallel=True)
def adagrad_step_par(p, g, acc, clr, eps, wd):
    """Chunk-parallel twin of ``adagrad_step``."""
    n = p.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        _adagrad_range(p, g, acc, clr, eps, wd, c * CHUNK, min(n, (c + 1) * CHUNK))
