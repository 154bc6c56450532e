"""Numba CPU kernels of the recurrent layers: RNN (tanh), LSTM and GRU, forward and through time.

Gate orders and formulas are PyTorch's. Sequences are laid out time-major inside the kernels —
``(T, n, ·)`` — so each step's batch is one contiguous block for the matrix products. The input
projections ``xp[t] = x_t W_ihᵀ + b_ih`` of every step are one matrix product done by the caller
before the loop; the loop adds ``h_{t−1} W_hhᵀ + b_hh`` (one product per step: the only work
that must wait for the step before) and applies the gates. The backward kernels run the
recurrence back through time and return ``dxp``, the gradient of the gates' pre-activations at
every step; the caller then gets ``∂L/∂W_ih``, ``∂L/∂W_hh``, the biases and ``∂L/∂x`` from it
with one large matrix product each, instead of one small product per step.

``fast`` (float32 only): tanh by the rational function of ``engine.activations.tanh_f32`` and
σ(a) = ½ + ½·tanh(a/2), plain arithmetic that LLVM vectorises; a library call per element is
what made these loops slow. float64 keeps ``math.tanh`` and ``math.exp``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.activations import tanh_f32
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu.blas import product
from engine.kernels.cpu.calls import Site, call_at, check, item, part, view, whole
from engine.kernels.cpu.tiles import pack, pack_t, packed_size, share, suits, tile_product

HALF = np.float32(0.5)
ONE = np.float32(1.0)  # float32 constants keep float32 arithmetic float32 (and vectorised)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sigmoid(a, fast):
    if fast:
        return HALF + HALF * tanh_f32(HALF * a)
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _tanh(a, fast):
    if fast:
        return tanh_f32(a)
    return math.tanh(a)


@njit(cache=True, nogil=True, inline="always")
def _pack(W_hh, packed, transposed):
    """Whether the steps' products run in tiles (``engine.kernels.cpu.tiles``), where BLAS would
    copy W_hh into its own layout at every step: if so, W_hhᵀ (h W_hhᵀ, forward) or W_hh
    (δ W_hh, back) is packed into ``packed`` here, once for all the steps."""
    G, H = W_hh.shape
    k, n = (H, G) if transposed else (G, H)
    tiled = suits(k, n, W_hh.itemsize) and packed.size >= packed_size(k, n, W_hh.itemsize)
    if tiled and transposed:
        pack_t(W_hh, packed)
    elif tiled:
        pack(W_hh, packed)
    return tiled


@njit(cache=True, nogil=True, inline="always")
def _times_w_t(h, W_hh, packed, tiled, out):
    """out = h W_hhᵀ, in tiles from ``packed`` or by BLAS."""
    if tiled:
        tile_product(h, packed, out)
    else:
        product(h, False, W_hh, True, out)


@njit(cache=True, nogil=True, inline="always")
def _times_w(d, W_hh, packed, tiled, out):
    """out = d W_hh, in tiles from ``packed`` or by BLAS."""
    if tiled:
        tile_product(d, packed, out)
    else:
        product(d, False, W_hh, False, out)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _rnn_cells(xp, hp, b_hh, hs, t, fast):
    _, n, H = xp.shape
    for i in range(n):
        for j in range(H):
            hs[t + 1, i, j] = _tanh(xp[t, i, j] + hp[i, j] + b_hh[j], fast)


@njit(cache=True, nogil=True, error_model="numpy")
def rnn_forward(xp, W_hh, b_hh, hs, hp, fast, packed):
    """h_t = tanh(xp_t + h_{t−1} W_hhᵀ + b_hh);  hs[0] holds h_0, hs[t + 1] holds h_t.
    ``packed``: room for ``_pack``."""
    tiled = _pack(W_hh, packed, True)
    for t in range(xp.shape[0]):
        _times_w_t(hs[t], W_hh, packed, tiled, hp)
        if fast:
            _rnn_cells(xp, hp, b_hh, hs, t, True)
        else:
            _rnn_cells(xp, hp, b_hh, hs, t, False)


@njit(cache=True, nogil=True, error_model="numpy")
def rnn_backward(dhs, W_hh, hs, dxp, dh, packed):
    """Backprop through time: δ_t = (∂L/∂h_t + δ_{t+1} W_hh) ⊙ (1 − h_t²), into ``dxp[t]``.

    ``dhs[t]`` is ∂L/∂h_{t+1} from above; ``dh`` ends as ∂L/∂h_0.
    """
    T, n, H = dxp.shape
    tiled = _pack(W_hh, packed, False)
    dh[:] = 0.0
    for t in range(T - 1, -1, -1):
        up, h, d = dhs[t], hs[t + 1], dxp[t]
        for i in range(n):
            for j in range(H):
                d[i, j] = (up[i, j] + dh[i, j]) * (ONE - h[i, j] * h[i, j])
        _times_w(d, W_hh, packed, tiled, dh)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _lstm_cells(xp, hp, b_hh, hs, cs, tcs, acts, t, fast):
    _, n, G = xp.shape
    H = G // 4
    for b in range(n):
        a, pre, act = hp[b], xp[t, b], acts[t, b]  # one sample's rows: short, simple loops
        for k in range(G):
            a[k] += pre[k] + b_hh[k]
        # each gate a slice of its own, every loop from 0: an index with an offset (H + j)
        # kept the check for negative indices in the loop, and the loop unvectorised
        i, f, g, o = act[:H], act[H : 2 * H], act[2 * H : 3 * H], act[3 * H :]
        a_if, a_g, a_o = a[: 2 * H], a[2 * H : 3 * H], a[3 * H :]
        act_if = act[: 2 * H]
        for k in range(2 * H):
            act_if[k] = _sigmoid(a_if[k], fast)
        for k in range(H):
            g[k] = _tanh(a_g[k], fast)
        for k in range(H):
            o[k] = _sigmoid(a_o[k], fast)
        c_prev, c, tc, h = cs[t, b], cs[t + 1, b], tcs[t, b], hs[t + 1, b]
        for j in range(H):
            c[j] = f[j] * c_prev[j] + i[j] * g[j]
        for j in range(H):
            tc[j] = _tanh(c[j], fast)
        for j in range(H):
            h[j] = o[j] * tc[j]


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_forward(xp, W_hh, b_hh, hs, cs, tcs, acts, hp, fast, packed):
    """LSTM step, gates (i, f, g, o) as PyTorch orders them:

    i, f, o = σ(·), g = tanh(·) of xp_t + h_{t−1}W_hhᵀ + b_hh;  c_t = f⊙c_{t−1} + i⊙g;
    h_t = o ⊙ tanh(c_t). ``acts`` keeps the four activated gates and ``tcs`` tanh(c_t) for the
    backward pass; ``packed``: room for ``_pack``.
    """
    tiled = _pack(W_hh, packed, True)
    for t in range(xp.shape[0]):
        _times_w_t(hs[t], W_hh, packed, tiled, hp)
        if fast:
            _lstm_cells(xp, hp, b_hh, hs, cs, tcs, acts, t, True)
        else:
            _lstm_cells(xp, hp, b_hh, hs, cs, tcs, acts, t, False)


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_backward(dhs, W_hh, cs, tcs, acts, dxp, dh, dc, packed):
    """Backprop through time of ``lstm_forward``; dh, dc end as ∂L/∂h_0 and ∂L/∂c_0."""
    T, n, G = dxp.shape
    H = G // 4
    tiled = _pack(W_hh, packed, False)
    dh[:] = 0.0
    dc[:] = 0.0
    for t in range(T - 1, -1, -1):
        act, d, tc, c_prev, up = acts[t], dxp[t], tcs[t], cs[t], dhs[t]
        for b in range(n):  # gates as slices, as in ``_lstm_cells``
            a_b, d_b = act[b], d[b]
            a_i, a_f, a_g, a_o = a_b[:H], a_b[H : 2 * H], a_b[2 * H : 3 * H], a_b[3 * H :]
            d_i, d_f, d_g, d_o = d_b[:H], d_b[H : 2 * H], d_b[2 * H : 3 * H], d_b[3 * H :]
            dh_b, up_b, dc_b, tc_b, cp_b = dh[b], up[b], dc[b], tc[b], c_prev[b]
            for j in range(H):
                dht = dh_b[j] + up_b[j]  # ∂L/∂h_t: from above and from step t + 1
                i, f, g, o = a_i[j], a_f[j], a_g[j], a_o[j]
                tcj = tc_b[j]
                dct = dc_b[j] + dht * o * (ONE - tcj * tcj)
                d_i[j] = dct * g * i * (ONE - i)
                d_f[j] = dct * cp_b[j] * f * (ONE - f)
                d_g[j] = dct * i * (ONE - g * g)
                d_o[j] = dht * tcj * o * (ONE - o)
                dc_b[j] = dct * f
        _times_w(d, W_hh, packed, tiled, dh)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _gru_cells(xp, hp, b_hh, hs, acts, hn, t, fast):
    _, nb, G = xp.shape
    H = G // 3
    b_r, b_z, b_n = b_hh[:H], b_hh[H : 2 * H], b_hh[2 * H :]
    for b in range(nb):  # gates as slices, every loop from 0 (see ``_lstm_cells``)
        x_b, p_b, a_b = xp[t, b], hp[b], acts[t, b]
        x_r, x_z, x_n = x_b[:H], x_b[H : 2 * H], x_b[2 * H :]
        p_r, p_z, p_n = p_b[:H], p_b[H : 2 * H], p_b[2 * H :]
        a_r, a_z, a_n = a_b[:H], a_b[H : 2 * H], a_b[2 * H :]
        hn_b, h_prev, h = hn[t, b], hs[t, b], hs[t + 1, b]
        for j in range(H):
            r = _sigmoid(x_r[j] + p_r[j] + b_r[j], fast)
            z = _sigmoid(x_z[j] + p_z[j] + b_z[j], fast)
            hnj = p_n[j] + b_n[j]
            nn = _tanh(x_n[j] + r * hnj, fast)
            a_r[j], a_z[j], a_n[j] = r, z, nn
            hn_b[j] = hnj
            h[j] = (ONE - z) * nn + z * h_prev[j]


@njit(cache=True, nogil=True, error_model="numpy")
def gru_forward(xp, W_hh, b_hh, hs, acts, hn, hp, fast, packed):
    """GRU step, gates (r, z, n) as PyTorch orders them:

    r = σ(xp_r + h W_hrᵀ + b_hr), z = σ(xp_z + h W_hzᵀ + b_hz),
    n = tanh(xp_n + r ⊙ (h W_hnᵀ + b_hn)), h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
    ``acts`` keeps r, z, n; ``hn`` keeps h W_hnᵀ + b_hn; ``packed``: room for ``_pack``.
    """
    tiled = _pack(W_hh, packed, True)
    for t in range(xp.shape[0]):
        _times_w_t(hs[t], W_hh, packed, tiled, hp)
        if fast:
            _gru_cells(xp, hp, b_hh, hs, acts, hn, t, True)
        else:
            _gru_cells(xp, hp, b_hh, hs, acts, hn, t, False)


@njit(cache=True, nogil=True, error_model="numpy")
def gru_backward(dhs, W_hh, hs, acts, hn, dxp, dhp, dh, dprev, packed):
    """Backprop through time of ``gru_forward``.

    ``dxp[t]`` gets the gradient of the input projections, ``dhp[t]`` that of h_{t−1} W_hhᵀ + b_hh
    (they differ in the n gate, where r multiplies the hidden part); ``dh`` ends as ∂L/∂h_0.
    """
    T, nb, G = dxp.shape
    H = G // 3
    tiled = _pack(W_hh, packed, False)
    dh[:] = 0.0
    for t in range(T - 1, -1, -1):
        act, h, hnt, up, dx, dp = acts[t], hs[t], hn[t], dhs[t], dxp[t], dhp[t]
        for b in range(nb):  # gates as slices (see ``_lstm_cells``)
            a_b, x_b, p_b = act[b], dx[b], dp[b]
            a_r, a_z, a_n = a_b[:H], a_b[H : 2 * H], a_b[2 * H :]
            x_r, x_z, x_n = x_b[:H], x_b[H : 2 * H], x_b[2 * H :]
            p_r, p_z, p_n = p_b[:H], p_b[H : 2 * H], p_b[2 * H :]
            up_b, dh_b, hn_b, h_b = up[b], dh[b], hnt[b], h[b]
            for j in range(H):
                r, z, nn = a_r[j], a_z[j], a_n[j]
                dht = up_b[j] + dh_b[j]
                dan = dht * (ONE - z) * (ONE - nn * nn)
                dar = dan * hn_b[j] * r * (ONE - r)
                daz = dht * (h_b[j] - nn) * z * (ONE - z)
                x_r[j], x_z[j], x_n[j] = dar, daz, dan
                p_r[j], p_z[j], p_n[j] = dar, daz, dan * r
                dh_b[j] = dht * z
        _times_w(dhp[t], W_hh, packed, tiled, dprev)
        dh += dprev


# --------------------------------------------------------------------------- batch chunks
# Samples of a batch never meet in a recurrent layer, so the batch splits into C chunks, one per
# thread, each running the whole layer — input projection, recurrence, weight gradients — on its
# own rows. The arrays are chunk-major, ``(C, T, nc, ·)``: every chunk is one contiguous block,
# time-major inside, so each thread's products are as large as they can be (the weight gradients
# take all T·nc rows of a chunk at once). Each thread calls BLAS on one thread (the caller sees to
# it); the C partial weight gradients are summed at the end (``cpu_chunks.sum_chunks``).


@njit(cache=True, nogil=True, error_model="numpy")
def _chunk_grads(xt, hs, dxp, dhp, W_ih, W_hh, gW_ih, gb_ih, gW_hh, gb_hh, gx, need_gx):
    """One chunk's ∂L/∂W_hh = Σ_t δh_tᵀ h_{t−1}, ∂L/∂W_ih = Σ_t δx_tᵀ x_t, biases and ∂L/∂x.
    Where δh is δx (RNN, LSTM: the same array) the two bias gradients are one sum, made once."""
    T, nc, G = dxp.shape
    rows, H, D = T * nc, hs.shape[2], xt.shape[2]
    gxr = gx.reshape(rows, D)
    cpu.dense_backward(
        hs[:T].reshape(rows, H), W_hh, dhp.reshape(rows, G), gW_hh, gb_hh, gxr, False
    )
    x, delta = xt.reshape(rows, D), dxp.reshape(rows, G)
    if dxp.ctypes.data != dhp.ctypes.data:
        cpu.dense_backward(x, W_ih, delta, gW_ih, gb_ih, gxr, need_gx)
        return
    product(delta, True, x, False, gW_ih)
    for j in range(G):
        gb_ih[j] = gb_hh[j]
    if need_gx:
        product(delta, False, W_ih, False, gxr)


@njit(cache=True, nogil=True, error_model="numpy")
def project(x, W_ih, b_ih, xp, packed):
    """xp = x W_ihᵀ + b_ih for rows x (every step of a chunk at once): in tiles where W_ih suits
    them (``_pack``, room in ``packed``), else by BLAS (``cpu.dense_forward``). With a
    few input features (k = 32) BLAS spends much of the product copying."""
    if _pack(W_ih, packed, True):
        tile_product(x, packed, xp)
        for i in range(xp.shape[0]):
            row = xp[i]
            for j in range(row.size):
                row[j] += b_ih[j]
    else:
        cpu.dense_forward(x, W_ih, b_ih, xp)


# The drivers call the serial kernels by address (``engine.kernels.cpu.calls``): linked in, a
# GRU's backward driver took 2.4 s to compile beside its kernels, and its forward one 1.8 s.
# ``FORWARD_CHUNKS[cell]`` and ``BACKWARD_CHUNKS[cell]`` call them with the right addresses: the
# input projection's (``project``) or the weight gradients' (``_chunk_grads``) first,
# then the cell's. Four integers and at most 15 arguments a call: 19 items, the most for which
# Python reuses a call's argument tuple (``calls.Site``). The LSTM's and GRU's backward drivers
# are at 19, so a further argument there must replace one.


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def rnn_forward_chunks(proj_at, proj_key, cell_at, cell_key, xt, W_ih, b_ih, W_hh, b_hh, xp, hs,
                       hp, fast, packed):  # fmt: skip
    """``rnn_forward`` with its input projection, one chunk of the batch per thread; each takes
    its share of ``packed`` for its tiles."""
    missed = 0
    for c in prange(xt.shape[0]):
        T, nc, D = xt[c].shape
        room = share(packed, c, xt.shape[0])
        m = call_at(proj_at, proj_key, (xt[c].reshape(T * nc, D), W_ih, b_ih,
                                        xp[c].reshape(T * nc, -1), room))  # fmt: skip
        m += call_at(cell_at, cell_key, (xp[c], W_hh, b_hh, hs[c], hp[c], fast,
                                         room))  # fmt: skip
        missed += m
    check(missed)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def rnn_backward_chunks(grads_at, grads_key, cell_at, cell_key, dhs, xt, W_ih, W_hh, hs, dxp, dh,
                        parts, gx, need_gx, packed):  # fmt: skip
    """``rnn_backward`` and the chunk's weight gradients (into ``parts``), one chunk per thread."""
    missed = 0
    for c in prange(xt.shape[0]):
        room = share(packed, c, xt.shape[0])
        m = call_at(cell_at, cell_key, (dhs[c], W_hh, hs[c], dxp[c], dh[c], room))
        g_ih, gb_ih, g_hh, gb_hh = parts[0][c], parts[1][c], parts[2][c], parts[3][c]
        m += call_at(grads_at, grads_key, (xt[c], hs[c], dxp[c], dxp[c], W_ih, W_hh, g_ih, gb_ih,
                                           g_hh, gb_hh, gx[c], need_gx))  # fmt: skip
        missed += m
    check(missed)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def lstm_forward_chunks(proj_at, proj_key, cell_at, cell_key, xt, W_ih, b_ih, W_hh, b_hh, xp, hs,
                        cs, tcs, acts, hp, fast, packed):  # fmt: skip
    """``lstm_forward`` with its input projection, one chunk of the batch per thread."""
    missed = 0
    for c in prange(xt.shape[0]):
        T, nc, D = xt[c].shape
        room = share(packed, c, xt.shape[0])
        m = call_at(proj_at, proj_key, (xt[c].reshape(T * nc, D), W_ih, b_ih,
                                        xp[c].reshape(T * nc, -1), room))  # fmt: skip
        m += call_at(cell_at, cell_key, (xp[c], W_hh, b_hh, hs[c], cs[c], tcs[c], acts[c], hp[c],
                                         fast, room))  # fmt: skip
        missed += m
    check(missed)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def lstm_backward_chunks(grads_at, grads_key, cell_at, cell_key, dhs, xt, W_ih, W_hh, hs, cs, tcs,
                         acts, dxp, dh, dc, parts, gx, need_gx, packed):  # fmt: skip
    """``lstm_backward`` and the chunk's weight gradients (into ``parts``), one chunk per thread."""
    missed = 0
    for c in prange(xt.shape[0]):
        room = share(packed, c, xt.shape[0])
        m = call_at(cell_at, cell_key, (dhs[c], W_hh, cs[c], tcs[c], acts[c], dxp[c], dh[c],
                                        dc[c], room))  # fmt: skip
        g_ih, gb_ih, g_hh, gb_hh = parts[0][c], parts[1][c], parts[2][c], parts[3][c]
        m += call_at(grads_at, grads_key, (xt[c], hs[c], dxp[c], dxp[c], W_ih, W_hh, g_ih, gb_ih,
                                           g_hh, gb_hh, gx[c], need_gx))  # fmt: skip
        missed += m
    check(missed)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def gru_forward_chunks(proj_at, proj_key, cell_at, cell_key, xt, W_ih, b_ih, W_hh, b_hh, xp, hs,
                       acts, hn, hp, fast, packed):  # fmt: skip
    """``gru_forward`` with its input projection, one chunk of the batch per thread."""
    missed = 0
    for c in prange(xt.shape[0]):
        T, nc, D = xt[c].shape
        room = share(packed, c, xt.shape[0])
        m = call_at(proj_at, proj_key, (xt[c].reshape(T * nc, D), W_ih, b_ih,
                                        xp[c].reshape(T * nc, -1), room))  # fmt: skip
        m += call_at(cell_at, cell_key, (xp[c], W_hh, b_hh, hs[c], acts[c], hn[c], hp[c], fast,
                                         room))  # fmt: skip
        missed += m
    check(missed)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def gru_backward_chunks(grads_at, grads_key, cell_at, cell_key, dhs, xt, W_ih, W_hh, hs, acts, hn,
                        dxp, dhp, dh, dprev, parts, gx, need_gx, packed):  # fmt: skip
    """``gru_backward`` and the chunk's weight gradients (into ``parts``), one chunk per thread."""
    missed = 0
    for c in prange(xt.shape[0]):
        room = share(packed, c, xt.shape[0])
        m = call_at(cell_at, cell_key, (dhs[c], W_hh, hs[c], acts[c], hn[c], dxp[c], dhp[c],
                                        dh[c], dprev[c], room))  # fmt: skip
        g_ih, gb_ih, g_hh, gb_hh = parts[0][c], parts[1][c], parts[2][c], parts[3][c]
        m += call_at(grads_at, grads_key, (xt[c], hs[c], dxp[c], dhp[c], W_ih, W_hh, g_ih, gb_ih,
                                           g_hh, gb_hh, gx[c], need_gx))  # fmt: skip
        missed += m
    check(missed)


