"""``numba.cuda`` kernels of the recurrent layers (``engine.kernels.cpu.sequence``), one time step
each.

The CPU kernels loop over time inside Numba and call BLAS at every step. On the GPU the backend
runs the time loop on the host and launches, per step ``t`` (sequences time-major, ``(T, n, ·)``):

    forward:  hp = h_{t−1} W_hhᵀ + b_hh          dense_forward (engine.kernels.cuda.core), tiled
              <cell>_step(…, t)                 gates, c_t, h_t: one thread per (sample, unit)
    backward: <cell>_step_backward(…, t)        gate gradients → dxp[t]; carries dh, dc
              dh = dxp[t] W_hh                   matmul (GRU: dh += dhp[t] W_hh), tiled

and once after the backward loop ∂W_hh = Σ_t dxp[t]ᵀ h_{t−1}, ∂b_hh = Σ_t Σ_rows dxp[t] — one
``dense_backward`` over all T·n rows (the GRU's ``dhp`` in place of ``dxp``). ``hp`` already
holds the recurrent bias, so the step kernels add only ``xp``; otherwise the formulas and gate
orders are the CPU kernels' (PyTorch's). At the last step (t = T − 1) the carried gradients are
read as zero, so ``dh`` and ``dc`` need no clearing.

Around them, what the sequence layers do besides (the CPU side's NumPy one-liners):
On the CPU these are NumPy one-liners — a transpose, ``x + h``, ``W[ids]``, ``np.add.at`` — that
a numba device array does not offer, so each is a small grid-stride kernel here:

* ``swap01``: (a, b, c) → (b, a, c), between batch-major sequences and the recurrent layers'
  time-major layout;
* ``add_tiled``: out = a + b with ``b`` repeated along ``a`` (the residual skip, where both have
  one shape, and the positional code, one (T, d) table for every sample);
* ``embedding_forward`` / ``embedding_backward``: the table lookup and its gradient, which sums
  ∂L/∂out over the positions holding each token in a per-(token, column) loop — no atomics, and
  the positions in the order ``np.add.at`` takes them.
"""

from __future__ import annotations

import math

from numba import cuda

from engine.kernels.cuda.core import PAD, TILE, tile_product


@cuda.jit(device=True, inline="always")
def _sigmoid(a):
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@cuda.jit(cache=True)
def matmul(A, B, C, accumulate):
    """C = A B, or C += A B.   for r, c: C[r, c] (+)= Σ_k A[r, k] B[k, c]   (grid over C's tiles)"""
    sa = cuda.shared.array((TILE, PAD), dtype=A.dtype)
    sb = cuda.shared.array((TILE, PAD), dtype=A.dtype)
    rows, cols = C.shape
    acc = tile_product(A, False, B, False, rows, cols, A.shape[1], sa, sb)
    r = cuda.blockIdx.y * TILE + cuda.threadIdx.y
    c = cuda.blockIdx.x * TILE + cuda.threadIdx.x
    if r < rows and c < cols:
        C[r, c] = C[r, c] + acc if accumulate else acc


# --------------------------------------------------------------------------- Elman RNN


@cuda.jit(cache=True)
def rnn_step(xp, hp, hs, t):
    """for i, j: h_t = tanh(xp_t + hp);  hs[0] holds h_0, hs[t + 1] holds h_t."""
    _, n, H = xp.shape
    for e in range(cuda.grid(1), n * H, cuda.gridsize(1)):
        i, j = e // H, e % H
        hs[t + 1, i, j] = math.tanh(xp[t, i, j] + hp[i, j])


@cuda.jit(cache=True)
def rnn_step_backward(dhs, hs, dh, dxp, t):
    """for i, j: δ_t = (∂L/∂h_t + dh) ⊙ (1 − h_t²) → dxp[t]  (dh = δ_{t+1} W_hh, zero at T − 1)."""
    T, n, H = dxp.shape
    for e in range(cuda.grid(1), n * H, cuda.gridsize(1)):
        i, j = e // H, e % H
        h = hs[t + 1, i, j]
        carry = dh[i, j] if t + 1 < T else dh.dtype.type(0.0)
        dxp[t, i, j] = (dhs[t, i, j] + carry) * (1.0 - h * h)


# --------------------------------------------------------------------------- LSTM


