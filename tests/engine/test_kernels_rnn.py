"""Recurrent kernels: forward against NumPy, backprop through time against finite differences;
the embedding's gradient and the tiled sum of the position code against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels.cpu import sequence as cpu_rnn
from engine.kernels.cpu import tiles

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


def room(G: int, dtype, tiled: bool, H: int = H) -> np.ndarray:
    """The kernels' ``packed``: room for W_hh packed both ways (NaN, so that a test can see it
    was used), or none (BLAS's products)."""
    if not tiled:
        return np.empty(0, dtype)
    size = np.dtype(dtype).itemsize
    return np.full(max(tiles.packed_size(H, G, size), tiles.packed_size(G, H, size)), np.nan, dtype)


def run_kernels(kind: str, xp, W, b, h0, dhs, fast: bool = False, tiled: bool = True):
    """The kernels forward and back; ∂L/∂W_hh and ∂L/∂b_hh from the per-step gradients they
    leave, as the layer computes them (one product over all steps). ``tiled``: the steps'
    products in tiles (``engine.kernels.cpu.tiles``), else by BLAS."""
    G, dtype = xp.shape[2], xp.dtype
    packed = room(G, dtype, tiled)
    if tiled:
        assert tiles.TILES, "the tiles case runs only where the machine has them"
    hs = np.zeros((T + 1, N, H), dtype)
    hs[0] = h0
    hp, dxp, dh = np.empty((N, G), dtype), np.empty_like(xp), np.empty((N, H), dtype)
    dhp = dxp
    if kind == "rnn":
        cpu_rnn.rnn_forward(xp, W, b, hs, hp, fast, packed)
        cpu_rnn.rnn_backward(dhs, W, hs, dxp, dh, packed)
    elif kind == "lstm":
        cs, tcs, acts = (
            np.zeros((T + 1, N, H), dtype),
            np.empty((T, N, H), dtype),
            np.empty_like(xp),
        )
        cpu_rnn.lstm_forward(xp, W, b, hs, cs, tcs, acts, hp, fast, packed)
        cpu_rnn.lstm_backward(dhs, W, cs, tcs, acts, dxp, dh, np.empty((N, H), dtype), packed)
    else:
        acts, hn, dhp = np.empty_like(xp), np.empty((T, N, H), dtype), np.empty_like(xp)
        cpu_rnn.gru_forward(xp, W, b, hs, acts, hn, hp, fast, packed)
        cpu_rnn.gru_backward(dhs, W, hs, acts, hn, dxp, dhp, dh, np.empty((N, H), dtype), packed)
    gW = sum(dhp[t].T @ hs[t] for t in range(T))
    return hs[1:], dxp, gW, dhp.sum(axis=(0, 1)), dh


TILED = [
    pytest.param(True, id="tiles", marks=pytest.mark.skipif(not tiles.TILES, reason="no tiles")),
    pytest.param(False, id="blas"),
]


@pytest.mark.parametrize("tiled", TILED)
@pytest.mark.parametrize("kind", sorted(GATES))
def test_recurrent_kernels_forward_and_bptt(kind: str, tiled: bool) -> None:
    rng = np.random.default_rng(0)
    G = GATES[kind] * H
    xp, W, b = rng.normal(size=(T, N, G)), rng.normal(size=(G, H)) * 0.5, rng.normal(size=G)
    h0, dhs = rng.normal(size=(N, H)), rng.normal(size=(T, N, H))
    hs, dxp, gW, gb, dh0 = run_kernels(kind, xp, W, b, h0, dhs, tiled=tiled)
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


@pytest.mark.parametrize("kind", sorted(GATES))
def test_float32_fast_gates_match_the_exact_ones(kind: str) -> None:
    """float32's vectorised tanh and σ stay within float32 rounding of the library functions."""
    rng = np.random.default_rng(1)
    G = GATES[kind] * H
    xp, W, b = rng.normal(size=(T, N, G)) * 3, rng.normal(size=(G, H)), rng.normal(size=G)
    h0, dhs = rng.normal(size=(N, H)), rng.normal(size=(T, N, H))
    f32 = [a.astype(np.float32) for a in (xp, W, b, h0, dhs)]
    exact = run_kernels(kind, *f32, fast=False)
    fast = run_kernels(kind, *f32, fast=True)
    reference = run_kernels(kind, xp, W, b, h0, dhs)
    for e, f, r in zip(exact, fast, reference, strict=True):
        np.testing.assert_allclose(f, r, rtol=1e-4, atol=2e-5)
        assert np.abs(f - r).max() <= 4 * np.abs(e - r).max() + 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_backward_sums_the_rows_of_each_token(dtype) -> None:
    """Every position's row lands on its token's, repeated tokens summed, unused ones zero."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 6, 40)  # 40 positions over 7 tokens: repeats, and token 6 unused
    g = rng.standard_normal((40, 3)).astype(dtype)
    grad_W = np.full((7, 3), np.nan, dtype)  # whatever it held is overwritten
    cpu_rnn.embedding_backward(ids, g, grad_W)
    expected = np.zeros((7, 3))
    np.add.at(expected, ids, g.astype(np.float64))
    np.testing.assert_allclose(grad_W, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert not grad_W[6].any()


def test_add_tiled_repeats_the_short_operand_along_the_long_one() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((4, 5, 3)), rng.standard_normal((5, 3))
    out = np.full_like(a, np.nan)
    cpu_rnn.add_tiled(a.reshape(-1), b.reshape(-1), out.reshape(-1))
    np.testing.assert_array_equal(out, a + b)


@pytest.mark.skipif(not tiles.TILES, reason="this machine keeps BLAS for every product")
@pytest.mark.parametrize("kind", sorted(GATES))
def test_tiles_and_blas_agree_on_a_layer_of_several_panels(kind: str) -> None:
    """A batch of 11 (a full tile of rows and a remainder) and 40 units (several panels, the
    last one partly padded): the steps' products in tiles give BLAS's numbers, and the room
    was written."""
    steps, n, units = 5, 11, 40
    G = GATES[kind] * units
    rng = np.random.default_rng(7)
    xp, W = rng.normal(size=(steps, n, G)), rng.normal(size=(G, units)) * 0.3
    b, h0 = rng.normal(size=G), rng.normal(size=(n, units))
    dhs = rng.normal(size=(steps, n, units))
    results = {}
    for tiled in (True, False):
        packed = room(G, np.float64, tiled, units)
        hs = np.zeros((steps + 1, n, units))
        hs[0] = h0
        hp, dxp, dh = np.empty((n, G)), np.empty_like(xp), np.empty((n, units))
        acts, carry = np.empty_like(xp), np.empty((n, units))
        if kind == "rnn":
            cpu_rnn.rnn_forward(xp, W, b, hs, hp, False, packed)
            cpu_rnn.rnn_backward(dhs, W, hs, dxp, dh, packed)
        elif kind == "lstm":
            cs, tcs = np.zeros((steps + 1, n, units)), np.empty((steps, n, units))
            cpu_rnn.lstm_forward(xp, W, b, hs, cs, tcs, acts, hp, False, packed)
            cpu_rnn.lstm_backward(dhs, W, cs, tcs, acts, dxp, dh, carry, packed)
        else:
            hn, dhp = np.empty((steps, n, units)), np.empty_like(xp)
            cpu_rnn.gru_forward(xp, W, b, hs, acts, hn, hp, False, packed)
            cpu_rnn.gru_backward(dhs, W, hs, acts, hn, dxp, dhp, dh, carry, packed)
        if tiled:
            assert not np.isnan(packed).all()
        results[tiled] = (hs, dxp, dh)
    for a, b_ in zip(results[True], results[False], strict=True):
        np.testing.assert_allclose(a, b_, rtol=1e-12, atol=1e-12)