def _projection_types(xt, W_ih, b_ih, xp, packed):
    """The types a forward driver passes to ``project`` (rows of its chunk)."""
    return (view(xt, 2), whole(W_ih), whole(b_ih), view(xp, 2), part(packed))


def _grads_types(xt, hs, dxp, dhp, W_ih, W_hh, parts, gx, need_gx):
    """The types a backward driver passes to ``_chunk_grads``."""
    return (item(xt), item(hs), item(dxp), item(dhp), whole(W_ih), whole(W_hh),
            *(item(p) for p in parts), item(gx), whole(need_gx))  # fmt: skip


def _rnn_forward_types(xt, W_ih, b_ih, W_hh, b_hh, xp, hs, hp, fast, packed):
    cell = (item(xp), whole(W_hh), whole(b_hh), item(hs), item(hp), whole(fast), part(packed))
    return _projection_types(xt, W_ih, b_ih, xp, packed), cell


def _lstm_forward_types(xt, W_ih, b_ih, W_hh, b_hh, xp, hs, cs, tcs, acts, hp, fast, packed):
    steps = (item(hs), item(cs), item(tcs), item(acts), item(hp), whole(fast), part(packed))
    cell = (item(xp), whole(W_hh), whole(b_hh), *steps)
    return _projection_types(xt, W_ih, b_ih, xp, packed), cell


