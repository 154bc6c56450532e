"""``numba.cuda`` kernels of multi-head scaled dot-product attention
(``engine.kernels.cpu.attention``).

The layout is the CPU kernels': heads are read in place from ``qkv`` (n, T, 3d) — queries, keys,
values, head h in columns h·d_h … h·d_h + d_h − 1 of each third — and the attention weights are
kept transposed, ``AT[b, h, s, t] = A[b, h, t, s]`` (n, h, T, T); gradients go into ``dqkv`` the
same way. The CPU loops over (sample, head) and calls BLAS; here every stage is one launch over
all samples and heads, one thread per output element (a column of Aᵀ, for the softmax), looping
over the short inner axis (T or d_h). The backend launches, in order:

    forward:  attention_scores (Sᵀ = K Qᵀ/√d_h, masked, into AT);
              attention_softmax (Aᵀ = softmax down the columns, in place);
              attention_output (O = A V)
    backward: attention_grad_values (dV = Aᵀ dO);  attention_grad_weights (dAᵀ = V dOᵀ, into dST);
              attention_softmax_backward (dSᵀ = Aᵀ ⊙ (dAᵀ − colsum(dAᵀ ⊙ Aᵀ)), in place);
              attention_grad_qk (dQ = dS K/√d_h, dK = dSᵀ Q/√d_h)

``dST`` is (n, h, T, T), where the CPU kernel reuses one (T, T) block per head. Every kernel is a
grid-stride loop, so any 1-D launch covers it.
"""

from __future__ import annotations

import math

from numba import cuda

# --------------------------------------------------------------------------- forward


@cuda.jit(cache=True)
def attention_scores(qkv, heads, causal, AT):
    """for b, h, s, t: AT[b, h, s, t] = k_s · q_t / √d_h, or −∞ where causal and s > t."""
    n, T, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads
    scale = 1.0 / math.sqrt(dh)
    for e in range(cuda.grid(1), n * heads * T * T, cuda.gridsize(1)):
        t, s, h, b = e % T, (e // T) % T, (e // (T * T)) % heads, e // (T * T * heads)
        if causal and s > t:
            AT[b, h, s, t] = -math.inf
        else:
            acc = AT.dtype.type(0.0)
            for j in range(h * dh, (h + 1) * dh):
                acc += qkv[b, s, d + j] * qkv[b, t, j]
            AT[b, h, s, t] = acc * scale


@cuda.jit(cache=True)
def attention_softmax(AT):
    """for each column (b, h, t), in place: AT[b, h, :, t] = softmax(Sᵀ[b, h, :, t])."""
    n, heads, T, _ = AT.shape
    for e in range(cuda.grid(1), n * heads * T, cuda.gridsize(1)):
        t, h, b = e % T, (e // T) % heads, e // (T * heads)
        top = -math.inf
        for s in range(T):
            top = max(top, AT[b, h, s, t])
        total = 0.0
        for s in range(T):
            x = math.exp(AT[b, h, s, t] - top)
            AT[b, h, s, t] = x
            total += x
        for s in range(T):
            AT[b, h, s, t] /= total


@cuda.jit(cache=True)
def attention_output(AT, qkv, out):
    """for b, t, c = h·d_h + j: out[b, t, c] = Σ_s A[b, h, t, s] v[b, s, c]."""
    _, heads, T, _ = AT.shape
    n, _, d = out.shape
    dh = d // heads
    for e in range(cuda.grid(1), n * T * d, cuda.gridsize(1)):
        c, t, b = e % d, (e // d) % T, e // (d * T)
        h = c // dh
        acc = out.dtype.type(0.0)
        for s in range(T):
            acc += AT[b, h, s, t] * qkv[b, s, 2 * d + c]
        out[b, t, c] = acc


# --------------------------------------------------------------------------- backward


@cuda.jit(cache=True)
def attention_grad_values(dout, AT, dqkv):
    """for b, s, c = h·d_h + j: dV[b, s, c] = Σ_t A[b, h, t, s] dO[b, t, c] → dqkv[b, s, 2d + c]."""
    _, heads, T, _ = AT.shape
    n, _, d = dout.shape
    dh = d // heads
    for e in range(cuda.grid(1), n * T * d, cuda.gridsize(1)):
        c, s, b = e % d, (e // d) % T, e // (d * T)
        h = c // dh
        acc = dqkv.dtype.type(0.0)
        for t in range(T):
            acc += AT[b, h, s, t] * dout[b, t, c]
        dqkv[b, s, 2 * d + c] = acc


@cuda.jit(cache=True)
def attention_grad_weights(dout, qkv, dST):
    """for b, h, s, t: dST[b, h, s, t] = ∂L/∂A[b, h, t, s] = v_s · dO_t (over head h's columns)."""
    n, heads, T, _ = dST.shape
    d = dout.shape[2]
    dh = d // heads
    for e in range(cuda.grid(1), n * heads * T * T, cuda.gridsize(1)):
        t, s, h, b = e % T, (e // T) % T, (e // (T * T)) % heads, e // (T * T * heads)
        acc = dST.dtype.type(0.0)
        for j in range(h * dh, (h + 1) * dh):
            acc += qkv[b, s, 2 * d + j] * dout[b, t, j]
        dST[b, h, s, t] = acc


@cuda.jit(cache=True)
def attention_softmax_backward(AT, dST):
    """for each column (b, h, t), in place: dSᵀ = Aᵀ ⊙ (dAᵀ − Σ_s dAᵀ ⊙ Aᵀ) (softmax's chain)."""
    n, heads, T, _ = AT.shape
    for e in range(cuda.grid(1), n * heads * T, cuda.gridsize(1)):
        t, h, b = e % T, (e // T) % heads, e // (T * heads)
        dot = 0.0
        for s in range(T):
            dot += dST[b, h, s, t] * AT[b, h, s, t]
        for s in range(T):
            dST[b, h, s, t] = AT[b, h, s, t] * (dST[b, h, s, t] - dot)


@cuda.jit(cache=True)
def attention_grad_qk(dST, qkv, dqkv):
    """for b, t, c = h·d_h + j:  dQ[b, t, c] = Σ_s dS[b, h, t, s] k[b, s, c] / √d_h → dqkv[b, t, c];

    dK[b, t, c] = Σ_s dS[b, h, s, t] q[b, s, c] / √d_h → dqkv[b, t, d + c].
    """
    n, heads, T, _ = dST.shape
    d = qkv.shape[2] // 3
    dh = d // heads
    scale = 1.0 / math.sqrt(dh)
    for e in range(cuda.grid(1), n * T * d, cuda.gridsize(1)):
        c, t, b = e % d, (e // d) % T, e // (d * T)
        h = c // dh
        gq = 0.0
        gk = 0.0
        for s in range(T):
            gq += dST[b, h, s, t] * qkv[b, s, d + c]
            gk += dST[b, h, t, s] * qkv[b, s, c]
        dqkv[b, t, c] = gq * scale
        dqkv[b, t, d + c] = gk * scale
