"""NumPy references for the CUDA kernels of the image, recurrent and attention layers (float64).

Written from the formulas, independent of the CPU kernels (whose buffers may change for speed);
``cuda_sim_layers.py`` checks the kernels against them in the simulator.
"""

from __future__ import annotations

import numpy as np


def im2col_ref(x: np.ndarray, k: int, stride: int, pad: int) -> np.ndarray:
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    cols = np.empty((n, oh, ow, c * k * k))
    for y in range(oh):
        for x_ in range(ow):
            patch = xp[:, :, y * stride : y * stride + k, x_ * stride : x_ * stride + k]
            cols[:, y, x_] = patch.reshape(n, -1)
    return cols.reshape(n * oh * ow, -1)


def col2im_ref(dcols: np.ndarray, shape: tuple, k: int, stride: int, pad: int) -> np.ndarray:
    n, c, h, w = shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    d = dcols.reshape(n, oh, ow, c, k, k)
    for y in range(oh):
        for x_ in range(ow):
            dxp[:, :, y * stride : y * stride + k, x_ * stride : x_ * stride + k] += d[:, y, x_]
    return dxp[:, :, pad : pad + h, pad : pad + w]


def pool_ref(x: np.ndarray, g: np.ndarray, k: int, stride: int) -> tuple:
    """Max pool (out, argmax, ∂x) and average pool (out, ∂x) of x, with ∂L/∂out = g."""
    n, c, _, w = x.shape
    o = g.shape[2]
    mx, arg, avg = np.empty(g.shape), np.empty(g.shape, np.int64), np.empty(g.shape)
    gmax, gavg = np.zeros_like(x), np.zeros_like(x)
    for i, ch, y, x_ in np.ndindex(n, c, o, o):
        win = x[i, ch, y * stride : y * stride + k, x_ * stride : x_ * stride + k]
        dy, dx = divmod(int(np.argmax(win)), k)
        mx[i, ch, y, x_], avg[i, ch, y, x_] = win.max(), win.mean()
        arg[i, ch, y, x_] = (y * stride + dy) * w + x_ * stride + dx
        gmax[i, ch, y * stride + dy, x_ * stride + dx] += g[i, ch, y, x_]
        gavg[i, ch, y * stride : y * stride + k, x_ * stride : x_ * stride + k] += g[
            i, ch, y, x_
        ] / (k * k)
    return mx, arg, gmax, avg, gavg


def norm_backward_ref(dy, xhat, gamma, inv_std, axis):
    """∂L/∂x of y = γ x̂ + β, x̂ normalised over ``axis``: (g − mean g − x̂ mean(g x̂)) / σ."""
    g = dy * gamma
    m_g, m_gx = g.mean(axis=axis, keepdims=True), (g * xhat).mean(axis=axis, keepdims=True)
    return inv_std * (g - m_g - xhat * m_gx)


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def recurrent_ref(cell: str, xp, W_hh, b_hh, h0, c0, dhs) -> dict[str, np.ndarray]:
    """The forward pass and backprop through time of one sequence, step by step in NumPy."""
    T, n, _ = xp.shape
    H = h0.shape[1]
    hs, cs = [h0], [c0]
    saved = []  # per step: what the backward pass needs
    for t in range(T):
        a = xp[t] + hs[t] @ W_hh.T + b_hh
        if cell == "rnn":
            hs.append(np.tanh(a))
            saved.append(())
        elif cell == "lstm":
            i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 3 * H :])
            g = np.tanh(a[:, 2 * H : 3 * H])
            cs.append(f * cs[t] + i * g)
            hs.append(o * np.tanh(cs[t + 1]))
            saved.append((i, f, g, o))
        else:
            hp = hs[t] @ W_hh.T + b_hh
            r, z = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H])
            nn = np.tanh(xp[t, :, 2 * H :] + r * hp[:, 2 * H :])
            hs.append((1 - z) * nn + z * hs[t])
            saved.append((r, z, nn, hp[:, 2 * H :]))
    dxp, dhp = np.empty_like(xp), np.empty_like(xp)
    dh, dc = np.zeros((n, H)), np.zeros((n, H))
    for t in range(T - 1, -1, -1):
        dht = dhs[t] + dh
        if cell == "rnn":
            dxp[t] = dhp[t] = dht * (1 - hs[t + 1] ** 2)
            dh = dxp[t] @ W_hh
        elif cell == "lstm":
            i, f, g, o = saved[t]
            tc = np.tanh(cs[t + 1])
            dct = dc + dht * o * (1 - tc**2)
            parts = (dct * g * i * (1 - i), dct * cs[t] * f * (1 - f), dct * i * (1 - g**2))
            dxp[t] = dhp[t] = np.concatenate([*parts, dht * tc * o * (1 - o)], axis=1)
            dh, dc = dxp[t] @ W_hh, dct * f
        else:
            r, z, nn, hn = saved[t]
            dan = dht * (1 - z) * (1 - nn**2)
            dar, daz = dan * hn * r * (1 - r), dht * (hs[t] - nn) * z * (1 - z)
            dxp[t] = np.concatenate([dar, daz, dan], axis=1)
            dhp[t] = np.concatenate([dar, daz, dan * r], axis=1)
            dh = dht * z + dhp[t] @ W_hh
    return {"hs": np.stack(hs), "cs": np.stack(cs), "dxp": dxp, "dhp": dhp, "dh": dh}


def attention_ref(qkv, heads, causal, dout) -> dict[str, np.ndarray]:
    """Attention forward and backward per head; A and dS transposed, as the kernels keep them."""
    n, T, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads

    def split(a: np.ndarray) -> np.ndarray:  # (n, T, d) → (n, h, T, d_h)
        return a.reshape(n, T, heads, dh).transpose(0, 2, 1, 3)

    q, k, v = (split(qkv[:, :, p * d : (p + 1) * d]) for p in range(3))
    S = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)
    if causal:
        S = np.where(np.triu(np.ones((T, T), bool), 1), -np.inf, S)
    A = np.exp(S - S.max(axis=-1, keepdims=True))
    A /= A.sum(axis=-1, keepdims=True)
    out = (A @ v).transpose(0, 2, 1, 3).reshape(n, T, d)
    dO = split(dout)
    dA = dO @ v.transpose(0, 1, 3, 2)
    dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
    dq, dk = dS @ k / np.sqrt(dh), dS.transpose(0, 1, 3, 2) @ q / np.sqrt(dh)
    grads = (dq, dk, A.transpose(0, 1, 3, 2) @ dO)
    dqkv = np.concatenate([g.transpose(0, 2, 1, 3).reshape(n, T, d) for g in grads], axis=2)
    T_ = (0, 1, 3, 2)
    return {"AT": A.transpose(T_), "out": out, "dST": dS.transpose(T_), "dqkv": dqkv}


# --------------------------------------------------------------------------- image layers
