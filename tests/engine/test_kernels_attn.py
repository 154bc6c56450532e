"""Attention kernels against a NumPy reference and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels import cpu_attn

N, T, D, HEADS = 2, 4, 6, 2


def attention_ref(qkv: np.ndarray, causal: bool) -> np.ndarray:
    q, k, v = np.split(qkv, 3, axis=-1)
    dh = D // HEADS
    out = np.empty((N, T, D))
    for h in range(HEADS):
        sl = slice(h * dh, (h + 1) * dh)
        S = q[..., sl] @ k[..., sl].transpose(0, 2, 1) / np.sqrt(dh)
        if causal:
            S = np.where(np.triu(np.ones((T, T), bool), 1), -np.inf, S)
        A = np.exp(S - S.max(-1, keepdims=True))
        A /= A.sum(-1, keepdims=True)
        out[..., sl] = A @ v[..., sl]
    return out


def buffers():
    dh = D // HEADS
    shape = (N, HEADS, T, dh)
    return (
        np.empty(shape),
        np.empty(shape),
        np.empty(shape),
        np.empty((N, HEADS, T, T)),
        np.empty((N, T, D)),
    )


@pytest.mark.parametrize("causal", [False, True])
def test_attention_forward_and_backward(causal: bool) -> None:
    rng = np.random.default_rng(0)
    qkv = rng.normal(size=(N, T, 3 * D))
    q, k, v, A, out = buffers()
    cpu_attn.attention_forward(qkv, HEADS, causal, q, k, v, A, out)
    np.testing.assert_allclose(out, attention_ref(qkv, causal), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A.sum(-1), 1.0)
    if causal:
        assert A[0, 0, 0, 1:].max() == 0.0
    dout = rng.normal(size=out.shape)
    dqkv = np.empty_like(qkv)
    cpu_attn.attention_backward(dout, q, k, v, A, dqkv)
    num = np.zeros_like(qkv)
    for idx in np.ndindex(qkv.shape):
        old = qkv[idx]
        qkv[idx] = old + 1e-6
        plus = (dout * attention_ref(qkv, causal)).sum()
        qkv[idx] = old - 1e-6
        minus = (dout * attention_ref(qkv, causal)).sum()
        qkv[idx] = old
        num[idx] = (plus - minus) / 2e-6
    np.testing.assert_allclose(dqkv, num, rtol=1e-6, atol=1e-8)
