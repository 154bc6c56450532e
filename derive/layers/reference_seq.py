"""The sequence layers' independent forward and backward passes (see ``derive.layers.reference``).

The recurrent cells are written once in SymPy — an LSTM cell's c = σ(a_f)c₋₁ + σ(a_i)tanh(a_g) and
h = σ(a_o)tanh(c), a GRU cell's h = (1 − σ(a_z))·tanh(a_n + σ(a_r)ĥ) + σ(a_z)h₋₁ — and their
partial derivatives are SymPy's ``diff``, lambdified; backprop through time chains them. Gate
orders are PyTorch's (LSTM i, f, g, o; GRU r, z, n), arrays time-major inside: (T, n, ·).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from derive.activations import sigmoid

Params = dict[str, np.ndarray]


@cache
def cell(kind: str) -> dict[str, Any]:
    """The cell's outputs and every partial derivative the backward needs, as NumPy functions."""
    a = sp.symbols("a_i a_f a_g a_o a_r a_z a_n hn prev", real=True)
    ai, af, ag, ao, ar, az, an, hn, prev = a
    outs: dict[str, tuple[Any, tuple[Any, ...]]]
    if kind == "RNN":
        outs = {"h": (sp.tanh(an), (an,))}
    elif kind == "LSTM":
        c = sigmoid(af) * prev + sigmoid(ai) * sp.tanh(ag)
        cs = sp.Symbol("c", real=True)
        outs = {"c": (c, (ai, af, ag, prev)), "h": (sigmoid(ao) * sp.tanh(cs), (ao, cs))}
    else:
        n = sp.tanh(an + sigmoid(ar) * hn)
        h = (1 - sigmoid(az)) * n + sigmoid(az) * prev
        outs = {"n": (n, (ar, an, hn)), "h": (h, (ar, az, an, hn, prev))}
    fns: dict[str, Any] = {}
    for name, (expr, args) in outs.items():
        fns[name] = sp.lambdify(args, expr, "numpy")
        for v in args:
            fns[f"d{name}/d{v.name}"] = sp.lambdify(args, sp.diff(expr, v), "numpy")
    return fns


def recurrent_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> Any:
    """h_t from x_t and h_{t−1}; the gates' pre-activations are
    x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh."""
    kind, H = layer.type_name, layer.hidden
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
    T, n, _ = xt.shape
    xp = xt @ p["W_ih"].T + p["b_ih"]
    hs, cs = np.zeros((T + 1, n, H)), np.zeros((T + 1, n, H))
    pre = np.zeros_like(xp)  # the gates' pre-activations (GRU's n: the x part, ĥ apart)
    hn = np.zeros((T, n, H))
    f = cell(kind)
    for t in range(T):
        hp = hs[t] @ p["W_hh"].T + p["b_hh"]
        if kind == "RNN":
            pre[t] = xp[t] + hp
            hs[t + 1] = f["h"](pre[t])
        elif kind == "LSTM":
            pre[t] = xp[t] + hp
            ai, af, ag, ao = np.split(pre[t], 4, axis=-1)
            cs[t + 1] = f["c"](ai, af, ag, cs[t])
            hs[t + 1] = f["h"](ao, cs[t + 1])
        else:
            pre[t] = xp[t] + np.concatenate([hp[:, : 2 * H], np.zeros((n, H))], axis=1)
            ar, az, an = np.split(pre[t], 3, axis=-1)
            hn[t] = hp[:, 2 * H :]
            hs[t + 1] = f["h"](ar, az, an, hn[t], hs[t])
    y = hs[1:].transpose(1, 0, 2).copy() if layer.return_sequences else hs[T].copy()
    return y, {"xt": xt, "hs": hs, "cs": cs, "pre": pre, "hn": hn}


def recurrent_backward(layer: Any, p: Params, c: dict[str, Any], g: np.ndarray) -> Any:
    """Backprop through time; ``inner`` keeps, per step, ∂L/∂h_t (all of it), ∂L/∂c_t and the
    gate-wise δ (``dxp``: of the input projection; ``dhp``: of h_{t−1} W_hhᵀ + b_hh)."""
    T, n, _ = c["xt"].shape
    H, kind = layer.hidden, layer.type_name
    dhs = np.zeros((T, n, H))
    if layer.return_sequences:
        dhs[...] = g.transpose(1, 0, 2)
    else:
        dhs[T - 1] = g
    G = p["W_hh"].shape[0]
    dxp, dhp = np.zeros((T, n, G)), np.zeros((T, n, G))
    dh_total, dc_total = np.zeros((T, n, H)), np.zeros((T, n, H))
    carry_h, carry_c = np.zeros((n, H)), np.zeros((n, H))
    step = {"RNN": _rnn_step, "LSTM": _lstm_step, "GRU": _gru_step}[kind]
    for t in range(T - 1, -1, -1):
        dh = dhs[t] + carry_h
        dh_total[t] = dh
        dxp[t], dhp[t], dc_total[t], carry_c, direct = step(c, t, dh, carry_c)
        carry_h = direct + dhp[t] @ p["W_hh"]
    hs, xt = c["hs"], c["xt"]
    grads = {
        "W_ih": np.einsum("tng,tnd->gd", dxp, xt),
        "W_hh": np.einsum("tng,tnh->gh", dhp, hs[:T]),
        "b_ih": dxp.sum(axis=(0, 1)),
        "b_hh": dhp.sum(axis=(0, 1)),
    }
    gx = (dxp @ p["W_ih"]).transpose(1, 0, 2).copy()
    inner = {"dh": dh_total, "dc": dc_total, "dxp": dxp, "dhp": dhp, "dhs": dhs}
    return gx, grads, inner