@cuda.jit(cache=True)
def lstm_step(xp, hp, hs, cs, tcs, acts, t):
    """for b, j: gates (i, f, g, o) of xp_t + hp;  c_t = f⊙c_{t−1} + i⊙g;  h_t = o ⊙ tanh(c_t).

    ``acts`` keeps the activated gates and ``tcs[t]`` tanh(c_t) for the backward pass; cs[0]
    must hold c_0.
    """
    _, n, G = xp.shape
    H = G // 4
    for e in range(cuda.grid(1), n * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        i = _sigmoid(xp[t, b, j] + hp[b, j])
        f = _sigmoid(xp[t, b, H + j] + hp[b, H + j])
        g = math.tanh(xp[t, b, 2 * H + j] + hp[b, 2 * H + j])
        o = _sigmoid(xp[t, b, 3 * H + j] + hp[b, 3 * H + j])
        acts[t, b, j], acts[t, b, H + j] = i, f
        acts[t, b, 2 * H + j], acts[t, b, 3 * H + j] = g, o
        c = f * cs[t, b, j] + i * g
        tc = math.tanh(c)
        cs[t + 1, b, j] = c
        tcs[t, b, j] = tc
        hs[t + 1, b, j] = o * tc


@cuda.jit(cache=True)
def lstm_step_backward(dhs, cs, tcs, acts, dh, dc, dxp, t):
    """for b, j: the gate gradients of step t → dxp[t]; dc becomes ∂L/∂c_{t−1} (in place)."""
    T, n, G = dxp.shape
    H = G // 4
    for e in range(cuda.grid(1), n * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        i, f = acts[t, b, j], acts[t, b, H + j]
        g, o = acts[t, b, 2 * H + j], acts[t, b, 3 * H + j]
        tc = tcs[t, b, j]
        carry_h = dh[b, j] if t + 1 < T else dh.dtype.type(0.0)
        carry_c = dc[b, j] if t + 1 < T else dc.dtype.type(0.0)
        dht = dhs[t, b, j] + carry_h
        dct = carry_c + dht * o * (1.0 - tc * tc)
        dxp[t, b, j] = dct * g * i * (1.0 - i)
        dxp[t, b, H + j] = dct * cs[t, b, j] * f * (1.0 - f)
        dxp[t, b, 2 * H + j] = dct * i * (1.0 - g * g)
        dxp[t, b, 3 * H + j] = dht * tc * o * (1.0 - o)
        dc[b, j] = dct * f


# --------------------------------------------------------------------------- GRU


@cuda.jit(cache=True)
def gru_step(xp, hp, hs, acts, hn, t):
    """for b, j: r = σ(xp_r + hp_r), z = σ(xp_z + hp_z), n = tanh(xp_n + r ⊙ hp_n),

    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.  ``acts`` keeps r, z, n; ``hn[t]`` keeps hp_n = h W_hnᵀ + b_hn.
    """
    _, nb, G = xp.shape
    H = G // 3
    for e in range(cuda.grid(1), nb * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        r = _sigmoid(xp[t, b, j] + hp[b, j])
        z = _sigmoid(xp[t, b, H + j] + hp[b, H + j])
        hnj = hp[b, 2 * H + j]
        nn = math.tanh(xp[t, b, 2 * H + j] + r * hnj)
        acts[t, b, j], acts[t, b, H + j], acts[t, b, 2 * H + j] = r, z, nn
        hn[t, b, j] = hnj
        hs[t + 1, b, j] = (1.0 - z) * nn + z * hs[t, b, j]


@cuda.jit(cache=True)
def gru_step_backward(dhs, hs, acts, hn, dh, dxp, dhp, t):
    """for b, j: gate gradients of step t → dxp[t] and dhp[t] (the gradient of h W_hhᵀ + b_hh);

    dh becomes the skip part ∂L/∂h_t ⊙ z, to which the backend adds dhp[t] W_hh.
    """
    T, nb, G = dxp.shape
    H = G // 3
    for e in range(cuda.grid(1), nb * H, cuda.gridsize(1)):
        b, j = e // H, e % H
        r, z, nn = acts[t, b, j], acts[t, b, H + j], acts[t, b, 2 * H + j]
        dht = dhs[t, b, j] + (dh[b, j] if t + 1 < T else dh.dtype.type(0.0))
        dan = dht * (1.0 - z) * (1.0 - nn * nn)
        dar = dan * hn[t, b, j] * r * (1.0 - r)
        daz = dht * (hs[t, b, j] - nn) * z * (1.0 - z)
        dxp[t, b, j], dxp[t, b, H + j], dxp[t, b, 2 * H + j] = dar, daz, dan
        dhp[t, b, j], dhp[t, b, H + j], dhp[t, b, 2 * H + j] = dar, daz, dan * r
        dh[b, j] = dht * z


# --------------------------------------------------------------------------- around the cells


@cuda.jit(cache=True)
def swap01(x, out):
    """for i, j, k: out[j, i, k] = x[i, j, k]."""
    _, b, c = x.shape
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        k, j, i = e % c, (e // c) % b, e // (c * b)
        out[j, i, k] = x[i, j, k]


@cuda.jit(cache=True)
def add_tiled(a, b, out):
    """for e: out[e] = a[e] + b[e mod len(b)]  (flat arrays; len(b) divides len(a))."""
    m = b.size
    for e in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        out[e] = a[e] + b[e % m]


@cuda.jit(cache=True)
def embedding_forward(W, ids, out):
    """for p, j: out[p, j] = W[ids[p], j]."""
    d = W.shape[1]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, j = e // d, e % d
        out[p, j] = W[ids[p], j]


@cuda.jit(cache=True)
def embedding_backward(ids, grad_out, grad_W):
    """for v, j: ∂L/∂W[v, j] = Σ over the positions p with ids[p] = v of ∂L/∂out[p, j]."""
    d = grad_W.shape[1]
    for e in range(cuda.grid(1), grad_W.size, cuda.gridsize(1)):
        v, j = e // d, e % d
        acc = grad_W.dtype.type(0.0)
        for p in range(ids.shape[0]):
            if ids[p] == v:
                acc += grad_out[p, j]
        grad_W[v, j] = acc
