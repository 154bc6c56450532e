"""The CUDA kernels of the image, recurrent and attention layers against NumPy references
(``sim_refs.py``), in the CUDA simulator, on tiny shapes, in float64.

Run with ``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported (``test_cuda.py`` runs it in a
subprocess beside ``cuda_sim_cases.py``): prints one JSON line ``{"kernel": largest difference |
"error: ..."}``. The simulator runs every thread in Python, so launches are small (a block or two
of a few dozen threads; the grid-stride loops cover the rest). The recurrent cases run the time
loop as the backend does, with the per-step matrix products done here in NumPy; ``matmul``, the
tiled product the backend launches for them, has its own case. Then the CUDA backend's layer
operations (``engine.backends.cuda_layers``: its launches, workspaces and time loops) against the
same references.
"""

from __future__ import annotations

import os
import sys

import numpy as np

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"

from numba import cuda  # noqa: E402
from sim_common import Checks, diff  # noqa: E402
from sim_refs import (  # noqa: E402
    attention_ref,
    col2im_ref,
    im2col_ref,
    norm_backward_ref,
    pool_ref,
    recurrent_ref,
)

from engine.kernels.cuda import attention as ka  # noqa: E402
from engine.kernels.cuda import conv as kc  # noqa: E402
from engine.kernels.cuda import norm as kn  # noqa: E402
from engine.kernels.cuda import pool as kp  # noqa: E402
from engine.kernels.cuda import sequence as kr  # noqa: E402
from engine.kernels.cuda import sequence as ks  # noqa: E402

RNG = np.random.default_rng(0)
CASES = Checks()
case = CASES.case
L = (1, 32)  # launch of the grid-stride kernels: one block of 32 threads


def r(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape)


def dev(a: np.ndarray):
    return cuda.to_device(np.ascontiguousarray(a))


def blank(a: np.ndarray):
    """A device array like ``a`` holding NaN (or −1), so an element left unwritten shows."""
    return cuda.to_device(np.full(a.shape, np.nan if a.dtype.kind == "f" else -1, a.dtype))


@case("im2col", "col2im", "rows_to_nchw", "nchw_to_rows")
def _conv() -> float:
    worst = 0.0
    for stride, pad in ((1, 1), (2, 1), (2, 0)):
        x = r(2, 2, 5, 4)
        cols = im2col_ref(x, 3, stride, pad)
        oh, ow = (5 + 2 * pad - 3) // stride + 1, (4 + 2 * pad - 3) // stride + 1
        zmat = r(cols.shape[0], 3)  # 3 output channels
        z = zmat.reshape(2, oh, ow, 3).transpose(0, 3, 1, 2)
        dcols = r(*cols.shape)
        got = [blank(a) for a in (cols, z, zmat, x)]
        kc.im2col[L](dev(x), 3, 3, stride, pad, got[0])
        kc.rows_to_nchw[L](dev(zmat), got[1])
        kc.nchw_to_rows[L](dev(z), got[2])
        kc.col2im[L](dev(dcols), 3, 3, stride, pad, got[3])
        want = (cols, z, zmat, col2im_ref(dcols, x.shape, 3, stride, pad))
        worst = max(worst, *(diff(a, o) for a, o in zip(want, got)))
    return worst


@case("maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward")
def _pool() -> float:
    worst = 0.0
    for k, stride in ((2, 2), (3, 1)):
        x = r(2, 2, 5, 5)
        o = (5 - k) // stride + 1
        g = r(2, 2, o, o)
        want = pool_ref(x, g, k, stride)
        got = [blank(a) for a in want]
        kp.maxpool2d_forward[L](dev(x), k, stride, got[0], got[1])
        kp.maxpool2d_backward[L](dev(g), got[1], k, stride, got[2])
        kp.avgpool2d_forward[L](dev(x), k, stride, got[3])
        kp.avgpool2d_backward[L](dev(g), k, stride, got[4])
        worst = max(worst, *(diff(a, b) for a, b in zip(want, got)))
    return worst


