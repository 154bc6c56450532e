"""Numba CPU kernels of the recurrent layers: RNN (tanh), LSTM and GRU, forward and through time.

Gate orders and formulas are PyTorch's. Sequences are laid out time-major inside the kernels —
``(T, n, ·)`` — so each step's batch is one contiguous block for the matrix products. The input
projections ``xp[t] = x_t W_ihᵀ + b_ih`` of every step are one matrix product done by the caller
before the loop; the loop adds ``h_{t−1} W_hhᵀ + b_hh`` and applies the gates. The backward
kernels return ``dxp``, the gradient of the input projections, from which the caller gets
``∂L/∂W_ih``, ``∂L/∂b_ih`` and ``∂L/∂x`` with matrix products again.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine import _numba_setup  # noqa: F401


@njit(cache=True, nogil=True, inline="always")
def _sigmoid(a):
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@njit(cache=True, nogil=True)
def rnn_forward(xp, W_hh, b_hh, hs, hp):
    """h_t = tanh(xp_t + h_{t−1} W_hhᵀ + b_hh);  hs[0] holds h_0, hs[t + 1] holds h_t."""
    T, n, H = xp.shape
    for t in range(T):
        np.dot(hs[t], W_hh.T, hp)
        for i in range(n):
            for j in range(H):
                hs[t + 1, i, j] = math.tanh(xp[t, i, j] + hp[i, j] + b_hh[j])


@njit(cache=True, nogil=True)
def rnn_backward(dhs, W_hh, hs, dxp, grad_W_hh, grad_b_hh, dh, dprev):
    """Backprop through time: δ_t = (∂L/∂h_t + δ_{t+1} W_hh) ⊙ (1 − h_t²).

    ``dhs[t]`` is ∂L/∂h_{t+1} from above; ``dh`` ends as ∂L/∂h_0.
    """
    T, n, H = dxp.shape
    grad_W_hh[:] = 0.0
    grad_b_hh[:] = 0.0
    dh[:] = 0.0
    for t in range(T - 1, -1, -1):
        for i in range(n):
            for j in range(H):
                h = hs[t + 1, i, j]
                d = (dhs[t, i, j] + dh[i, j]) * (1.0 - h * h)
                dxp[t, i, j] = d
                grad_b_hh[j] += d
        grad_W_hh += np.dot(dxp[t].T, hs[t])
        np.dot(dxp[t], W_hh, dprev)
        dh[:] = dprev


@njit(cache=True, nogil=True)
def lstm_forward(xp, W_hh, b_hh, hs, cs, acts, hp):
    """LSTM step, gates (i, f, g, o) as PyTorch orders them:

    i, f, o = σ(·), g = tanh(·) of xp_t + h_{t−1}W_hhᵀ + b_hh;  c_t = f⊙c_{t−1} + i⊙g;
    h_t = o ⊙ tanh(c_t). ``acts`` keeps the four activated gates for the backward pass.
    """
    T, n, G = xp.shape
    H = G // 4
    for t in range(T):
        np.dot(hs[t], W_hh.T, hp)
        for b in range(n):
            for j in range(H):
                ai = xp[t, b, j] + hp[b, j] + b_hh[j]
                af = xp[t, b, H + j] + hp[b, H + j] + b_hh[H + j]
                ag = xp[t, b, 2 * H + j] + hp[b, 2 * H + j] + b_hh[2 * H + j]
                ao = xp[t, b, 3 * H + j] + hp[b, 3 * H + j] + b_hh[3 * H + j]
                i, f, g, o = _sigmoid(ai), _sigmoid(af), math.tanh(ag), _sigmoid(ao)
                acts[t, b, j], acts[t, b, H + j] = i, f
                acts[t, b, 2 * H + j], acts[t, b, 3 * H + j] = g, o
                c = f * cs[t, b, j] + i * g
                cs[t + 1, b, j] = c
                hs[t + 1, b, j] = o * math.tanh(c)


@njit(cache=True, nogil=True)
def lstm_backward(dhs, W_hh, hs, cs, acts, dxp, grad_W_hh, grad_b_hh, dh, dc, dprev):
    """Backprop through time of ``lstm_forward``; dh, dc end as ∂L/∂h_0 and ∂L/∂c_0."""
    T, n, G = dxp.shape
    H = G // 4
    grad_W_hh[:] = 0.0
    grad_b_hh[:] = 0.0
    dh[:] = 0.0
    dc[:] = 0.0
    for t in range(T - 1, -1, -1):
        for b in range(n):
            for j in range(H):
                i, f = acts[t, b, j], acts[t, b, H + j]
                g, o = acts[t, b, 2 * H + j], acts[t, b, 3 * H + j]
                tc = math.tanh(cs[t + 1, b, j])
                dht = dhs[t, b, j] + dh[b, j]
                dct = dc[b, j] + dht * o * (1.0 - tc * tc)
                dxp[t, b, j] = dct * g * i * (1.0 - i)
                dxp[t, b, H + j] = dct * cs[t, b, j] * f * (1.0 - f)
                dxp[t, b, 2 * H + j] = dct * i * (1.0 - g * g)
                dxp[t, b, 3 * H + j] = dht * tc * o * (1.0 - o)
                dc[b, j] = dct * f
        for b in range(n):
            for k in range(G):
                grad_b_hh[k] += dxp[t, b, k]
        grad_W_hh += np.dot(dxp[t].T, hs[t])
        np.dot(dxp[t], W_hh, dprev)
        dh[:] = dprev


@njit(cache=True, nogil=True)
def gru_forward(xp, W_hh, b_hh, hs, acts, hn, hp):
    """GRU step, gates (r, z, n) as PyTorch orders them:

    r = σ(xp_r + h W_hrᵀ + b_hr), z = σ(xp_z + h W_hzᵀ + b_hz),
    n = tanh(xp_n + r ⊙ (h W_hnᵀ + b_hn)), h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
    ``acts`` keeps r, z, n; ``hn`` keeps h W_hnᵀ + b_hn.
    """
    T, nb, G = xp.shape
    H = G // 3
    for t in range(T):
        np.dot(hs[t], W_hh.T, hp)
        for b in range(nb):
            for j in range(H):
                r = _sigmoid(xp[t, b, j] + hp[b, j] + b_hh[j])
                z = _sigmoid(xp[t, b, H + j] + hp[b, H + j] + b_hh[H + j])
                hnj = hp[b, 2 * H + j] + b_hh[2 * H + j]
                nn = math.tanh(xp[t, b, 2 * H + j] + r * hnj)
                acts[t, b, j], acts[t, b, H + j], acts[t, b, 2 * H + j] = r, z, nn
                hn[t, b, j] = hnj
                hs[t + 1, b, j] = (1.0 - z) * nn + z * hs[t, b, j]


@njit(cache=True, nogil=True)
def gru_backward(dhs, W_hh, hs, acts, hn, dxp, dhp, grad_W_hh, grad_b_hh, dh, dprev):
    """Backprop through time of ``gru_forward``; ``dhp`` is the gradient of h W_hhᵀ + b_hh."""
    T, nb, G = dxp.shape
    H = G // 3
    grad_W_hh[:] = 0.0
    grad_b_hh[:] = 0.0
    dh[:] = 0.0
    for t in range(T - 1, -1, -1):
        for b in range(nb):
            for j in range(H):
                r, z, nn = acts[t, b, j], acts[t, b, H + j], acts[t, b, 2 * H + j]
                dht = dhs[t, b, j] + dh[b, j]
                dan = dht * (1.0 - z) * (1.0 - nn * nn)
                dar = dan * hn[t, b, j] * r * (1.0 - r)
                daz = dht * (hs[t, b, j] - nn) * z * (1.0 - z)
                dxp[t, b, j], dxp[t, b, H + j], dxp[t, b, 2 * H + j] = dar, daz, dan
                dhp[b, j], dhp[b, H + j], dhp[b, 2 * H + j] = dar, daz, dan * r
                dh[b, j] = dht * z
        for b in range(nb):
            for k in range(G):
                grad_b_hh[k] += dhp[b, k]
        grad_W_hh += np.dot(dhp.T, hs[t])
        np.dot(dhp, W_hh, dprev)
        dh += dprev
