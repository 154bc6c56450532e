"""Numba CPU kernels of the image layers: convolution, pooling and normalisation.

Layout is PyTorch's NCHW: a batch ``x`` is ``(n, c, h, w)``; a convolution's weight is
``(out_c, in_c, kh, kw)``. A convolution is computed as im2col followed by one matrix product
(BLAS, on its own threads), so its cost is the product's. The loops here are serial on purpose:
a Numba parallel region between two BLAS calls leaves two thread pools spinning for two cores,
which made a LeNet step on digits thirty times slower than the serial loops (``engine.backend``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine import _numba_setup  # noqa: F401


@njit(cache=True, nogil=True)
def im2col(x, kh, kw, stride, pad, cols):
    """cols[(i·oh + y)·ow + x, (c·kh + dy)·kw + dx] = x_padded[i, c, y·s + dy, x·s + dx]."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    for i in range(n):
        for oy in range(oh):
            for ox in range(ow):
                row = (i * oh + oy) * ow + ox
                col = 0
                for ch in range(c):
                    for dy in range(kh):
                        iy = oy * stride - pad + dy
                        for dx in range(kw):
                            ix = ox * stride - pad + dx
                            if 0 <= iy < h and 0 <= ix < w:
                                cols[row, col] = x[i, ch, iy, ix]
                            else:
                                cols[row, col] = 0.0
                            col += 1


@njit(cache=True, nogil=True)
def col2im(dcols, kh, kw, stride, pad, dx):
    """The adjoint of im2col: dx[i, c, iy, ix] = Σ over the columns that read that pixel."""
    n, c, h, w = dx.shape
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    for i in range(n):
        for ch in range(c):
            for iy in range(h):
                for ix in range(w):
                    dx[i, ch, iy, ix] = 0.0
        for oy in range(oh):
            for ox in range(ow):
                row = (i * oh + oy) * ow + ox
                col = 0
                for ch in range(c):
                    for ky in range(kh):
                        iy = oy * stride - pad + ky
                        for kx in range(kw):
                            ix = ox * stride - pad + kx
                            if 0 <= iy < h and 0 <= ix < w:
                                dx[i, ch, iy, ix] += dcols[row, col]
                            col += 1


@njit(cache=True, nogil=True)
def conv2d_forward(x, W, b, stride, pad, cols, zmat, z):
    """z[i, o, y, x] = Σ_{c,dy,dx} W[o, c, dy, dx] · x_pad[i, c, y·s + dy, x·s + dx] + b[o]."""
    oc, _, kh, kw = W.shape
    im2col(x, kh, kw, stride, pad, cols)
    np.dot(cols, W.reshape(oc, -1).T, zmat)
    n, _, oh, ow = z.shape
    for i in range(n):
        for o in range(oc):
            for oy in range(oh):
                for ox in range(ow):
                    z[i, o, oy, ox] = zmat[(i * oh + oy) * ow + ox, o] + b[o]


@njit(cache=True, nogil=True)
def conv2d_backward(x, W, delta, stride, pad, cols, dzmat, grad_W, grad_b, dcols, grad_x, need_x):
    """∂L/∂W[o,·] = Σ_rows δ[row, o] · cols[row, ·];  ∂L/∂b[o] = Σ δ[·, o];  ∂L/∂x = col2im(δ W).

    ``cols`` still holds the im2col of the forward pass.
    """
    oc, _, kh, kw = W.shape
    n, _, oh, ow = delta.shape
    for o in range(oc):
        grad_b[o] = 0.0
    for i in range(n):
        for o in range(oc):
            for oy in range(oh):
                for ox in range(ow):
                    d = delta[i, o, oy, ox]
                    dzmat[(i * oh + oy) * ow + ox, o] = d
                    grad_b[o] += d
    np.dot(dzmat.T, cols, grad_W.reshape(oc, -1))
    if need_x:
        np.dot(dzmat, W.reshape(oc, -1), dcols)
        col2im(dcols, kh, kw, stride, pad, grad_x)


@njit(cache=True, nogil=True)
def maxpool2d_forward(x, k, stride, out, argmax):
    """out[i, c, y, x] = max over the k×k window; argmax keeps the flat index of the winner."""
    n, c, _, w = x.shape
    _, _, oh, ow = out.shape
    for i in range(n):
        for ch in range(c):
            for oy in range(oh):
                for ox in range(ow):
                    best = -math.inf
                    where = 0
                    for dy in range(k):
                        for dx in range(k):
                            iy, ix = oy * stride + dy, ox * stride + dx
                            v = x[i, ch, iy, ix]
                            if v > best or (dy == 0 and dx == 0):
                                best, where = v, iy * w + ix
                    out[i, ch, oy, ox] = best
                    argmax[i, ch, oy, ox] = where