@case("batchnorm_forward", "batchnorm_backward")
def _batchnorm() -> float:
    x, gamma, beta, dy = r(3, 2, 7) * 2 + 1, r(2), r(2), r(3, 2, 7)
    m = 3 * 7
    worst = 0.0
    for training in (True, False):
        stats = [RNG.random(2), RNG.random(2) + 0.5]
        if training:
            mu, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
            new = [0.9 * stats[0] + 0.1 * mu, 0.9 * stats[1] + 0.1 * var * m / (m - 1)]
        else:
            mu, var, new = stats[0], stats[1], stats
        inv_std = 1.0 / np.sqrt(var + 1e-5)
        xhat = (x - mu[:, None]) * inv_std[:, None]
        out = gamma[:, None] * xhat + beta[:, None]
        dx = norm_backward_ref(dy, xhat, gamma[:, None], inv_std[:, None], (0, 2))
        gg, gb = (dy * xhat).sum(axis=(0, 2)), dy.sum(axis=(0, 2))
        got = [dev(s) for s in stats] + [blank(a) for a in (xhat, out, inv_std, dx, gg, gb)]
        kn.batchnorm_forward[1, 16](dev(x), dev(gamma), dev(beta), 1e-5, training, 0.1, *got[:5])
        kn.batchnorm_backward[2, 8](dev(dy), got[2], dev(gamma), got[4], *got[5:])
        want = (*new, xhat, out, inv_std, dx, gg, gb)
        worst = max(worst, *(diff(a, b) for a, b in zip(want, got)))
    return worst


@case("layernorm_forward", "layernorm_backward")
def _layernorm() -> float:
    x, gamma, beta, dy = r(5, 6) * 2 + 1, r(6), r(6), r(5, 6)
    inv_std = 1.0 / np.sqrt(x.var(axis=1) + 1e-5)
    xhat = (x - x.mean(axis=1, keepdims=True)) * inv_std[:, None]
    out = gamma * xhat + beta
    dx = norm_backward_ref(dy, xhat, gamma, inv_std[:, None], 1)
    want = (xhat, out, inv_std, dx, (dy * xhat).sum(axis=0), dy.sum(axis=0))
    got = [blank(a) for a in want]
    kn.layernorm_forward[1, 8](dev(x), dev(gamma), dev(beta), 1e-5, *got[:3])
    kn.layernorm_backward[1, 8](dev(dy), got[0], dev(gamma), got[2], *got[3:])
    return max(diff(a, b) for a, b in zip(want, got))


# --------------------------------------------------------------------------- recurrent layers


@case("matmul")
def _matmul() -> float:
    A, B, C = r(5, 19), r(19, 18), r(5, 18)
    got = dev(C)
    kr.matmul[(2, 1), (kr.TILE, kr.TILE)](dev(A), dev(B), got, True)
    worst = diff(C + A @ B, got)
    kr.matmul[(2, 1), (kr.TILE, kr.TILE)](dev(A), dev(B), got, False)
    return max(worst, diff(A @ B, got))


