"""``numba.cuda`` kernels of multi-head scaled dot-product attention (``engine.kernels.cpu_attn``).

The CPU kernel loops over (sample, head) and calls BLAS for each product; here every stage is
one launch over all samples and heads at once, one thread per output element (a row, for the
softmax), looping over the short inner axis (T or d_h). The backend launches, in order:

    forward:  attention_split (qkv → q, k, v);  attention_scores (S = Q Kᵀ/√d_h, masked, into A);
              attention_softmax (A = softmax_rows(S), in place);  attention_output (O = A V)
    backward: attention_grad_values (dV = Aᵀ dO);  attention_grad_weights (dA = dO Vᵀ);
              attention_softmax_backward (dS = A ⊙ (dA − rowsum(dA ⊙ A)) / √d_h, in place);
              attention_grad_qk (dQ = dS K, dK = dSᵀ Q)

Shapes as on the CPU: qkv and dqkv (n, T, 3d) in ``in_proj`` order (queries, keys, values);
q, k, v (n, h, T, d_h); A and dA (n, h, T, T); out and dout (n, T, d). Every kernel is a
grid-stride loop, so any 1-D launch covers it.
"""

from __future__ import annotations

import math

from numba import cuda

# --------------------------------------------------------------------------- forward


@cuda.jit(cache=True)
def attention_split(qkv, heads, q, k, v):
    """for b, t, c = h·d_h + j: q[b, h, t, j] = qkv[b, t, c]; k and v from the next two thirds."""
    n, T, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads
    for e in range(cuda.grid(1), n * T * d, cuda.gridsize(1)):
        c, t, b = e % d, (e // d) % T, e // (d * T)
        h, j = c // dh, c % dh
        q[b, h, t, j] = qkv[b, t, c]
        k[b, h, t, j] = qkv[b, t, d + c]
        v[b, h, t, j] = qkv[b, t, 2 * d + c]


@cuda.jit(cache=True)
def attention_scores(q, k, causal, S):
    """for b, h, t, s: S[b, h, t, s] = q_t · k_s / √d_h, or −∞ where causal and s > t."""
    n, heads, T, dh = q.shape
    scale = 1.0 / math.sqrt(dh)
    for e in range(cuda.grid(1), n * heads * T * T, cuda.gridsize(1)):
        s, t, h, b = e % T, (e // T) % T, (e // (T * T)) % heads, e // (T * T * heads)
        if causal and s > t:
            S[b, h, t, s] = -math.inf
        else:
            acc = S.dtype.type(0.0)
            for j in range(dh):
                acc += q[b, h, t, j] * k[b, h, s, j]
            S[b, h, t, s] = acc * scale


@cuda.jit(cache=True)
def attention_softmax(A):
    """for each row (b, h, t), in place: A[b, h, t, :] = softmax(S[b, h, t, :])."""
    n, heads, T, _ = A.shape
    for e in range(cuda.grid(1), n * heads * T, cuda.gridsize(1)):
        t, h, b = e % T, (e // T) % heads, e // (T * heads)
        top = -math.inf
        for s in range(T):
            top = max(top, A[b, h, t, s])
        total = 0.0
        for s in range(T):
            x = math.exp(A[b, h, t, s] - top)
            A[b, h, t, s] = x
            total += x
        for s in range(T):
            A[b, h, t, s] /= total


@cuda.jit(cache=True)
def attention_output(A, v, out):
    """for b, t, c = h·d_h + j: out[b, t, c] = Σ_s A[b, h, t, s] v[b, h, s, j]."""
    n, heads, T, dh = v.shape
    d = heads * dh
    for e in range(cuda.grid(1), n * T * d, cuda.gridsize(1)):
        c, t, b = e % d, (e // d) % T, e // (d * T)
        h, j = c // dh, c % dh
        acc = out.dtype.type(0.0)
        for s in range(T):
            acc += A[b, h, t, s] * v[b, h, s, j]
        out[b, t, c] = acc


# --------------------------------------------------------------------------- backward


@cuda.jit(cache=True)
def attention_grad_values(dout, A, dqkv):
    """for b, s, c = h·d_h + j: dV[b, h, s, j] = Σ_t A[b, h, t, s] dO[b, t, c].

    dV goes into the value third of dqkv: dqkv[b, s, 2d + c].
    """
    n, heads, T, _ = A.shape
    d = dout.shape[2]
    dh = d // heads
    for e in range(cuda.grid(1), n * T * d, cuda.gridsize(1)):
        c, s, b = e % d, (e // d) % T, e // (d * T)
        h = c // dh
        acc = dqkv.dtype.type(0.0)
        for t in range(T):
            acc += A[b, h, t, s] * dout[b, t, c]
        dqkv[b, s, 2 * d + c] = acc


@cuda.jit(cache=True)
def attention_grad_weights(dout, v, dA):
    """for b, h, t, s: dA[b, h, t, s] = Σ_j dO[b, t, h·d_h + j] v[b, h, s, j]."""
    n, heads, T, dh = v.shape
    for e in range(cuda.grid(1), n * heads * T * T, cuda.gridsize(1)):
        s, t, h, b = e % T, (e // T) % T, (e // (T * T)) % heads, e // (T * T * heads)
        acc = dA.dtype.type(0.0)
        for j in range(dh):
            acc += dout[b, t, h * dh + j] * v[b, h, s, j]
        dA[b, h, t, s] = acc


@cuda.jit(cache=True)
def attention_softmax_backward(A, dh, dA):
    """for each row (b, h, t), in place: dS = A ⊙ (dA − Σ_s dA ⊙ A) / √d_h (softmax, then scale)."""
    n, heads, T, _ = A.shape
    scale = 1.0 / math.sqrt(dh)
    for e in range(cuda.grid(1), n * heads * T, cuda.gridsize(1)):
        t, h, b = e % T, (e // T) % heads, e // (T * heads)
        row = 0.0
        for s in range(T):
            row += dA[b, h, t, s] * A[b, h, t, s]
        for s in range(T):
            dA[b, h, t, s] = A[b, h, t, s] * (dA[b, h, t, s] - row) * scale


@cuda.jit(cache=True)
def attention_grad_qk(dS, q, k, dqkv):
    """for b, t, c = h·d_h + j: dQ[b, h, t, j] = Σ_s dS[b, h, t, s] k[b, h, s, j] → dqkv[b, t, c];

    dK[b, h, t, j] = Σ_s dS[b, h, s, t] q[b, h, s, j] → dqkv[b, t, d + c].
    """
    n, heads, T, dh = q.shape
    d = heads * dh
    for e in range(cuda.grid(1), n * T * d, cuda.gridsize(1)):
        c, t, b = e % d, (e // d) % T, e // (d * T)
        h, j = c // dh, c % dh
        gq = dqkv.dtype.type(0.0)
        gk = dqkv.dtype.type(0.0)
        for s in range(T):
            gq += dS[b, h, t, s] * k[b, h, s, j]
            gk += dS[b, h, s, t] * q[b, h, s, j]
        dqkv[b, t, c] = gq
        dqkv[b, t, d + c] = gk
