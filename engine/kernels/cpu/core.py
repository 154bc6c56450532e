"""Numba CPU kernels: the arithmetic of every layer, loss and optimiser.

Only module-level ``@njit`` functions live here; the backend (``engine.backends.cpu``) checks
shapes,
dtypes and contiguity and then calls them. Each kernel writes into buffers it is given and
allocates nothing, so a training step in the steady state allocates no arrays.

Conventions: a batch is rows; ``x`` is ``(n, in)``, ``W`` is ``(out, in)``, ``z = x Wᵀ + b``.
Kernels that loop over many elements come in two flavours, serial and ``*_par`` (``prange``), for
the backend to pick by size. ``error_model="numpy"`` on kernels that divide lets a division be a
plain instruction (no zero check), which is what allows LLVM to vectorise those loops.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from engine import _numba_setup  # noqa: F401  (cache dir and threading layer first)
from engine.activations import (
    LEAKY_RELU,
    RELU,
    SIGMOID,
    TANH,
    TANH_F32,
    _sigmoid,
    act,
    act_grad,
    tanh_f32,
)
from engine.kernels.cpu.blas import product
from engine.kernels.cpu.views import flat

ZERO32 = np.float32(0.0)  # widens exactly to float64; keeps a float32 select float32

CHUNK = 16384  # elements per parallel chunk of the flat-buffer kernels


# --------------------------------------------------------------------------- dense layer


@njit(cache=True, nogil=True)
def dense_forward(x, W, b, z):
    """z = x Wᵀ + b.   for i, j: z[i, j] = sum_k x[i, k] W[j, k] + b[j]"""
    product(x, False, W, True, z)
    n, m = z.shape
    for i in range(n):
        for j in range(m):
            z[i, j] += b[j]


@njit(cache=True, nogil=True)
def dense_backward(x, W, delta, grad_W, grad_b, grad_x, need_grad_x):
    """grad_W = deltaᵀ x;  grad_b[j] = sum_i delta[i, j];  grad_x = delta W.

    ``delta`` is ∂L/∂z for the batch (already carrying the 1/n of a mean loss).
    """
    product(delta, True, x, False, grad_W)
    n, m = delta.shape
    for j in range(m):
        grad_b[j] = 0.0
    for i in range(n):
        for j in range(m):
            grad_b[j] += delta[i, j]
    if need_grad_x:
        product(delta, False, W, False, grad_x)


# --------------------------------------------------------------------------- activations


@njit(cache=True, nogil=True, inline="always")
def _forward_loop(kind, zf, af, alpha):
    for i in range(zf.size):
        af[i] = act(kind, zf[i], alpha)


@njit(cache=True, nogil=True, inline="always")
def _backward_loop(kind, zf, af, gaf, gzf, alpha):
    for i in range(zf.size):
        gzf[i] = gaf[i] * act_grad(kind, zf[i], af[i], alpha)


# One small kernel per common activation, each ``act``/``act_grad`` branch written out: LLVM
# vectorises the loop, where one loop over the whole ``act`` dispatch stays scalar (20 times
# slower for ReLU), and each compiles only its own activation's code (calling ``act`` with a
# constant kind still types every branch: a ReLU kernel compiled in 0.25 s that way, 0.10 s
# written out), so a first step on an empty cache compiles only what the network uses. Each
# expression is the branch's own, in its types (``act`` returns float64, stored back in the
# array's dtype), so the bits are those of the general kernels below and of the fused step's
# (tests/engine/test_fused_specialised.py). The backend picks them by ``FORWARD`` and
# ``BACKWARD``; any other activation takes the general kernels.


@njit(cache=True, nogil=True, error_model="numpy")
def _relu_forward(z, a, alpha):
    zf, af = flat(z), flat(a)
    for i in range(zf.size):
        v = zf[i]
        af[i] = v if v > 0.0 else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def _leaky_relu_forward(z, a, alpha):
    zf, af = flat(z), flat(a)
    for i in range(zf.size):
        v = zf[i]
        af[i] = v if v > 0.0 else alpha * v


@njit(cache=True, nogil=True, error_model="numpy")
def _sigmoid_forward(z, a, alpha):
    zf, af = flat(z), flat(a)
    for i in range(zf.size):
        af[i] = _sigmoid(zf[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _tanh_forward(z, a, alpha):
    zf, af = flat(z), flat(a)
    for i in range(zf.size):
        af[i] = math.tanh(zf[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _tanh_f32_forward(z, a, alpha):
    zf, af = flat(z), flat(a)
    for i in range(zf.size):
        af[i] = tanh_f32(zf[i])


@njit(cache=True, nogil=True, error_model="numpy")
def _relu_backward(z, a, grad_a, grad_z, alpha):
    zf, gaf, gzf = flat(z), flat(grad_a), flat(grad_z)
    for i in range(zf.size):  # a select in the arrays' dtype: float32 stays float32, vectorises
        gzf[i] = gaf[i] if zf[i] > 0.0 else ZERO32


@njit(cache=True, nogil=True, error_model="numpy")
def _leaky_relu_backward(z, a, grad_a, grad_z, alpha):
    zf, gaf, gzf = flat(z), flat(grad_a), flat(grad_z)
    for i in range(zf.size):
        gzf[i] = gaf[i] * (1.0 if zf[i] > 0.0 else alpha)


@njit(cache=True, nogil=True, error_model="numpy")
def _sigmoid_backward(z, a, grad_a, grad_z, alpha):
    af, gaf, gzf = flat(a), flat(grad_a), flat(grad_z)
    for i in range(af.size):
        s = af[i]
        gzf[i] = gaf[i] * (s * (1.0 - s))


@njit(cache=True, nogil=True, error_model="numpy")
def _tanh_backward(z, a, grad_a, grad_z, alpha):
    af, gaf, gzf = flat(a), flat(grad_a), flat(grad_z)
    for i in range(af.size):
        t = af[i]
        gzf[i] = gaf[i] * (1.0 - t * t)


FORWARD = {
    RELU: _relu_forward,
    LEAKY_RELU: _leaky_relu_forward,
    SIGMOID: _sigmoid_forward,
    TANH: _tanh_forward,
    TANH_F32: _tanh_f32_forward,
}
"""The activations with a kernel of their own, by kind: ``kernel(z, a, alpha)``."""

BACKWARD = {
    RELU: _relu_backward,
    LEAKY_RELU: _leaky_relu_backward,
    SIGMOID: _sigmoid_backward,
    TANH: _tanh_backward,
    TANH_F32: _tanh_backward,  # 1 − a², whichever way a was computed
}
"""The same for the backward pass: ``kernel(z, a, grad_a, grad_z, alpha)``."""


@njit(cache=True, nogil=True, error_model="numpy")
def activation_forward(z, a, kind, alpha):
    """for each element: a = σ(z), for any activation ``kind`` (the fused kernel's call).

    The common activations get a loop of their own, the same as ``FORWARD``'s kernels, written
    out here: inlining those kernels instead made this one about a third slower to compile.
    """
    zf = flat(z)
    af = flat(a)
    if kind == RELU:
        _forward_loop(RELU, zf, af, alpha)
    elif kind == TANH_F32:
        _forward_loop(TANH_F32, zf, af, alpha)
    elif kind == LEAKY_RELU:
        _forward_loop(LEAKY_RELU, zf, af, alpha)
    elif kind == SIGMOID:
        _forward_loop(SIGMOID, zf, af, alpha)
    else:
        _forward_loop(kind, zf, af, alpha)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def activation_forward_par(z, a, kind, alpha):
    """Row-parallel twin of ``activation_forward`` for large batches: the serial kernel per row."""
    for i in prange(z.shape[0]):
        activation_forward(z[i], a[i], kind, alpha)


@njit(cache=True, nogil=True, error_model="numpy")
def activation_backward(z, a, grad_a, grad_z, kind, alpha):
    """for each element: ∂L/∂z = ∂L/∂a · σ'(z), for any activation ``kind`` (as forward)."""
    zf = flat(z)
    af = flat(a)
    gaf = flat(grad_a)
    gzf = flat(grad_z)
    if kind == RELU:  # as _relu_backward
        for i in range(zf.size):
            gzf[i] = gaf[i] if zf[i] > 0.0 else ZERO32
    elif kind in (TANH, TANH_F32):
        _backward_loop(TANH, zf, af, gaf, gzf, alpha)
    elif kind == LEAKY_RELU:
        _backward_loop(LEAKY_RELU, zf, af, gaf, gzf, alpha)
    elif kind == SIGMOID:
        _backward_loop(SIGMOID, zf, af, gaf, gzf, alpha)
    else:
        _backward_loop(kind, zf, af, gaf, gzf, alpha)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def activation_backward_par(z, a, grad_a, grad_z, kind, alpha):
    """Row-parallel twin of ``activation_backward``: the serial kernel per row."""
    for i in prange(z.shape[0]):
        activation_backward(z[i], a[i], grad_a[i], grad_z[i], kind, alpha)


@njit(cache=True, nogil=True, error_model="numpy")
def dropout_mask(u, p, mask):
    """mask = [u ≥ p] / (1 − p): inverted dropout, so inference needs no rescaling."""
    uf = flat(u)
    mf = flat(mask)
    scale = 1.0 / (1.0 - p)
    for i in range(uf.size):
        mf[i] = scale if uf[i] >= p else 0.0


@njit(cache=True, nogil=True)
def multiply(x, mask, out):
    """out = x ⊙ mask (dropout forward, and its backward with the same mask)."""
    xf = flat(x)
    mf = flat(mask)
    of = flat(out)
    for i in range(xf.size):
        of[i] = xf[i] * mf[i]


# --------------------------------------------------------------------------- losses
# Each returns the mean loss and writes ∂L/∂ŷ (with the 1/N of the mean) into ``grad``.


@njit(cache=True, nogil=True, error_model="numpy")
def mse_loss(y_hat, y, grad):
    """L = mean (ŷ − y)²;  ∂L/∂ŷ = 2 (ŷ − y) / N."""
    hf = flat(y_hat)
    yf = flat(y)
    gf = flat(grad)
    n = hf.size
    total = 0.0
    for i in range(n):
        d = hf[i] - yf[i]
        total += d * d
        gf[i] = 2.0 * d / n
    return total / n


@njit(cache=True, nogil=True, error_model="numpy")
def huber_loss(y_hat, y, grad, delta):
    """L = mean of ½d² where |d| ≤ δ, else δ(|d| − ½δ), with d = ŷ − y (PyTorch's HuberLoss)."""
    hf = flat(y_hat)
    yf = flat(y)
    gf = flat(grad)
    n = hf.size
    total = 0.0
    for i in range(n):
        d = hf[i] - yf[i]
        if abs(d) <= delta:
            total += 0.5 * d * d
            gf[i] = d / n
        else:
            total += delta * (abs(d) - 0.5 * delta)
            gf[i] = (delta if d > 0 else -delta) / n
    return total / n


@njit(cache=True, nogil=True, error_model="numpy")
def bce_loss(p, y, grad):
    """L = −mean [y log p + (1 − y) log(1 − p)], logs clamped at −100 as PyTorch's BCELoss."""
    pf = flat(p)
    yf = flat(y)
    gf = flat(grad)
    n = pf.size
    total = 0.0
    for i in range(n):
        lp = max(math.log(pf[i]), -100.0) if pf[i] > 0.0 else -100.0
        lq = max(math.log(1.0 - pf[i]), -100.0) if pf[i] < 1.0 else -100.0
        total -= yf[i] * lp + (1.0 - yf[i]) * lq
        gf[i] = (pf[i] - yf[i]) / max(pf[i] * (1.0 - pf[i]), 1e-12) / n
    return total / n


@njit(cache=True, nogil=True, error_model="numpy")
def bce_logits_loss(z, y, grad):
    """L = mean [max(z, 0) − z y + log(1 + e^−|z|)];  ∂L/∂z = (σ(z) − y) / N."""
    zf = flat(z)
    yf = flat(y)
    gf = flat(grad)
    n = zf.size
    total = 0.0
    for i in range(n):
        zi = zf[i]
        e = math.exp(-abs(zi))  # serves both the log term and σ(z), as ``act`` computes it
        total += max(zi, 0.0) - zi * yf[i] + math.log1p(e)
        sigma = 1.0 / (1.0 + e) if zi >= 0.0 else e / (1.0 + e)
        gf[i] = (sigma - yf[i]) / n
    return total / n


@njit(cache=True, nogil=True, error_model="numpy")
def cross_entropy_loss(z, labels, grad):
    """Softmax fused with the negative log-likelihood of integer labels.

    L = mean_i [log Σ_k e^{z_ik} − z_i,y_i];  ∂L/∂z_ik = (softmax(z_i)_k − [k = y_i]) / n.
    """
    n = z.shape[0]
    total = 0.0
    for i in range(n):
        total += _cross_entropy_row(z[i], labels[i], grad[i], n)
    return total / n


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cross_entropy_row(z, label, grad, n):
    """One row of ``cross_entropy_loss``: fills its gradient and returns its loss."""
    k = z.shape[0]
    zmax = z[0]
    for j in range(1, k):
        zmax = max(zmax, z[j])
    s = 0.0
    for j in range(k):
        e = math.exp(z[j] - zmax)
        grad[j] = e
        s += e
    for j in range(k):
        grad[j] = grad[j] / s / n
    grad[label] -= 1.0 / n
    return math.log(s) + zmax - z[label]


# --------------------------------------------------------------------------- penalties, norms


@njit(cache=True, nogil=True)
def penalty(data, grad, ranges, l1, l2):
    """Adds l1·Σ|w| + l2·½Σw² over the weight ranges; returns it and adds its gradient to grad.

    The ½ makes the L2 gradient ``l2·w``, as TensorFlow Playground's regulariser does.
    """
    total = 0.0
    for r in range(ranges.shape[0]):
        for i in range(ranges[r, 0], ranges[r, 1]):
            w = data[i]
            total += l1 * abs(w) + 0.5 * l2 * w * w
            sign = 1.0 if w > 0.0 else (-1.0 if w < 0.0 else 0.0)
            grad[i] += l1 * sign + l2 * w
    return total


@njit(cache=True, nogil=True)
def sum_squares(v):
    """Σ v², accumulated in float64."""
    total = 0.0
    for i in range(v.size):
        total += float(v[i]) * float(v[i])
    return total


@njit(cache=True, nogil=True)
def scale(v, factor):
    """v *= factor, in place."""
    for i in range(v.size):
        v[i] *= factor


@njit(cache=True, nogil=True)
def all_finite(v):
    """True when v has no NaN or Inf."""
    for i in range(v.size):
        if not math.isfinite(v[i]):
            return False
    return True


@njit(cache=True, nogil=True)
def gather_rows(X, idx, start, stop, out):
    """out[r] = X[idx[start + r]]: one mini-batch, copied into a reused buffer."""
    for r in range(stop - start):
        src = idx[start + r]
        for j in range(X.shape[1]):
            out[r, j] = X[src, j]