def _rnn_step(c: dict[str, Any], t: int, dh: np.ndarray, carry_c: np.ndarray) -> Any:
    d = dh * cell("RNN")["dh/da_n"](c["pre"][t])
    return d, d, carry_c, carry_c, np.zeros_like(dh)


def _lstm_step(c: dict[str, Any], t: int, dh: np.ndarray, carry_c: np.ndarray) -> Any:
    f = cell("LSTM")
    ai, af, ag, ao = np.split(c["pre"][t], 4, axis=-1)
    ct, prev = c["cs"][t + 1], c["cs"][t]
    dc = carry_c + dh * f["dh/dc"](ao, ct)
    d = np.concatenate(
        [dc * f[f"dc/d{v}"](ai, af, ag, prev) for v in ("a_i", "a_f", "a_g")]
        + [dh * f["dh/da_o"](ao, ct)],
        axis=1,
    )
    return d, d, dc, dc * f["dc/dprev"](ai, af, ag, prev), np.zeros_like(dh)


def _gru_step(c: dict[str, Any], t: int, dh: np.ndarray, carry_c: np.ndarray) -> Any:
    f = cell("GRU")
    ar, az, an = np.split(c["pre"][t], 3, axis=-1)
    args = (ar, az, an, c["hn"][t], c["hs"][t])
    dr, dz, dn = (dh * f[f"dh/d{v}"](*args) for v in ("a_r", "a_z", "a_n"))
    dhn = dh * f["dh/dhn"](*args)
    dxp = np.concatenate([dr, dz, dn], axis=1)
    dhp = np.concatenate([dr, dz, dhn], axis=1)
    return dxp, dhp, carry_c, carry_c, dh * f["dh/dprev"](*args)


# --------------------------------------------------------------------------- attention


def attention_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> Any:
    """[Q K V] = x W_inᵀ + b_in; per head S = QKᵀ/√d_h, A = softmax(S) row by row, O = AV."""
    n, T, d = x.shape
    heads = layer.heads
    dh = d // heads
    x2 = x.reshape(n * T, d)
    qkv = (x2 @ p["W_in"].T + p["b_in"]).reshape(n, T, 3, heads, dh)
    Q, K, V = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (n, h, T, d_h)
    S = Q @ K.transpose(0, 1, 3, 2) / math.sqrt(dh)
    if layer.causal:
        S = np.where(np.triu(np.ones((T, T), bool), 1), -np.inf, S)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    A = E / E.sum(axis=-1, keepdims=True)
    O = A @ V
    O2 = O.transpose(0, 2, 1, 3).reshape(n * T, d)
    y = (O2 @ p["W_out"].T + p["b_out"]).reshape(n, T, d)
    return y, {"x2": x2, "Q": Q, "K": K, "V": V, "S": S, "A": A, "O2": O2, "shape": x.shape}


def attention_backward(layer: Any, p: Params, c: dict[str, Any], g: np.ndarray) -> Any:
    n, T, d = c["shape"]
    heads = layer.heads
    dh = d // heads
    g2 = g.reshape(n * T, d)
    grads = {"W_out": g2.T @ c["O2"], "b_out": g2.sum(axis=0)}
    dO = (g2 @ p["W_out"]).reshape(n, T, heads, dh).transpose(0, 2, 1, 3)
    A, Q, K, V = c["A"], c["Q"], c["K"], c["V"]
    dV = A.transpose(0, 1, 3, 2) @ dO
    dA = dO @ V.transpose(0, 1, 3, 2)
    dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
    dQ = dS @ K / math.sqrt(dh)
    dK = dS.transpose(0, 1, 3, 2) @ Q / math.sqrt(dh)
    parts = np.stack([dQ, dK, dV], axis=2)  # (n, h, 3, T, d_h)
    dqkv = parts.transpose(0, 3, 2, 1, 4).reshape(n * T, 3 * d)
    grads["W_in"] = dqkv.T @ c["x2"]
    grads["b_in"] = dqkv.sum(axis=0)
    inner = {"dO": dO, "dA": dA, "dS": dS, "dQ": dQ, "dK": dK, "dV": dV}
    return (dqkv @ p["W_in"]).reshape(n, T, d), grads, inner


# --------------------------------------------------------------------------- tokens and positions


def embedding_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> Any:
    ids = np.rint(x).astype(np.int64)
    return p["W"][ids], {"ids": ids}


def embedding_backward(layer: Any, p: Params, c: dict[str, Any], g: np.ndarray) -> Any:
    onehot = np.eye(layer.vocab)[c["ids"].reshape(-1)]
    return None, {"W": onehot.T @ g.reshape(-1, layer.d)}, {}


def position_table(T: int, d: int) -> np.ndarray:
    """PE[t, 2i] = sin(t / 10000^{2i/d}), PE[t, 2i + 1] = cos(t / 10000^{2i/d})."""
    pe = np.zeros((T, d))
    for t in range(T):
        for j in range(d):
            angle = t / 10000.0 ** (2 * (j // 2) / d)
            pe[t, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


def position_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> Any:
    return x + position_table(x.shape[1], x.shape[2]), {}


def position_backward(layer: Any, p: Params, c: dict[str, Any], g: np.ndarray) -> Any:
    return g.copy(), {}, {}