@njit(cache=True, nogil=True)
def maxpool2d_backward(grad_out, argmax, grad_x):
    """Routes each window's gradient to the input that won the max; the others get 0."""
    n, c, h, w = grad_x.shape
    _, _, oh, ow = grad_out.shape
    for i in range(n):
        for ch in range(c):
            for iy in range(h):
                for ix in range(w):
                    grad_x[i, ch, iy, ix] = 0.0
            for oy in range(oh):
                for ox in range(ow):
                    where = argmax[i, ch, oy, ox]
                    grad_x[i, ch, where // w, where % w] += grad_out[i, ch, oy, ox]


@njit(cache=True, nogil=True)
def avgpool2d_forward(x, k, stride, out):
    """out[i, c, y, x] = mean of the k×k window."""
    n, c, _, _ = x.shape
    _, _, oh, ow = out.shape
    for i in range(n):
        for ch in range(c):
            for oy in range(oh):
                for ox in range(ow):
                    s = 0.0
                    for dy in range(k):
                        for dx in range(k):
                            s += x[i, ch, oy * stride + dy, ox * stride + dx]
                    out[i, ch, oy, ox] = s / (k * k)


@njit(cache=True, nogil=True)
def avgpool2d_backward(grad_out, k, stride, grad_x):
    """Spreads each window's gradient evenly, 1/k² to every input of the window."""
    n, c, h, w = grad_x.shape
    _, _, oh, ow = grad_out.shape
    for i in range(n):
        for ch in range(c):
            for iy in range(h):
                for ix in range(w):
                    grad_x[i, ch, iy, ix] = 0.0
            for oy in range(oh):
                for ox in range(ow):
                    g = grad_out[i, ch, oy, ox] / (k * k)
                    for dy in range(k):
                        for dx in range(k):
                            grad_x[i, ch, oy * stride + dy, ox * stride + dx] += g


@njit(cache=True, nogil=True)
def batchnorm_forward(
    x, gamma, beta, eps, training, momentum, run_mean, run_var, xhat, out, inv_std
):
    """Batch norm over x of shape (n, c, s): per channel c, statistics over the n·s values.

    Training: y = γ·(x − μ_B)/√(σ²_B + ε) + β, and the running statistics move by ``momentum``
    (the running variance is the unbiased one, as PyTorch keeps it). Inference uses them instead.
    """
    n, c, sp = x.shape
    m = n * sp
    for ch in range(c):
        if training:
            total = 0.0
            for i in range(n):
                for j in range(sp):
                    total += x[i, ch, j]
            mu = total / m
            sq = 0.0
            for i in range(n):
                for j in range(sp):
                    d = x[i, ch, j] - mu
                    sq += d * d
            var = sq / m
            run_mean[ch] = (1.0 - momentum) * run_mean[ch] + momentum * mu
            unbiased = sq / (m - 1) if m > 1 else var
            run_var[ch] = (1.0 - momentum) * run_var[ch] + momentum * unbiased
        else:
            mu, var = run_mean[ch], run_var[ch]
        istd = 1.0 / math.sqrt(var + eps)
        inv_std[ch] = istd
        for i in range(n):
            for j in range(sp):
                xh = (x[i, ch, j] - mu) * istd
                xhat[i, ch, j] = xh
                out[i, ch, j] = gamma[ch] * xh + beta[ch]


@njit(cache=True, nogil=True)
def batchnorm_backward(dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta):
    """∂L/∂x = γ/(m√(σ²+ε)) · (m·dy − Σdy − x̂·Σ(dy·x̂)), with m = n·s values per channel."""
    n, c, sp = dy.shape
    m = n * sp
    for ch in range(c):
        s1 = 0.0
        s2 = 0.0
        for i in range(n):
            for j in range(sp):
                s1 += dy[i, ch, j]
                s2 += dy[i, ch, j] * xhat[i, ch, j]
        grad_beta[ch] = s1
        grad_gamma[ch] = s2
        k = gamma[ch] * inv_std[ch] / m
        for i in range(n):
            for j in range(sp):
                dx[i, ch, j] = k * (m * dy[i, ch, j] - s1 - xhat[i, ch, j] * s2)


@njit(cache=True, nogil=True)
def layernorm_forward(x, gamma, beta, eps, xhat, out, inv_std):
    """Layer norm over the last axis of x (rows, d): y = γ ⊙ (x − μ_row)/√(σ²_row + ε) + β."""
    rows, d = x.shape
    for r in range(rows):
        mu = 0.0
        for j in range(d):
            mu += x[r, j]
        mu /= d
        var = 0.0
        for j in range(d):
            var += (x[r, j] - mu) ** 2
        istd = 1.0 / math.sqrt(var / d + eps)
        inv_std[r] = istd
        for j in range(d):
            xh = (x[r, j] - mu) * istd
            xhat[r, j] = xh
            out[r, j] = gamma[j] * xh + beta[j]


@njit(cache=True, nogil=True)
def layernorm_backward(dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta):
    """Per row, with g = dy ⊙ γ:  ∂L/∂x = (1/√(σ²+ε)) · (g − mean(g) − x̂ · mean(g ⊙ x̂))."""
    rows, d = dy.shape
    for j in range(d):
        grad_gamma[j] = 0.0
        grad_beta[j] = 0.0
    for r in range(rows):
        s1 = 0.0
        s2 = 0.0
        for j in range(d):
            g = dy[r, j] * gamma[j]
            s1 += g
            s2 += g * xhat[r, j]
            grad_gamma[j] += dy[r, j] * xhat[r, j]
            grad_beta[j] += dy[r, j]
        for j in range(d):
            dx[r, j] = inv_std[r] * (dy[r, j] * gamma[j] - s1 / d - xhat[r, j] * s2 / d)