def _recurrent(cell: str, gates: int) -> float:
    """One sequence through the step kernels, as the backend loops over time, against NumPy."""
    T, n, H = 3, 2, 3
    G = gates * H
    xp, W_hh, b_hh, dhs = r(T, n, G), r(G, H) * 0.5, r(G), r(T, n, H)
    hs, cs = np.zeros((T + 1, n, H)), np.zeros((T + 1, n, H))
    hs[0], cs[0] = r(n, H), r(n, H)
    want = recurrent_ref(cell, xp, W_hh, b_hh, hs[0], cs[0], dhs)
    d_hs, d_cs, d_xp, d_dhs = dev(hs), dev(cs), dev(xp), dev(dhs)
    d_tcs, d_acts, d_hn = blank(dhs), blank(xp), blank(dhs)
    for t in range(T):  # the backend: hp = h_{t−1} W_hhᵀ + b_hh (a tiled product), then the cells
        d_hp = dev(d_hs.copy_to_host()[t] @ W_hh.T + b_hh)
        if cell == "rnn":
            kr.rnn_step[L](d_xp, d_hp, d_hs, t)
        elif cell == "lstm":
            kr.lstm_step[L](d_xp, d_hp, d_hs, d_cs, d_tcs, d_acts, t)
        else:
            kr.gru_step[L](d_xp, d_hp, d_hs, d_acts, d_hn, t)
    d_dxp, d_dhp = blank(xp), blank(xp)
    d_dh, d_dc = blank(hs[0]), blank(hs[0])  # NaN: the last step must not read them
    for t in range(T - 1, -1, -1):  # the backend: the cells, then dh (+)= dxp[t] W_hh
        if cell == "rnn":
            kr.rnn_step_backward[L](d_dhs, d_hs, d_dh, d_dxp, t)
        elif cell == "lstm":
            kr.lstm_step_backward[L](d_dhs, d_cs, d_tcs, d_acts, d_dh, d_dc, d_dxp, t)
        else:
            kr.gru_step_backward[L](d_dhs, d_hs, d_acts, d_hn, d_dh, d_dxp, d_dhp, t)
        src = d_dhp if cell == "gru" else d_dxp
        carry = d_dh.copy_to_host() if cell == "gru" else 0.0
        d_dh = dev(carry + src.copy_to_host()[t] @ W_hh)
    worst = max(diff(want["hs"], d_hs), diff(want["dxp"], d_dxp), diff(want["dh"], d_dh))
    if cell == "lstm":
        worst = max(worst, diff(want["cs"], d_cs), diff(np.tanh(want["cs"][1:]), d_tcs))
    if cell == "gru":
        worst = max(worst, diff(want["dhp"], d_dhp))
    return worst


CASES["rnn_step"] = CASES["rnn_step_backward"] = lambda: _recurrent("rnn", 1)
CASES["lstm_step"] = CASES["lstm_step_backward"] = lambda: _recurrent("lstm", 4)
CASES["gru_step"] = CASES["gru_step_backward"] = lambda: _recurrent("gru", 3)


# --------------------------------------------------------------------------- attention


@case(
    "attention_scores",
    "attention_softmax",
    "attention_output",
    "attention_grad_values",
    "attention_grad_weights",
    "attention_softmax_backward",
    "attention_grad_qk",
)
def _attention() -> float:
    n, heads, T, d = 2, 2, 3, 4
    worst = 0.0
    for causal in (False, True):
        qkv, dout = r(n, T, 3 * d), r(n, T, d)
        want = attention_ref(qkv, heads, causal, dout)
        d_qkv, d_dout = dev(qkv), dev(dout)
        got = {key: blank(a) for key, a in want.items()}
        ka.attention_scores[L](d_qkv, heads, causal, got["AT"])
        ka.attention_softmax[L](got["AT"])
        ka.attention_output[L](got["AT"], d_qkv, got["out"])
        ka.attention_grad_values[L](d_dout, got["AT"], got["dqkv"])
        ka.attention_grad_weights[L](d_dout, d_qkv, got["dST"])
        ka.attention_softmax_backward[L](got["AT"], got["dST"])
        ka.attention_grad_qk[L](got["dST"], d_qkv, got["dqkv"])
        worst = max(worst, *(diff(want[key], got[key]) for key in want))
    return worst


# --------------------------------------------------------------------------- sequence helpers


@case("swap01", "add_tiled", "embedding_forward", "embedding_backward")
def _sequence_helpers() -> float:
    x, table, W = r(2, 3, 4), r(3, 4), r(5, 4)
    ids = np.array([4, 0, 4, 2, 4, 1], np.int64)
    g = r(ids.size, 4)
    gW = np.zeros_like(W)
    np.add.at(gW, ids, g)
    want = (x.transpose(1, 0, 2), x + table, x + x, W[ids], gW)
    got = [blank(a) for a in want]
    ks.swap01[L](dev(x), got[0])
    ks.add_tiled[L](dev(x).reshape(-1), dev(table).reshape(-1), got[1].reshape(-1))
    ks.add_tiled[L](dev(x).reshape(-1), dev(x).reshape(-1), got[2].reshape(-1))
    ks.embedding_forward[L](dev(W), dev(ids), got[3])
    ks.embedding_backward[L](dev(ids), dev(g), got[4])
    return max(diff(a, b) for a, b in zip(want, got))


