"""Attention kernels against a NumPy reference and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from engine.kernels.cpu import attention as cpu_attn

N, T, D, HEADS = 2, 4, 6, 2


def attention_ref(qkv: np.ndarray, causal: bool, heads: int = HEADS) -> tuple[np.ndarray, ...]:
    """out (n, T, d) and A (n, heads, T, T), one head at a time, in float64."""
    n, t, d3 = qkv.shape
    d = d3 // 3
    q, k, v = np.split(qkv.astype(np.float64), 3, axis=-1)
    dh = d // heads
    out = np.empty((n, t, d))
    A = np.empty((n, heads, t, t))
    for h in range(heads):
        sl = slice(h * dh, (h + 1) * dh)
        S = q[..., sl] @ k[..., sl].transpose(0, 2, 1) / np.sqrt(dh)
        if causal:
            S = np.where(np.triu(np.ones((t, t), bool), 1), -np.inf, S)
        E = np.exp(S - S.max(-1, keepdims=True))
        A[:, h] = E / E.sum(-1, keepdims=True)
        out[..., sl] = A[:, h] @ v[..., sl]
    return out, A


def run_forward(qkv: np.ndarray, heads: int, causal: bool) -> tuple[np.ndarray, ...]:
    """The kernel's out and its transposed weights AT, from buffers filled with NaN."""
    n, t, d3 = qkv.shape
    dt = qkv.dtype
    AT = np.full((n, heads, t, t), np.nan, dt)
    out = np.full((n, t, d3 // 3), np.nan, dt)
    work, bits = np.empty((2, t), dt), np.empty(t * t, np.int32)
    cpu_attn.attention_forward(qkv, heads, causal, dt == np.float32, AT, out, work, bits)
    return out, AT


def run_backward(dout: np.ndarray, qkv: np.ndarray, AT: np.ndarray, heads: int) -> np.ndarray:
    t = qkv.shape[1]
    dqkv = np.full_like(qkv, np.nan)
    work, dST = np.empty((2, t), qkv.dtype), np.empty((t, t), qkv.dtype)
    cpu_attn.attention_backward(dout, qkv, AT, heads, dqkv, dST, work)
    return dqkv


@pytest.mark.parametrize("causal", [False, True])
def test_attention_forward_and_backward(causal: bool) -> None:
    rng = np.random.default_rng(0)
    qkv = rng.normal(size=(N, T, 3 * D))
    out, AT = run_forward(qkv, HEADS, causal)
    ref_out, ref_A = attention_ref(qkv, causal)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(AT.transpose(0, 1, 3, 2), ref_A, rtol=1e-12, atol=1e-15)
    if causal:
        assert AT[0, 0, 1:, 0].max() == 0.0  # A[0, 0, 0, 1:]: the first query sees only itself
    dout = rng.normal(size=out.shape)
    dqkv = run_backward(dout, qkv, AT, HEADS)
    num = np.zeros_like(qkv)
    for idx in np.ndindex(qkv.shape):
        old = qkv[idx]
        qkv[idx] = old + 1e-6
        plus = (dout * attention_ref(qkv, causal)[0]).sum()
        qkv[idx] = old - 1e-6
        minus = (dout * attention_ref(qkv, causal)[0]).sum()
        qkv[idx] = old
        num[idx] = (plus - minus) / 2e-6
    np.testing.assert_allclose(dqkv, num, rtol=1e-6, atol=1e-8)


def attention_grad_ref(dout: np.ndarray, qkv: np.ndarray, causal: bool, heads: int) -> np.ndarray:
    """∂L/∂qkv by the formulas of the backward pass, in float64 with whole-array NumPy."""
    n, t, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads
    _, A = attention_ref(qkv, causal, heads)
    split = qkv.astype(np.float64).reshape(n, t, 3, heads, dh).transpose(2, 0, 3, 1, 4)
    Q, K, V = split  # (n, h, T, d_h) each
    dO = dout.astype(np.float64).reshape(n, t, heads, dh).transpose(0, 2, 1, 3)
    dV = A.transpose(0, 1, 3, 2) @ dO
    dA = dO @ V.transpose(0, 1, 3, 2)
    dS = A * (dA - (dA * A).sum(-1, keepdims=True))
    dQ = dS @ K / np.sqrt(dh)
    dK = dS.transpose(0, 1, 3, 2) @ Q / np.sqrt(dh)
    return np.stack([dQ, dK, dV]).transpose(1, 3, 0, 2, 4).reshape(n, t, d3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("n", "t", "d", "heads", "causal"),
    [(3, 17, 24, 3, True), (2, 9, 8, 8, False), (1, 1, 4, 2, True)],
)
def test_attention_matches_numpy_at_odd_shapes(dtype, n, t, d, heads, causal) -> None:
    """Heads read in place from qkv (rows 3d apart) and T not a multiple of the vector width."""
    rng = np.random.default_rng(1)
    qkv = (2.0 * rng.normal(size=(n, t, 3 * d))).astype(dtype)
    dout = rng.normal(size=(n, t, d)).astype(dtype)
    out, AT = run_forward(qkv, heads, causal)
    ref_out, ref_A = attention_ref(qkv, causal, heads)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out, ref_out, rtol=tol, atol=tol)
    np.testing.assert_allclose(AT.transpose(0, 1, 3, 2), ref_A, rtol=tol, atol=tol)
    assert np.array_equal(AT.transpose(0, 1, 3, 2) == 0, ref_A == 0)  # masked weights exactly 0
    dqkv = run_backward(dout, qkv, AT, heads)
    np.testing.assert_allclose(
        dqkv, attention_grad_ref(dout, qkv, causal, heads), rtol=tol * 5, atol=tol * 5
    )


@njit(cache=False)
def _exp_f32_of(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    cpu_attn._exp_f32(y, np.empty(y.size, np.int32))
    return y


def test_float32_exp_is_within_two_ulp() -> None:
    x = np.concatenate([np.linspace(-87.0, 88.0, 200_001), [0.0, -1e-8, 1e-8]]).astype(np.float32)
    exact = np.exp(x.astype(np.float64))
    got = _exp_f32_of(x).astype(np.float64)
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert (np.abs(got - exact) / ulp).max() <= 2.0
    assert _exp_f32_of(np.array([0.0], np.float32))[0] == 1.0
    assert np.isnan(_exp_f32_of(np.array([np.nan], np.float32))[0])
