"""Sequence layers: embeddings, recurrent layers (RNN, LSTM, GRU), positional encoding, attention.

A batch of sequences is ``(n, T, d)`` (PyTorch's ``batch_first=True``). Parameter names and gate
orders are PyTorch's: a recurrent layer holds ``W_ih`` (G·H, d), ``W_hh`` (G·H, H), ``b_ih`` and
``b_hh``, with G = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.backend import Array
from engine.kernels import cpu_attn, cpu_rnn
from engine.layers import Layer


class Embedding(Layer):
    """Token ids (n, T) → vectors (n, T, d): row ``W[id]`` of a (vocab, d) table, W ~ N(0, 1).

    Backward: ∂L/∂W[v] = Σ of ∂L/∂out over the positions holding token v; ids get no gradient.
    """

    type_name = "Embedding"

    def __init__(self, vocab: int, d: int) -> None:
        super().__init__()
        self.vocab, self.d = int(vocab), int(d)

    def spec(self) -> dict[str, Any]:
        return {"type": "Embedding", "vocab": self.vocab, "d": self.d}

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {"W": (self.vocab, self.d)}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*in_shape, self.d)

    def reset(self, rng: np.random.Generator) -> None:
        self.params["W"][...] = rng.normal(0.0, 1.0, self.params["W"].shape)

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        ids = np.asarray(x).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab):
            raise ValueError(f"Embedding: token ids must lie in 0..{self.vocab - 1}")
        self._ids = ids
        return self.params["W"][ids]

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        gW = self.grads["W"]
        gW[...] = 0.0
        np.add.at(gW, self._ids.reshape(-1), grad_out.reshape(-1, self.d))
        return None


class _Recurrent(Layer):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden = int(input_size), int(hidden_size)
        self.return_sequences = bool(return_sequences)

    def spec(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "input_size": self.input_size,
            "hidden_size": self.hidden,
            "return_sequences": self.return_sequences,
        }

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if len(in_shape) != 2 or in_shape[1] != self.input_size:
            raise ValueError(
                f"{self.type_name} needs sequences (T, {self.input_size}), got {in_shape}"
            )
        G = self.gates * self.hidden
        return {"W_ih": (G, self.input_size), "W_hh": (G, self.hidden), "b_ih": (G,), "b_hh": (G,)}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (in_shape[0], self.hidden) if self.return_sequences else (self.hidden,)

    def reset(self, rng: np.random.Generator) -> None:
        bound = 1.0 / math.sqrt(self.hidden)
        for p in self.params.values():
            p[...] = rng.uniform(-bound, bound, p.shape)

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        n, T, D = x.shape
        G = self.gates * self.hidden
        self._xt = np.ascontiguousarray(x.transpose(1, 0, 2))  # time-major (T, n, D)
        xp = (self._xt.reshape(T * n, D) @ self.params["W_ih"].T + self.params["b_ih"]).reshape(
            T, n, G
        )
        self._hs = np.zeros((T + 1, n, self.hidden), dtype=x.dtype)
        self._run_forward(xp, np.empty((n, G), dtype=x.dtype))
        if self.return_sequences:
            return np.ascontiguousarray(self._hs[1:].transpose(1, 0, 2))
        return self._hs[T].copy()

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        T, n, D = self._xt.shape
        G = self.gates * self.hidden
        dhs = np.zeros((T, n, self.hidden), dtype=grad_out.dtype)
        if self.return_sequences:
            dhs[...] = grad_out.transpose(1, 0, 2)
        else:
            dhs[T - 1] = grad_out
        dxp = np.empty((T, n, G), dtype=grad_out.dtype)
        self._run_backward(dhs, dxp)
        flat = dxp.reshape(T * n, G)
        np.dot(flat.T, self._xt.reshape(T * n, D), out=self.grads["W_ih"])
        self.grads["b_ih"][...] = flat.sum(axis=0)
        if not need_grad_x:
            return None
        return np.ascontiguousarray(
            (flat @ self.params["W_ih"]).reshape(T, n, D).transpose(1, 0, 2)
        )

    def _run_forward(self, xp: Array, hp: Array) -> None:
        raise NotImplementedError

    def _run_backward(self, dhs: Array, dxp: Array) -> None:
        raise NotImplementedError

    def _scratch(self) -> tuple[Array, Array]:
        n = self._hs.shape[1]
        return (
            np.empty((n, self.hidden), self._hs.dtype),
            np.empty((n, self.hidden), self._hs.dtype),
        )


class RNN(_Recurrent):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh); backprop through time."""

    type_name = "RNN"
    gates = 1

    def _run_forward(self, xp: Array, hp: Array) -> None:
        cpu_rnn.rnn_forward(xp, self.params["W_hh"], self.params["b_hh"], self._hs, hp)

    def _run_backward(self, dhs: Array, dxp: Array) -> None:
        dh, dprev = self._scratch()
        cpu_rnn.rnn_backward(
            dhs,
            self.params["W_hh"],
            self._hs,
            dxp,
            self.grads["W_hh"],
            self.grads["b_hh"],
            dh,
            dprev,
        )


class LSTM(_Recurrent):
    """LSTM (gates i, f, g, o): c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh c_t."""

    type_name = "LSTM"
    gates = 4

    def _run_forward(self, xp: Array, hp: Array) -> None:
        self._cs = np.zeros_like(self._hs)
        self._acts = np.empty_like(xp)
        cpu_rnn.lstm_forward(
            xp, self.params["W_hh"], self.params["b_hh"], self._hs, self._cs, self._acts, hp
        )

    def _run_backward(self, dhs: Array, dxp: Array) -> None:
        dh, dprev = self._scratch()
        cpu_rnn.lstm_backward(
            dhs,
            self.params["W_hh"],
            self._hs,
            self._cs,
            self._acts,
            dxp,
            self.grads["W_hh"],
            self.grads["b_hh"],
            dh,
            np.empty_like(dh),
            dprev,
        )


