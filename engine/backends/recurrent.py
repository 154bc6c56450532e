"""A recurrent layer's whole pass over a batch in chunks, as both backends run it on one chunk.

The layers lay a batch out chunk-major, ``(C, T, nc, ·)`` (``batch_chunks`` says C), and call the
``*_forward_chunks`` / ``*_backward_chunks`` methods here: the input projection, the recurrence,
and in the backward pass the weight gradients. On one chunk they are the same steps on every
backend — one product for the projections of all T steps, the backend's per-step recurrence
kernel on the time-major ``[0]`` views, one product each for the weight gradients — written
once here. The CPU backend overrides them for several chunks (one per thread,
``cpu_rnn.*_chunks``); the device keeps a batch whole.
"""

from __future__ import annotations

from typing import Any

from engine.backends.base import Array, RecurrentGrads, RecurrentPass

FORWARD_CHUNKS = {cell: f"{cell}_forward_chunks" for cell in ("rnn", "lstm", "gru")}
BACKWARD_CHUNKS = {cell: f"{cell}_backward_chunks" for cell in ("rnn", "lstm", "gru")}
"""The methods' names by cell, made once: a name made on each call is kept alive by Python's
attribute cache (a step would leave one behind)."""


class RecurrentOps:
    """The one-chunk recurrent passes, on the backend's own products and kernels."""

    dense_forward: Any
    dense_backward: Any
    rnn_forward: Any
    rnn_backward: Any
    lstm_forward: Any
    lstm_backward: Any
    gru_forward: Any
    gru_backward: Any

    def rnn_forward_chunks(self, xt, W_ih, b_ih, W_hh, b_hh, xp, hs, hp, fast) -> None:
        self._project(xt, W_ih, b_ih, xp)
        self.rnn_forward(xp[0], W_hh, b_hh, hs[0], hp[0], fast)

    def lstm_forward_chunks(
        self, xt, W_ih, b_ih, W_hh, b_hh, xp, hs, cs, tcs, acts, hp, fast
    ) -> None:
        self._project(xt, W_ih, b_ih, xp)
        self.lstm_forward(xp[0], W_hh, b_hh, hs[0], cs[0], tcs[0], acts[0], hp[0], fast)

    def gru_forward_chunks(self, xt, W_ih, b_ih, W_hh, b_hh, xp, hs, acts, hn, hp, fast) -> None:
        self._project(xt, W_ih, b_ih, xp)
        self.gru_forward(xp[0], W_hh, b_hh, hs[0], acts[0], hn[0], hp[0], fast)

    def rnn_backward_chunks(self, dhs, xt, W_ih, W_hh, hs, dxp, dh, parts, grads, gx) -> None:
        self._one_chunk(xt)
        self.rnn_backward(dhs[0], W_hh, hs[0], dxp[0], dh[0])
        self._weight_grads(xt, hs, dxp, dxp, W_ih, W_hh, grads, gx)

    def lstm_backward_chunks(
        self, dhs, xt, W_ih, W_hh, hs, cs, tcs, acts, dxp, dh, dc, parts, grads, gx
    ) -> None:
        self._one_chunk(xt)
        self.lstm_backward(dhs[0], W_hh, cs[0], tcs[0], acts[0], dxp[0], dh[0], dc[0])
        self._weight_grads(xt, hs, dxp, dxp, W_ih, W_hh, grads, gx)

    def gru_backward_chunks(
        self, dhs, xt, W_ih, W_hh, hs, acts, hn, dxp, dhp, dh, dprev, parts, grads, gx
    ) -> None:
        self._one_chunk(xt)
        self.gru_backward(dhs[0], W_hh, hs[0], acts[0], hn[0], dxp[0], dhp[0], dh[0], dprev[0])
        self._weight_grads(xt, hs, dxp, dhp, W_ih, W_hh, grads, gx)

    def recurrent_forward(self, p: RecurrentPass) -> None:
        """The forward pass of the cell ``p.cell`` over every chunk (``*_forward_chunks``)."""
        run = getattr(self, FORWARD_CHUNKS[p.cell])
        run(p.xt, p.W_ih, p.b_ih, p.W_hh, p.b_hh, p.xp, p.hs, *p.saved, p.hp, p.fast)

    def recurrent_backward(self, p: RecurrentPass, g: RecurrentGrads) -> None:
        """The backward pass of ``p.cell``: fills ``g.dxp``, the weights' gradients and ``g.gx``."""
        run = getattr(self, BACKWARD_CHUNKS[p.cell])
        arrays = (p.xt, p.W_ih, p.W_hh, p.hs, *p.saved, g.dxp, *g.carried)
        run(g.dhs, *arrays, g.parts, g.grads, g.gx)

    @staticmethod
    def _one_chunk(xt: Array) -> None:
        if xt.shape[0] != 1:
            raise ValueError(f"this backend runs a recurrent batch as one chunk, not {xt.shape[0]}")

    def _project(self, xt: Array, W_ih: Array, b_ih: Array, xp: Array) -> None:
        """xp_t = x_t W_ihᵀ + b_ih for every step at once."""
        self._one_chunk(xt)
        _, T, nc, D = xt.shape
        self.dense_forward(xt[0].reshape(T * nc, D), W_ih, b_ih, xp[0].reshape(T * nc, -1))

    def _weight_grads(self, xt, hs, dxp, dhp, W_ih, W_hh, grads, gx) -> None:
        """∂L/∂W_hh = Σ_t δh_tᵀ h_{t−1}, ∂L/∂W_ih = Σ_t δx_tᵀ x_t, the biases and ∂L/∂x, one
        product each over all T·n rows; ``grads`` is (W_ih, b_ih, W_hh, b_hh)."""
        _, T, nc, D = xt.shape
        rows, H = T * nc, hs.shape[3]
        g_ih, gb_ih, g_hh, gb_hh = grads
        self.dense_backward(
            hs[0, :T].reshape(rows, H), W_hh, dhp[0].reshape(rows, -1), g_hh, gb_hh, None
        )
        gx_rows = None if gx is None else gx[0].reshape(rows, D)
        self.dense_backward(
            xt[0].reshape(rows, D), W_ih, dxp[0].reshape(rows, -1), g_ih, gb_ih, gx_rows
        )