def backend_checks() -> dict[str, float]:
    """The CUDA backend's layer operations (engine.backends.cuda_layers), as the layers call them:
    its own launches, workspaces and time loops, against the NumPy references."""
    from engine.backends.base import ConvWorkspace
    from engine.backends.cpu import get_backend

    be, out = get_backend("cuda"), {}
    x, W, b = r(2, 2, 5, 4), r(3, 2, 3, 3), r(3)
    ws = {
        k: cuda.device_array(s)
        for k, s in be.conv2d_workspace_shapes(2, 3, 3, 2, 1, 2, 5, 4).items()
    }
    cols = im2col_ref(x, 3, 2, 1)
    z = (cols @ W.reshape(3, -1).T + b).reshape(2, 3, 2, 3).transpose(0, 3, 1, 2)
    delta = r(*z.shape)
    dzmat = delta.transpose(0, 2, 3, 1).reshape(-1, 3)
    got = [blank(a) for a in (z, W, b, x)]
    fwd = ConvWorkspace(2, 1, ws["xpad"], ws["cols"], ws["zt"])
    be.conv2d_forward(dev(x), dev(W), dev(b), fwd, got[0])
    bwd = ConvWorkspace(2, 1, ws["xpad"], ws["cols"], blank(dzmat), blank(cols),
                        ws["parts_W"], ws["parts_b"])  # fmt: skip
    be.conv2d_backward(dev(x), dev(W), dev(delta), bwd, *got[1:3], got[3], True)
    want = (
        z,
        dzmat.T @ cols,
        dzmat.sum(axis=0),
        col2im_ref(dzmat @ W.reshape(3, -1), x.shape, 3, 2, 1),
    )
    out["backend conv2d"] = max(diff(a, g.reshape(a.shape)) for a, g in zip(want, got))
    T, n, H = 2, 2, 3
    worst = 0.0
    for cell, gates in (("lstm", 4), ("gru", 3)):
        G = gates * H
        xp, W_hh, b_hh, dhs = r(T, n, G), r(G, H) * 0.5, r(G), r(T, n, H)
        want = recurrent_ref(cell, xp, W_hh, b_hh, np.zeros((n, H)), np.zeros((n, H)), dhs)
        hs, cs = dev(np.zeros((T + 1, n, H))), dev(np.zeros((T + 1, n, H)))
        acts, dxp, dhp, hp = blank(xp), blank(xp), blank(xp), blank(xp[0])
        tcs, dh, dc = blank(dhs), blank(dhs[0]), blank(dhs[0])
        Wd, bd, dd, xpd = dev(W_hh), dev(b_hh), dev(dhs), dev(xp)
        if cell == "lstm":
            be.lstm_forward(xpd, Wd, bd, hs, cs, tcs, acts, hp, False)
            be.lstm_backward(dd, Wd, cs, tcs, acts, dxp, dh, dc)
        else:
            be.gru_forward(xpd, Wd, bd, hs, acts, tcs, hp, False)
            be.gru_backward(dd, Wd, hs, acts, tcs, dxp, dhp, dh, dc)
            worst = max(worst, diff(want["dhp"], dhp))
        worst = max(worst, diff(want["hs"], hs), diff(want["dxp"], dxp), diff(want["dh"], dh))
    out["backend recurrent"] = worst
    qkv, dout = r(2, 3, 12), r(2, 3, 4)
    want = attention_ref(qkv, 2, True, dout)
    got = {key: blank(a) for key, a in want.items()}
    be.attention_forward(dev(qkv), 2, True, False, got["AT"], got["out"], None, None)
    be.attention_backward(dev(dout), dev(qkv), got["AT"], 2, got["dqkv"], got["dST"], None)
    out["backend attention"] = max(diff(want[key], got[key]) for key in want)
    return out


if __name__ == "__main__":
    sys.exit(CASES.main(backend_checks))