class GRU(_Recurrent):
    """GRU (gates r, z, n): n = tanh(W_in x + r ⊙ (W_hn h + b_hn)), h_t = (1 − z) ⊙ n + z ⊙ h."""

    type_name = "GRU"
    gates = 3

    def _run_forward(self, xp: Array, hp: Array) -> None:
        T, n, _ = xp.shape
        self._acts = np.empty_like(xp)
        self._hn = np.empty((T, n, self.hidden), dtype=xp.dtype)
        cpu_rnn.gru_forward(
            xp, self.params["W_hh"], self.params["b_hh"], self._hs, self._acts, self._hn, hp
        )

    def _run_backward(self, dhs: Array, dxp: Array) -> None:
        dh, dprev = self._scratch()
        dhp = np.empty((dh.shape[0], 3 * self.hidden), dtype=dh.dtype)
        cpu_rnn.gru_backward(
            dhs,
            self.params["W_hh"],
            self._hs,
            self._acts,
            self._hn,
            dxp,
            dhp,
            self.grads["W_hh"],
            self.grads["b_hh"],
            dh,
            dprev,
        )


class PositionalEncoding(Layer):
    """Adds the sinusoidal position code: PE[t, 2i] = sin(t/10000^{2i/d}), PE[t, 2i+1] = cos(…)."""

    type_name = "PositionalEncoding"

    def __init__(self, d: int, max_len: int = 512) -> None:
        super().__init__()
        self.d, self.max_len = int(d), int(max_len)
        t = np.arange(self.max_len)[:, None]
        freq = np.exp(-math.log(10000.0) * np.arange(0, self.d, 2) / self.d)
        self.table = np.zeros((self.max_len, self.d))
        self.table[:, 0::2] = np.sin(t * freq)
        self.table[:, 1::2] = np.cos(t * freq)[:, : self.d // 2]

    def spec(self) -> dict[str, Any]:
        return {"type": "PositionalEncoding", "d": self.d, "max_len": self.max_len}

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        T = x.shape[1]
        if self.max_len < T:
            raise ValueError(
                f"PositionalEncoding: sequence of {T} is longer than max_len {self.max_len}"
            )
        return x + self.table[:T].astype(x.dtype)

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        return grad_out


class MultiHeadSelfAttention(Layer):
    """Self-attention over (n, T, d) with ``heads`` heads, laid out as ``nn.MultiheadAttention``.

    [Q K V] = x W_inᵀ + b_in;  per head A = softmax(Q Kᵀ/√d_h) (causal: no look-ahead);
    O = A V;  out = concat(O) W_outᵀ + b_out. ``A`` of the last forward is kept for the app.
    """

    type_name = "MultiHeadSelfAttention"

    def __init__(self, d: int, heads: int = 1, causal: bool = False) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"MultiHeadSelfAttention: d = {d} is not divisible by {heads} heads")
        self.d, self.heads, self.causal = int(d), int(heads), bool(causal)

    def spec(self) -> dict[str, Any]:
        return {"type": self.type_name, "d": self.d, "heads": self.heads, "causal": self.causal}

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        if len(in_shape) != 2 or in_shape[1] != self.d:
            raise ValueError(f"MultiHeadSelfAttention needs (T, {self.d}), got {in_shape}")
        d = self.d
        return {"W_in": (3 * d, d), "b_in": (3 * d,), "W_out": (d, d), "b_out": (d,)}

    def reset(self, rng: np.random.Generator) -> None:
        d = self.d
        bound = math.sqrt(6.0 / (d + 3 * d))
        self.params["W_in"][...] = rng.uniform(-bound, bound, (3 * d, d))
        self.params["b_in"][...] = 0.0
        self.params["W_out"][...] = rng.uniform(-1 / math.sqrt(d), 1 / math.sqrt(d), (d, d))
        self.params["b_out"][...] = 0.0

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        n, T, d = x.shape
        dh = d // self.heads
        self._x2 = np.ascontiguousarray(x).reshape(n * T, d)
        qkv = (self._x2 @ self.params["W_in"].T + self.params["b_in"]).reshape(n, T, 3 * d)
        shape = (n, self.heads, T, dh)
        self._q, self._k, self._v = (np.empty(shape, x.dtype) for _ in range(3))
        self.A = np.empty((n, self.heads, T, T), x.dtype)
        o = np.empty((n, T, d), x.dtype)
        cpu_attn.attention_forward(
            qkv, self.heads, self.causal, self._q, self._k, self._v, self.A, o
        )
        self._o2 = o.reshape(n * T, d)
        return (self._o2 @ self.params["W_out"].T + self.params["b_out"]).reshape(n, T, d)

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        n, _, T, _ = self._q.shape
        d = self.d
        g2 = np.ascontiguousarray(grad_out).reshape(n * T, d)
        np.dot(g2.T, self._o2, out=self.grads["W_out"])
        self.grads["b_out"][...] = g2.sum(axis=0)
        do = (g2 @ self.params["W_out"]).reshape(n, T, d)
        dqkv = np.empty((n, T, 3 * d), grad_out.dtype)
        cpu_attn.attention_backward(do, self._q, self._k, self._v, self.A, dqkv)
        dq2 = dqkv.reshape(n * T, 3 * d)
        np.dot(dq2.T, self._x2, out=self.grads["W_in"])
        self.grads["b_in"][...] = dq2.sum(axis=0)
        return (dq2 @ self.params["W_in"]).reshape(n, T, d) if need_grad_x else None