def _gru_forward_types(xt, W_ih, b_ih, W_hh, b_hh, xp, hs, acts, hn, hp, fast, packed):
    steps = (item(hs), item(acts), item(hn), item(hp), whole(fast), part(packed))
    cell = (item(xp), whole(W_hh), whole(b_hh), *steps)
    return _projection_types(xt, W_ih, b_ih, xp, packed), cell


def _rnn_backward_types(dhs, xt, W_ih, W_hh, hs, dxp, dh, parts, gx, need_gx, packed):
    grads = _grads_types(xt, hs, dxp, dxp, W_ih, W_hh, parts, gx, need_gx)
    return grads, (item(dhs), whole(W_hh), item(hs), item(dxp), item(dh), part(packed))


def _lstm_backward_types(dhs, xt, W_ih, W_hh, hs, cs, tcs, acts, dxp, dh, dc, parts, gx, need_gx,
                        packed):  # fmt: skip
    grads = _grads_types(xt, hs, dxp, dxp, W_ih, W_hh, parts, gx, need_gx)
    steps = (item(cs), item(tcs), item(acts), item(dxp), item(dh), item(dc), part(packed))
    return grads, (item(dhs), whole(W_hh), *steps)


def _gru_backward_types(dhs, xt, W_ih, W_hh, hs, acts, hn, dxp, dhp, dh, dprev, parts, gx,
                        need_gx, packed):  # fmt: skip
    grads = _grads_types(xt, hs, dxp, dhp, W_ih, W_hh, parts, gx, need_gx)
    steps = (item(hs), item(acts), item(hn), item(dxp), item(dhp), item(dh), item(dprev),
             part(packed))  # fmt: skip
    return grads, (item(dhs), whole(W_hh), *steps)


