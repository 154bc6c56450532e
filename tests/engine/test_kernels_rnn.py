"""Recurrent kernels: forward against NumPy, backprop through time against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels import cpu_rnn

T, N, H = 4, 3, 5


def sig(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


def forward_ref(kind: str, xp, W, b, h0):
    h, c, out = h0.copy(), np.zeros_like(h0), []
    for t in range(xp.shape[0]):
        hp = h @ W.T + b
        if kind == "rnn":
            h = np.tanh(xp[t] + hp)
        elif kind == "lstm":
            a = xp[t] + hp
            i, f, g, o = (
                sig(a[:, :H]),
                sig(a[:, H : 2 * H]),
                np.tanh(a[:, 2 * H : 3 * H]),
                sig(a[:, 3 * H :]),
            )
            c = f * c + i * g
            h = o * np.tanh(c)
        else:
            r = sig(xp[t][:, :H] + hp[:, :H])
            z = sig(xp[t][:, H : 2 * H] + hp[:, H : 2 * H])
            n = np.tanh(xp[t][:, 2 * H :] + r * hp[:, 2 * H :])
            h = (1 - z) * n + z * h
        out.append(h)
    return np.stack(out)


GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def run_kernels(kind: str, xp, W, b, h0, dhs):
    G = xp.shape[2]
    hs = np.zeros((T + 1, N, H))
    hs[0] = h0
    hp, dxp = np.empty((N, G)), np.empty_like(xp)
    gW, gb, dh, dprev = np.empty_like(W), np.empty_like(b), np.empty((N, H)), np.empty((N, H))
    if kind == "rnn":
        cpu_rnn.rnn_forward(xp, W, b, hs, hp)
        cpu_rnn.rnn_backward(dhs, W, hs, dxp, gW, gb, dh, dprev)
    elif kind == "lstm":
        cs, acts = np.zeros((T + 1, N, H)), np.empty_like(xp)
        cpu_rnn.lstm_forward(xp, W, b, hs, cs, acts, hp)
        cpu_rnn.lstm_backward(dhs, W, hs, cs, acts, dxp, gW, gb, dh, np.empty((N, H)), dprev)
    else:
        acts, hn = np.empty_like(xp), np.empty((T, N, H))
        cpu_rnn.gru_forward(xp, W, b, hs, acts, hn, hp)
        cpu_rnn.gru_backward(dhs, W, hs, acts, hn, dxp, np.empty((N, G)), gW, gb, dh, dprev)
    return hs[1:], dxp, gW, gb, dh


@pytest.mark.parametrize("kind", sorted(GATES))
def test_recurrent_kernels_forward_and_bptt(kind: str) -> None:
    rng = np.random.default_rng(0)
    G = GATES[kind] * H
    xp, W, b = rng.normal(size=(T, N, G)), rng.normal(size=(G, H)) * 0.5, rng.normal(size=G)
    h0, dhs = rng.normal(size=(N, H)), rng.normal(size=(T, N, H))
    hs, dxp, gW, gb, dh0 = run_kernels(kind, xp, W, b, h0, dhs)
    np.testing.assert_allclose(hs, forward_ref(kind, xp, W, b, h0), rtol=1e-12, atol=1e-12)

    def loss(xp_, W_, b_, h0_):
        return float((dhs * forward_ref(kind, xp_, W_, b_, h0_)).sum())

    for name, arr, grad in (("xp", xp, dxp), ("W_hh", W, gW), ("b_hh", b, gb), ("h0", h0, dh0)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + 1e-6
            plus = loss(xp, W, b, h0)
            arr[idx] = old - 1e-6
            minus = loss(xp, W, b, h0)
            arr[idx] = old
            num[idx] = (plus - minus) / 2e-6
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8, err_msg=name)
