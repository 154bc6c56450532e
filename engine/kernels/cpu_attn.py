"""Numba CPU kernels of scaled dot-product attention over several heads.

The caller projects the input once, ``qkv = x W_inᵀ + b_in`` of shape (n, T, 3d) (PyTorch's
``in_proj`` layout: queries, then keys, then values), and applies the output projection after.
These kernels do what lies between, per sample and head (serial loops; BLAS for the products):

    S = Q Kᵀ / √d_h  (−∞ above the diagonal when causal),  A = softmax_rows(S),  O = A V
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engine import _numba_setup  # noqa: F401


@njit(cache=True, nogil=True)
def attention_forward(qkv, heads, causal, q, k, v, A, out):
    """Splits qkv into heads (q, k, v: (n, h, T, d_h)), fills A (n, h, T, T) and out (n, T, d)."""
    n, T, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads
    scale = 1.0 / math.sqrt(dh)
    for b in range(n):
        for h in range(heads):
            for t in range(T):
                for j in range(dh):
                    q[b, h, t, j] = qkv[b, t, h * dh + j]
                    k[b, h, t, j] = qkv[b, t, d + h * dh + j]
                    v[b, h, t, j] = qkv[b, t, 2 * d + h * dh + j]
            S = np.dot(q[b, h], k[b, h].T)
            for t in range(T):
                top = -math.inf
                for s in range(T):
                    if causal and s > t:
                        S[t, s] = -math.inf
                    else:
                        S[t, s] *= scale
                    top = max(top, S[t, s])
                total = 0.0
                for s in range(T):
                    e = math.exp(S[t, s] - top)
                    A[b, h, t, s] = e
                    total += e
                for s in range(T):
                    A[b, h, t, s] /= total
            O = np.dot(A[b, h], v[b, h])
            for t in range(T):
                for j in range(dh):
                    out[b, t, h * dh + j] = O[t, j]


@njit(cache=True, nogil=True)
def attention_backward(dout, q, k, v, A, dqkv):
    """Gradients through the heads: dV = Aᵀ dO;  dS = A ⊙ (dA − rowsum(dA ⊙ A));

    dQ = dS K / √d_h;  dK = dSᵀ Q / √d_h;  written back into dqkv (n, T, 3d).
    """
    n, heads, T, dh = q.shape
    d = heads * dh
    scale = 1.0 / math.sqrt(dh)
    for b in range(n):
        for h in range(heads):
            dO = np.empty((T, dh), dtype=dout.dtype)
            for t in range(T):
                for j in range(dh):
                    dO[t, j] = dout[b, t, h * dh + j]
            dA = np.dot(dO, v[b, h].T)
            dV = np.dot(A[b, h].T, dO)
            dS = np.empty((T, T), dtype=dout.dtype)
            for t in range(T):
                row = 0.0
                for s in range(T):
                    row += dA[t, s] * A[b, h, t, s]
                for s in range(T):
                    dS[t, s] = A[b, h, t, s] * (dA[t, s] - row) * scale
            dQ = np.dot(dS, k[b, h])
            dK = np.dot(dS.T, q[b, h])
            for t in range(T):
                for j in range(dh):
                    dqkv[b, t, h * dh + j] = dQ[t, j]
                    dqkv[b, t, d + h * dh + j] = dK[t, j]
                    dqkv[b, t, 2 * d + h * dh + j] = dV[t, j]
