"""Sequence layers: embeddings, recurrent layers (RNN, LSTM, GRU), positional encoding, attention.

A batch of sequences is ``(n, T, d)`` (PyTorch's ``batch_first=True``). Parameter names and gate
orders are PyTorch's: a recurrent layer holds ``W_ih`` (G·H, d), ``W_hh`` (G·H, H), ``b_ih`` and
``b_hh``, with G = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n).

Every computation on the layers' arrays goes through the network's backend, the time-major
reorders and additions included, so the same layers run on NumPy arrays and on device arrays.
Only token ids are brought to the host (an embedding checks them there).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.backends.base import (
    Array,
    AttentionGrads,
    AttentionPass,
    RecurrentGrads,
    RecurrentPass,
)
from engine.layers.core import Layer


class Embedding(Layer):
    """Token ids (n, T) → vectors (n, T, d): row ``W[id]`` of a (vocab, d) table, W ~ N(0, 1).

    Backward: ∂L/∂W[v] = Σ of ∂L/∂out over the positions holding token v; ids get no gradient.
    """

    type_name = "Embedding"

    def __init__(self, vocab: int, d: int) -> None:
        super().__init__()
        self.vocab, self.d = int(vocab), int(d)
        self._kept: tuple[np.ndarray, np.ndarray, Array, Array] | None = None

    def spec(self) -> dict[str, Any]:
        return {"type": "Embedding", "vocab": self.vocab, "d": self.d}

    def param_shapes(self, in_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return {"W": (self.vocab, self.d)}

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*in_shape, self.d)

    def reset(self, rng: np.random.Generator) -> None:
        self.params["W"][...] = rng.normal(0.0, 1.0, self.params["W"].shape)

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        host = np.asarray(self.backend.to_host(x))
        out = self._buffer("out", (*host.shape, self.d), cache)
        kept = self._kept if cache else None
        if kept is None or kept[2] is not out:  # kept with their views: a step allocates none
            ids = np.empty(host.shape, np.int64)
            kept = (ids, ids.reshape(-1), out, out.reshape(ids.size, self.d))
            if cache:
                self._kept = kept
        ids, flat, _, rows = kept
        np.copyto(ids, host, casting="unsafe")
        # arg-min and arg-max: the reductions min() and max() allocate about 1 KiB each call
        if flat.size and (flat[flat.argmin()] < 0 or flat[flat.argmax()] >= self.vocab):
            raise ValueError(f"Embedding: token ids must lie in 0..{self.vocab - 1}")
        self._ids = self.backend.from_host(flat, flat.dtype)
        self.backend.embedding_forward(self.params["W"], self._ids, rows)
        return out

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        g = self.backend.contiguous(grad_out).reshape(-1, self.d)
        self.backend.embedding_backward(self._ids, g, self.grads["W"])
        return None


class _Recurrent(Layer, register=False):
    gates = 1
    splits_batch = True
    kernel = ""
    """The backend's methods are ``{kernel}_forward_chunks`` and ``{kernel}_backward_chunks``."""

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden = int(input_size), int(hidden_size)
        self.return_sequences = bool(return_sequences)
        # the backend's records of a pass, kept so that a training step allocates none
        self._kept_pass = RecurrentPass(
            self.kernel, None, None, None, None, None, None, None, (), None, False
        )
        self._kept_grads = RecurrentGrads(None, None, (), (), None, None)
        self._kept_grad_arrays: tuple[int, tuple[Array, ...], Any] | None = None

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
        """The batch is laid out chunk-major, ``(C, T, nc, ·)`` with C = ``backend.batch_chunks``
        (several on a CPU with threads to spare: each chunk runs on a thread of its own). The
        backend projects the inputs of every step at once, then runs the recurrence."""
        n, T, D = x.shape
        G, H = self.gates * self.hidden, self.hidden
        C = self.backend.batch_chunks(n)
        nc = n // C
        xt = self._buffer("xt", (C, T, nc, D), cache)
        self.backend.to_chunks(x, xt)
        xp = self._buffer("xp", (C, T, nc, G), cache)
        self._xt = xt
        self._hs = self._buffer("hs", (C, T + 1, nc, H), cache)
        self._hs[:, 0] = 0.0
        self._make_state(cache)
        hp = self._buffer("hp", (C, nc, G), cache)
        p = self.params
        fast = bool(x.dtype == np.float32)
        if cache:  # the kept record, its arrays refreshed: a step allocates none
            kept = self._kept_pass
            kept.xt, kept.xp, kept.hs = xt, xp, self._hs
            kept.hp, kept.fast = hp, fast
            kept.W_ih, kept.b_ih = p["W_ih"], p["b_ih"]
            kept.W_hh, kept.b_hh = p["W_hh"], p["b_hh"]
            kept.saved = self._saved
            self._pass = kept
        else:  # an inference call, maybe from another thread: a record of its own
            weights = p["W_ih"], p["b_ih"], p["W_hh"], p["b_hh"]
            arrays = (xp, self._hs, self._saved, hp, fast)
            self._pass = RecurrentPass(self.kernel, xt, *weights, *arrays)
        self.backend.recurrent_forward(self._pass)
        if not self.return_sequences:
            if C == 1:
                return self._hs[0, T]
            last = self._buffer("last", (n, H), cache)
            self.backend.from_chunks(self._hs[:, T : T + 1], last.reshape(n, 1, H))
            return last
        out = self._buffer("out", (n, T, H), cache)
        self.backend.from_chunks(self._hs[:, 1:], out)
        return out

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        """The kernel runs the recurrence back in time; the weights' gradients are then one
        product each over all T·n rows of a chunk: ∂L/∂W_hh = Σ_t δ_tᵀ h_{t−1},
        ∂L/∂W_ih = Σ_t δ_tᵀ x_t (summed over the chunks where there are several)."""
        C, T, nc, D = self._xt.shape
        n, G, H = C * nc, self.gates * self.hidden, self.hidden
        dhs = self._buffer("dhs", (C, T, nc, H), True)
        if self.return_sequences:
            self.backend.to_chunks(self.backend.contiguous(grad_out), dhs)
        else:
            dhs[:, : T - 1] = 0.0
            last = self.backend.contiguous(grad_out).reshape(n, 1, H)
            self.backend.to_chunks(last, dhs[:, T - 1 : T])
            del last  # the views a step makes are let go before the kernels run
        dxp = self._buffer("dxp", (C, T, nc, G), True)
        gx = self._buffer("gx", (C, T, nc, D), True) if need_grad_x else None
        grads, parts = self._grad_arrays(C)
        self._run_backward(dhs, dxp, parts, grads, gx)
        if gx is None:
            return None
        gxb = self._buffer("gx_batch", (n, T, D), True)
        self.backend.from_chunks(gx, gxb)
        return gxb

    def _grad_arrays(self, C: int) -> tuple[tuple[Array, ...], tuple[Array, ...] | None]:
        """The gradients (W_ih, b_ih, W_hh, b_hh) and, for C > 1 chunks, each chunk's share of
        them; the tuples are kept from one step to the next while they still hold the layer's
        arrays, so that a step builds none."""
        kept = self._kept_grad_arrays
        g = self.grads
        if kept is not None and kept[0] == C:
            grads = kept[1]
            if (
                grads[0] is g["W_ih"]
                and grads[1] is g["b_ih"]
                and grads[2] is g["W_hh"]
                and grads[3] is g["b_hh"]
            ):
                return grads, kept[2]
        names = ("W_ih", "b_ih", "W_hh", "b_hh")
        grads = tuple(g[k] for k in names)
        parts = None
        if C > 1:  # scratch the kernels fill whole: a kept one serves as well as a fresh one
            parts = tuple(self._buffer(f"part_{k}", (C, *g[k].shape), True) for k in names)
        self._kept_grad_arrays = (C, grads, parts)
        return grads, parts

    def hidden_states(self, sample: int | None = None) -> np.ndarray:
        """h_1 … h_T of the last forward pass, on the host and read-only: one sample's (T, H),
        or with no sample every one's, (n, T, H) in batch order (what the app draws)."""
        hs = np.asarray(self.backend.to_host(self._hs))  # (C, T + 1, nc, H), chunk-major
        C, T1, nc, H = hs.shape
        if sample is None:
            states = hs[:, 1:].transpose(0, 2, 1, 3).reshape(C * nc, T1 - 1, H)
        else:
            states = hs[sample // nc, 1:, sample % nc]
        view = states.view()
        view.flags.writeable = False
        return view

    def _make_state(self, cache: bool) -> None:
        """Allocates ``self._saved``: what the forward pass keeps for the backward one, beside
        the hidden states, in the order the kernels take them."""
        self._saved: tuple[Array, ...] = ()

    def _run_backward(self, dhs: Array, dxp: Array, parts, grads: tuple, gx) -> None:
        """The backend's backward pass: fills ``dxp`` and the gradients (``parts`` holds each
        chunk's, where there are several)."""
        carried = self._backward_state(dxp)
        g = self._kept_grads
        g.dhs, g.dxp, g.carried = dhs, dxp, carried
        g.grads, g.parts, g.gx = grads, parts, gx
        self.backend.recurrent_backward(self._pass, g)

    def _backward_state(self, dxp: Array) -> tuple[Array, ...]:
        """The backward kernel's own arrays after ``dxp``: ∂L/∂h carried back in time."""
        return (self._state("dh"),)

    def _state(self, key: str) -> Array:
        C, _, nc, H = self._hs.shape
        return self._buffer(key, (C, nc, H), True)


class RNN(_Recurrent):
    """Elman RNN: h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh); backprop through time."""

    type_name = "RNN"
    gates = 1
    kernel = "rnn"


class LSTM(_Recurrent):
    """LSTM (gates i, f, g, o): c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh c_t."""

    type_name = "LSTM"
    gates = 4
    kernel = "lstm"

    def _make_state(self, cache: bool) -> None:
        C, T1, nc, H = self._hs.shape
        self._cs = self._buffer("cs", self._hs.shape, cache)
        self._cs[:, 0] = 0.0
        self._tcs = self._buffer("tcs", (C, T1 - 1, nc, H), cache)
        self._acts = self._buffer("acts", (C, T1 - 1, nc, 4 * H), cache)
        self._saved = (self._cs, self._tcs, self._acts)

    def _backward_state(self, dxp: Array) -> tuple[Array, ...]:
        """∂L/∂h and ∂L/∂c, carried back in time."""
        return self._state("dh"), self._state("dc")


class GRU(_Recurrent):
    """GRU (gates r, z, n): n = tanh(W_in x + r ⊙ (W_hn h + b_hn)), h_t = (1 − z) ⊙ n + z ⊙ h."""

    type_name = "GRU"
    gates = 3
    kernel = "gru"

    def _make_state(self, cache: bool) -> None:
        C, T1, nc, H = self._hs.shape
        self._acts = self._buffer("acts", (C, T1 - 1, nc, 3 * H), cache)
        self._hn = self._buffer("hn", (C, T1 - 1, nc, H), cache)
        self._saved = (self._acts, self._hn)

    def _backward_state(self, dxp: Array) -> tuple[Array, ...]:
        """``dhp``, the gradient of h_{t−1} W_hhᵀ + b_hh (it differs from ``dxp`` in the n gate,
        where r multiplies the hidden part), then ∂L/∂h and a step's share of it."""
        return self._buffer("dhp", dxp.shape, True), self._state("dh"), self._state("dprev")


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
        self._tables: dict[tuple[str, np.dtype, int], Array] = {}

    def spec(self) -> dict[str, Any]:
        return {"type": "PositionalEncoding", "d": self.d, "max_len": self.max_len}

    def forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        T = x.shape[1]
        if self.max_len < T:
            raise ValueError(
                f"PositionalEncoding: sequence of {T} is longer than max_len {self.max_len}"
            )
        key = (self.backend.name, x.dtype, T)
        if key not in self._tables:  # T places of the code in x's dtype, on its device, made once
            self._tables[key] = self.backend.from_host(self.table[:T].astype(x.dtype), x.dtype)
        out = self._buffer("out", x.shape, cache)
        self.backend.add(x, self._tables[key], out)
        return out

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        return grad_out


class MultiHeadSelfAttention(Layer):
    """Self-attention over (n, T, d) with ``heads`` heads, laid out as ``nn.MultiheadAttention``.

    [Q K V] = x W_inᵀ + b_in;  per head A = softmax(Q Kᵀ/√d_h) (causal: no look-ahead);
    O = A V;  out = concat(O) W_outᵀ + b_out. ``attention_weights`` (n, heads, T, T) of the last
    forward are kept for the app. Backward (engine.kernels.cpu.attention): dV = Aᵀ dO,
    dS = A ⊙ (dA − rowsum(dA ⊙ A)), dQ = dS K/√d_h, dK = dSᵀ Q/√d_h, and the two projections as
    in ``Dense``.
    """

    type_name = "MultiHeadSelfAttention"
    splits_batch = True
    """Its projections and heads run one chunk of the batch per Numba thread, in one parallel
    region with BLAS on one thread, when the batch's attention scores are many enough
    (``CPULayerOps.attention_workspace_shapes``); the network's large Dense layers then split
    their products over the same threads."""

    def __init__(self, d: int, heads: int = 1, causal: bool = False) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"MultiHeadSelfAttention: d = {d} is not divisible by {heads} heads")
        self.d, self.heads, self.causal = int(d), int(heads), bool(causal)
        self._kept: tuple[Any, AttentionPass, Array] | None = None
        self._kept_back: tuple[Any, ...] | None = None
        self._pass: AttentionPass | None = None

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
        kept = self._kept if cache else None
        if kept is None or kept[0] is not x:
            kept = self._forward_arrays(x, cache)
        _, p, y3 = kept
        # the projections go through the backend's kernels, not NumPy's @: one BLAS in the step
        p.W_in, p.b_in = self.params["W_in"], self.params["b_in"]
        p.W_out, p.b_out = self.params["W_out"], self.params["b_out"]
        self.backend.attention_layer_forward(p)
        self._pass, self._AT = p, p.AT
        return y3

    def _forward_arrays(self, x: Array, cache: bool) -> tuple[Any, AttentionPass, Array]:
        """The backend's record of a pass over x — x as (n·T, d) rows, the forward pass's buffers
        and the views the kernels take of them — and the output's (n, T, d) view; kept
        (``cache``) while the input is the same array, so that a step makes none."""
        n, T, d = x.shape
        x2 = self.backend.contiguous(x, self.dtype)
        same = x2 is x  # a copy of x must be made again for every call
        x2 = x2.reshape(n * T, d)
        ws = self.backend.attention_workspace_shapes(n, self.heads, T)
        qkv = self._buffer("qkv", (n * T, 3 * d), cache)
        o, y = self._buffer("o", (n * T, d), cache), self._buffer("y", (n * T, d), cache)
        AT = self._buffer("AT", (n, self.heads, T, T), cache)
        work = self._buffer("work", ws["work"], cache)
        bits = self._buffer("bits", ws["bits"], cache, np.dtype(np.int32))
        p = self.params
        record = AttentionPass(
            self.heads, self.causal, bool(self.dtype == np.float32), x2, p["W_in"], p["b_in"],
            qkv, qkv.reshape(n, T, 3 * d), AT, o, o.reshape(n, T, d), work, bits, p["W_out"],
            p["b_out"], y,
        )  # fmt: skip
        kept = (x if same else None, record, y.reshape(n, T, d))
        if cache:
            self._kept = kept
        return kept

    @property
    def attention_weights(self) -> np.ndarray:
        """The last forward's attention weights A (n, heads, T, T), on the host and read-only
        (the app shows them).

        The kernels keep Aᵀ (see engine.kernels.cpu.attention); on the CPU this is a view of it.
        """
        weights = np.asarray(self.backend.to_host(self._AT)).transpose(0, 1, 3, 2)
        weights.flags.writeable = False
        return weights

    A = attention_weights
    """The same, under the formula's name."""

    def backward(self, grad_out: Array, need_grad_x: bool = True) -> Array | None:
        p = self._pass
        assert p is not None, "backward before forward"
        kept = self._kept_back
        if kept is None or kept[0] is not grad_out or kept[1] is not p:
            kept = self._backward_arrays(grad_out, p)
        _, _, g, gx, gx3 = kept
        g.gx = gx if need_grad_x else None
        g.gW_in, g.gb_in = self.grads["W_in"], self.grads["b_in"]
        g.gW_out, g.gb_out = self.grads["W_out"], self.grads["b_out"]
        self.backend.attention_layer_backward(p, g)
        return gx3 if need_grad_x else None

    def _backward_arrays(self, grad_out: Array, p: AttentionPass) -> tuple[Any, ...]:
        """``_forward_arrays`` for the backward pass: kept while the gradient is the same array
        and the forward pass's record is the same."""
        n, h, T, _ = p.AT.shape
        d = self.d
        g2 = self.backend.contiguous(grad_out, self.dtype)
        same = g2 is grad_out
        g2 = g2.reshape(n * T, d)
        ws = self.backend.attention_workspace_shapes(n, h, T)
        dO, gx = self._buffer("dO", (n * T, d), True), self._buffer("gx", (n * T, d), True)
        dqkv = self._buffer("dqkv", (n * T, 3 * d), True)
        dST = self._buffer("dST", ws["dST"], True)
        grads = self.grads
        record = AttentionGrads(
            g2, dO, dO.reshape(n, T, d), dqkv, dqkv.reshape(n, T, 3 * d), dST, gx,
            grads["W_in"], grads["b_in"], grads["W_out"], grads["b_out"],
        )  # fmt: skip
        kept = (grad_out if same else None, p, record, gx, gx.reshape(n, T, d))
        self._kept_back = kept
        return kept