FORWARD_CHUNKS = {
    "rnn": Site(rnn_forward_chunks, (project, rnn_forward), _rnn_forward_types),
    "lstm": Site(lstm_forward_chunks, (project, lstm_forward), _lstm_forward_types),
    "gru": Site(gru_forward_chunks, (project, gru_forward), _gru_forward_types),
}
BACKWARD_CHUNKS = {
    "rnn": Site(rnn_backward_chunks, (_chunk_grads, rnn_backward), _rnn_backward_types),
    "lstm": Site(lstm_backward_chunks, (_chunk_grads, lstm_backward), _lstm_backward_types),
    "gru": Site(gru_backward_chunks, (_chunk_grads, gru_backward), _gru_backward_types),
}


# --------------------------------------------------------------------------- embedding, positions


@njit(cache=True, nogil=True, error_model="numpy")
def add_tiled(a, b, out):
    """out = a + b on flat arrays, ``b`` repeated along ``a`` (a position code added to every
    sample of a batch). NumPy's broadcasting ``np.add`` fills a 32 KiB buffer for this."""
    m = b.size
    for r in range(a.size // m):
        o = r * m
        for j in range(m):
            out[o + j] = a[o + j] + b[j]


@njit(cache=True, nogil=True, error_model="numpy")
def embedding_backward(ids, grad_out, grad_W):
    """grad_W[v] = Σ over the positions p with ids[p] = v of grad_out[p]: one pass over the
    positions, each adding its row to its token's (``np.add.at`` took 150–250 times as long
    on 2,048 positions of width 64)."""
    grad_W[:] = 0.0
    d = grad_W.shape[1]
    for p in range(ids.shape[0]):
        row, g = grad_W[ids[p]], grad_out[p]
        for j in range(d):
            row[j] += g[j]
