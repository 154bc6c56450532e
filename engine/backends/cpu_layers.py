"""The CPU backend's methods for the image, recurrent and attention layers.

``CPULayerOps`` is mixed into ``engine.backends.cpu.CPUBackend``; ``engine.backends.cuda_layers``
has
the same methods for device arrays. Each one is what the layer did before it went through a
backend: the Numba kernel of ``engine.kernels.cpu.conv`` / ``cpu_rnn`` / ``cpu_attn`` called as it
was, or the NumPy expression it used, so the CPU's speed and numbers do not change. The workspace
shapes that only the CPU algorithms need (a stride-1 convolution's padded grid, attention's
per-head block) are the backend's to say.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from engine.backends.attention import AttentionOps
from engine.backends.base import (
    AttentionGrads,
    AttentionPass,
    BatchNormState,
    ConvWorkspace,
    RecurrentGrads,
    RecurrentPass,
)
from engine.backends.recurrent import RecurrentOps
from engine.kernels.cpu import attention as cpu_attn
from engine.kernels.cpu import chunks as cpu_chunks
from engine.kernels.cpu import conv as cpu_conv
from engine.kernels.cpu import norm as cpu_norm
from engine.kernels.cpu import pool as cpu_pool
from engine.kernels.cpu import sequence as cpu_rnn
from engine.kernels.cpu import tiles as cpu_tiles
from engine.kernels.cpu.calls import WrongAddress
from engine.threads import blas_back, blas_threads, blas_to_one, in_split_step

Array = Any

MIN_CHUNK = 16
"""The fewest samples of a batch a thread takes: below it, a chunk's products are too small to
gain from a thread of their own."""
MIN_CONV_WORK = 1 << 20
"""Multiply-adds a chunk of a convolution needs before it takes a thread of its own; a pooling
layer's chunk needs ``MIN_POOL_WORK`` elements. Smaller ones (a digits net's 8×8 maps) stay whole:
split, they gain a little headless and lose more in the app, beside its interface's thread
(measured on lenet-digits: 1,300 → 1,160 steps/s headless, 780 → 990 in the app)."""
MIN_POOL_WORK = 1 << 17
MIN_ATTENTION_WORK = 1 << 16
"""Attention scores (heads · T² per sample) a chunk of the batch needs before it takes a thread of
its own: below it, waking the thread costs more than the chunk's heads take."""


def idle_threads() -> int:
    """Numba's thread count inside a pass of a network that splits its batch over them, BLAS on
    one thread (``engine.threads.in_split_step``), where nothing else would use them; 1
    otherwise."""
    threads = numba.get_num_threads()
    return threads if threads > 1 and in_split_step() and blas_threads() == 1 else 1


class CPULayerOps(RecurrentOps, AttentionOps):
    """Layer-level operations on NumPy arrays (mixed into ``CPUBackend``)."""

    _scratch: Any  # CPUBackend's per-thread scratch arrays

    # ---------------------------------------------------------------- arrays
    def contiguous(self, x: Array, dtype: np.dtype | None = None) -> Array:
        """``x`` as a C-contiguous array (of ``dtype`` if given): itself when it already is."""
        return np.ascontiguousarray(x, dtype=dtype)

    def batch_chunks(self, n: int) -> int:
        """How many chunks a batch of ``n`` splits into for the layers that run one chunk per
        thread (convolution, pooling, recurrent layers): one per Numba thread, each of at least
        ``MIN_CHUNK`` samples and all of one size; 1 (no split) otherwise."""
        most = min(numba.get_num_threads(), n // MIN_CHUNK)
        for c in range(most, 1, -1):  # a loop, not a generator: a step asks several times
            if n % c == 0:
                return c
        return 1

    def _image_chunks(self, n: int, work: int, least: int) -> int:
        """``batch_chunks``, or 1 where a chunk would hold less than ``least`` of ``work`` per
        sample (``MIN_CONV_WORK``, ``MIN_POOL_WORK``)."""
        chunks = self.batch_chunks(n)
        return chunks if n // chunks * work >= least else 1

    def add(self, a: Array, b: Array, out: Array) -> None:
        """out = a + b, ``b`` broadcast over the leading axes of ``a``."""
        if a.shape == b.shape:  # NumPy's own loop: as fast, and it allocates nothing
            np.add(a, b, out)
            return
        tiles = a.shape[a.ndim - b.ndim :] == b.shape and out.shape == a.shape
        if tiles and a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous:
            cpu_rnn.add_tiled(a.reshape(-1), b.reshape(-1), out.reshape(-1))
        else:
            np.add(a, b, out=out)

    def embedding_forward(self, W: Array, ids: Array, out: Array) -> None:
        """out[p] = W[ids[p]] for the flat positions p (the layer has checked them: "clip"
        writes straight into ``out``, where "raise" fills a copy first)."""
        flat = ids if ids.ndim == 1 else ids.reshape(-1)
        W.take(flat, 0, out, "clip")  # the method, positional: np.take's keywords allocate

    def embedding_backward(self, ids: Array, grad_out: Array, grad_W: Array) -> None:
        """grad_W[v] = Σ of grad_out[p] over the positions p holding token v."""
        cpu_rnn.embedding_backward(ids if ids.ndim == 1 else ids.reshape(-1), grad_out, grad_W)

    # ---------------------------------------------------------------- convolution
    def conv2d_workspace_shapes(
        self, c: int, oc: int, k: int, stride: int, pad: int, n: int, h: int, w: int
    ) -> dict[str, tuple[int, ...]]:
        """``cols`` (C, c·k·k, nc, P) and ``zt`` (C, out_c, nc, P) for C chunks of nc samples
        (``batch_chunks``), ``parts_W`` / ``parts_b`` for each chunk's weight gradients; see
        ``cpu_conv.conv2d_forward``."""
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        if stride == 1:  # the padded grid: positions x ≥ ow are computed and dropped
            positions, xpad = oh * (w + 2 * pad), (n, c, (h + 2 * pad) * (w + 2 * pad) + k)
        else:
            positions, xpad = oh * ow, (1, 1, 1)
        chunks = self._image_chunks(n, oc * c * k * k * positions, MIN_CONV_WORK)
        nc = n // chunks
        return {
            "xpad": xpad,
            "cols": (chunks, c * k * k, nc, positions),
            "zt": (chunks, oc, nc, positions),
            "parts_W": (chunks, oc, c, k, k) if chunks > 1 else (1,),
            "parts_b": (chunks, oc) if chunks > 1 else (1,),
        }

    def conv2d_forward(self, x: Array, W: Array, b: Array, ws: ConvWorkspace, z: Array) -> None:
        args = (x, W, b, ws.stride, ws.pad, ws.xpad)
        if ws.cols.shape[0] == 1:
            cpu_conv.conv2d_forward(*args, ws.cols[0], ws.zt[0], z)
            return
        before = blas_to_one()
        try:
            site = cpu_conv.FORWARD_CHUNKS
            try:  # the site's target passed here: one argument tuple a call, not two
                site.driver(*site.target, *args, ws.cols, ws.zt, z)
            except WrongAddress:
                site.anew(*args, ws.cols, ws.zt, z)
        finally:
            blas_back(before)

    def conv2d_backward(
        self,
        x: Array,
        W: Array,
        delta: Array,
        ws: ConvWorkspace,
        grad_W: Array,
        grad_b: Array,
        grad_x: Array,
        need_x: bool,
    ) -> None:
        """``ws.xpad`` takes ∂L/∂(padded x), ``ws.zt`` ∂L/∂z in rows; several chunks' weight
        gradients go to ``ws.parts_W``/``ws.parts_b`` first, then are summed."""
        args = (x, W, delta, ws.stride, ws.pad, ws.xpad)
        if ws.cols.shape[0] == 1:
            assert ws.dcols is not None
            cpu_conv.conv2d_backward(
                *args, ws.cols[0], ws.zt[0], grad_W, grad_b, ws.dcols[0], grad_x, need_x
            )
            return
        parts = (ws.parts_W, ws.parts_b)
        before = blas_to_one()
        try:
            site = cpu_conv.BACKWARD_CHUNKS
            try:  # as in ``conv2d_forward``
                site.driver(*site.target, *args, ws.cols, ws.zt, *parts, ws.dcols, grad_x, need_x)
            except WrongAddress:
                site.anew(*args, ws.cols, ws.zt, *parts, ws.dcols, grad_x, need_x)
        finally:
            blas_back(before)
        cpu_chunks.sum_chunks(ws.parts_W, grad_W)
        cpu_chunks.sum_chunks(ws.parts_b, grad_b)

    # ---------------------------------------------------------------- pooling
    def maxpool2d_forward(self, x: Array, k: int, stride: int, out: Array, argmax: Array) -> None:
        chunks = self._image_chunks(x.shape[0], x[0].size, MIN_POOL_WORK)
        if chunks > 1:
            cpu_pool.maxpool2d_forward_chunks(x, k, stride, out, argmax, chunks)
        else:
            cpu_pool.maxpool2d_forward(x, k, stride, out, argmax)

    def maxpool2d_backward(self, grad_out, argmax, k: int, stride: int, gx) -> None:
        """``argmax`` alone routes the gradient here (k and stride serve the CUDA kernel)."""
        chunks = self._image_chunks(gx.shape[0], gx[0].size, MIN_POOL_WORK)
        if chunks > 1:
            cpu_pool.maxpool2d_backward_chunks(grad_out, argmax, gx, chunks)
        else:
            cpu_pool.maxpool2d_backward(grad_out, argmax, gx)

    def avgpool2d_forward(self, x: Array, k: int, stride: int, out: Array) -> None:
        cpu_pool.avgpool2d_forward(x, k, stride, out)

    def avgpool2d_backward(self, grad_out: Array, k: int, stride: int, gx: Array) -> None:
        cpu_pool.avgpool2d_backward(grad_out, k, stride, gx)

    # ---------------------------------------------------------------- normalisation
    def batchnorm_forward(
        self, x: Array, gamma: Array, beta: Array, training: bool, s: BatchNormState, out: Array
    ) -> None:
        stats = (s.eps, training, s.momentum, s.running_mean, s.running_var)
        cpu_norm.batchnorm_forward(x, gamma, beta, *stats, s.xhat, out, s.inv_std)

    def batchnorm_backward(self, dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta) -> None:
        cpu_norm.batchnorm_backward(dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta)

    def layernorm_forward(self, x, gamma, beta, eps, xhat, out, inv_std) -> None:
        cpu_norm.layernorm_forward(x, gamma, beta, eps, xhat, out, inv_std)

    def layernorm_backward(self, dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta) -> None:
        cpu_norm.layernorm_backward(dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta)

    # ---------------------------------------------------------------- recurrent
    def _packing(self, W_hh: Array, chunks: int, inputs: int = 0) -> Array:
        """Room for each of ``chunks`` threads to pack a weight for products in tiles
        (``cpu_tiles``): W_hh (G, H) for the steps' products forward or back and, given the
        layer's ``inputs``, W_ih (G, inputs) for the input projection; none where BLAS takes
        them all (``cpu_tiles.suits``)."""
        G, H = W_hh.shape
        size, each = W_hh.itemsize, 0
        for k, n in ((H, G), (G, H), (inputs, G)):
            if k and cpu_tiles.suits(k, n, size):
                each = max(each, cpu_tiles.packed_size(k, n, size))
        return self._scratch("packed", cpu_tiles.room_for(each, chunks), W_hh.dtype)

    def _project(self, xt: Array, W_ih: Array, b_ih: Array, xp: Array) -> None:
        """xp_t = x_t W_ihᵀ + b_ih for every step at once, as the chunks' drivers make it."""
        self._one_chunk(xt)
        _, T, nc, D = xt.shape
        rows, out = xt[0].reshape(T * nc, D), xp[0].reshape(T * nc, -1)
        cpu_rnn.project(rows, W_ih, b_ih, out, self._packing(W_ih, 1, D))

    def rnn_forward(self, xp, W_hh, b_hh, hs, hp, fast) -> None:
        cpu_rnn.rnn_forward(xp, W_hh, b_hh, hs, hp, fast, self._packing(W_hh, 1))

    def rnn_backward(self, dhs, W_hh, hs, dxp, dh) -> None:
        cpu_rnn.rnn_backward(dhs, W_hh, hs, dxp, dh, self._packing(W_hh, 1))

    def lstm_forward(self, xp, W_hh, b_hh, hs, cs, tcs, acts, hp, fast) -> None:
        packed = self._packing(W_hh, 1)
        cpu_rnn.lstm_forward(xp, W_hh, b_hh, hs, cs, tcs, acts, hp, fast, packed)

    def lstm_backward(self, dhs, W_hh, cs, tcs, acts, dxp, dh, dc) -> None:
        cpu_rnn.lstm_backward(dhs, W_hh, cs, tcs, acts, dxp, dh, dc, self._packing(W_hh, 1))

    def gru_forward(self, xp, W_hh, b_hh, hs, acts, hn, hp, fast) -> None:
        cpu_rnn.gru_forward(xp, W_hh, b_hh, hs, acts, hn, hp, fast, self._packing(W_hh, 1))

    def gru_backward(self, dhs, W_hh, hs, acts, hn, dxp, dhp, dh, dprev) -> None:
        packed = self._packing(W_hh, 1)
        cpu_rnn.gru_backward(dhs, W_hh, hs, acts, hn, dxp, dhp, dh, dprev, packed)

    # A recurrent layer's batch in chunks, one per thread (``cpu_rnn``'s ``*_chunks`` kernels).
    def to_chunks(self, x: Array, out: Array) -> None:
        """(n, T, …) batch-first → (C, T, nc, …) chunk-major, time-major inside a chunk."""
        C, T, nc = out.shape[:3]
        out[...] = x.reshape(C, nc, T, *x.shape[2:]).swapaxes(1, 2)

    def from_chunks(self, x: Array, out: Array) -> None:
        """(C, T, nc, …) chunk-major → (n, T, …) batch-first."""
        C, T, nc = x.shape[:3]
        out.reshape(C, nc, T, *out.shape[2:])[...] = x.swapaxes(1, 2)

    def recurrent_forward(self, p: RecurrentPass) -> None:
        """One chunk: the shared pass of ``RecurrentOps``. Several: the cell's ``*_forward_chunks``
        kernel, one chunk per thread, BLAS on one. No argument tuple, context manager or view is
        made on the way: a training step allocates next to nothing."""
        if p.xt.shape[0] == 1:
            super().recurrent_forward(p)
            return
        site = cpu_rnn.FORWARD_CHUNKS[p.cell]
        packed = self._packing(p.W_hh, p.xt.shape[0], p.xt.shape[3])
        before = blas_to_one()
        try:  # the site's target passed here: one argument tuple a call, not two
            site.driver(*site.target, p.xt, p.W_ih, p.b_ih, p.W_hh, p.b_hh, p.xp, p.hs, *p.saved,
                        p.hp, p.fast, packed)  # fmt: skip
        except WrongAddress:
            site.anew(p.xt, p.W_ih, p.b_ih, p.W_hh, p.b_hh, p.xp, p.hs, *p.saved, p.hp, p.fast,
                      packed)  # fmt: skip
        finally:
            blas_back(before)

    def recurrent_backward(self, p: RecurrentPass, g: RecurrentGrads) -> None:
        """As ``recurrent_forward``; several chunks' weight gradients are summed after."""
        if p.xt.shape[0] == 1:
            super().recurrent_backward(p, g)
            return
        parts, gx = g.parts, g.gx
        assert parts is not None
        need_gx = gx is not None
        gxa = gx if need_gx else p.xt  # an array of the right type where no ∂L/∂x is wanted
        site = cpu_rnn.BACKWARD_CHUNKS[p.cell]
        packed = self._packing(p.W_hh, p.xt.shape[0])
        before = blas_to_one()
        try:  # as in ``recurrent_forward``
            site.driver(*site.target, g.dhs, p.xt, p.W_ih, p.W_hh, p.hs, *p.saved, g.dxp,
                        *g.carried, parts, gxa, need_gx, packed)  # fmt: skip
        except WrongAddress:
            site.anew(g.dhs, p.xt, p.W_ih, p.W_hh, p.hs, *p.saved, g.dxp, *g.carried, parts, gxa,
                      need_gx, packed)  # fmt: skip
        finally:
            blas_back(before)
        for i in range(4):
            cpu_chunks.sum_chunks(parts[i], g.grads[i])

    # ---------------------------------------------------------------- attention
    def attention_workspace_shapes(self, n: int, heads: int, T: int) -> dict[str, tuple[int, ...]]:
        """Per chunk of the batch (``batch_chunks``, or 1 where a chunk would hold less than
        ``MIN_ATTENTION_WORK``): one (T, T) block of dSᵀ reused by every head, and the kernels'
        scratch rows."""
        chunks = self._image_chunks(n, heads * T * T, MIN_ATTENTION_WORK)
        return {"dST": (chunks, T, T), "work": (chunks, 2, T), "bits": (chunks, T * T)}

    def attention_forward(self, qkv, heads, causal, fast_exp, AT, out, work, bits) -> None:
        """The whole batch on this thread, in the scratch's first row (several chunks run in
        ``attention_layer_forward``, with the projections)."""
        cpu_attn.attention_forward(qkv, heads, causal, fast_exp, AT, out, work[0], bits[0])

    def attention_backward(self, dout, qkv, AT, heads, dqkv, dST, work) -> None:
        """As ``attention_forward``: the whole batch, the scratch's first row."""
        cpu_attn.attention_backward(dout, qkv, AT, heads, dqkv, dST[0], work[0])

    def attention_layer_forward(self, p: AttentionPass) -> None:
        """Several chunks: the projections and the heads of each chunk on its own thread, in one
        parallel region (one wake-up of Numba's threads instead of three)."""
        if p.work.shape[0] == 1:
            AttentionOps.attention_layer_forward(self, p)
            return
        site = cpu_attn.LAYER_FORWARD_CHUNKS
        t = site.target
        before = blas_to_one()
        try:  # the arguments one by one: a second argument tuple would add to a step's bytes
            site.driver(
                t[0], t[1], t[2], t[3], p.x, p.W_in, p.b_in, p.qkv3, p.heads, p.causal,
                p.fast_exp, p.AT, p.o3, p.work, p.bits, p.W_out, p.b_out, p.y,
            )  # fmt: skip
        except WrongAddress:  # the first call, or another dtype: the site finds the kernels
            try:
                site.anew(
                    p.x, p.W_in, p.b_in, p.qkv3, p.heads, p.causal, p.fast_exp, p.AT, p.o3,
                    p.work, p.bits, p.W_out, p.b_out, p.y,
                )  # fmt: skip
            except WrongAddress:  # its products differ in type (a read-only x): one step at a time
                AttentionOps.attention_layer_forward(self, p)
        finally:
            blas_back(before)

    def attention_layer_backward(self, p: AttentionPass, g: AttentionGrads) -> None:
        """Several chunks: each chunk's three steps back on its own thread, in one parallel
        region, in scratch of the backend's own; the chunks' weight gradients are summed after."""
        chunks = p.work.shape[0]
        if chunks == 1:
            AttentionOps.attention_layer_backward(self, p, g)
            return
        n, T, d3 = p.qkv3.shape
        size = cpu_attn.layer_backward_scratch(n, T, d3 // 3, chunks)
        scratch = self._scratch("attention", size, p.x.dtype)
        need = g.gx is not None
        before = blas_to_one()
        try:
            cpu_attn.attention_layer_backward_chunks(
                p.x, p.W_in, p.o3, p.W_out, g.g, p.qkv3, p.AT, p.heads,
                g.gx if need else p.x, need, chunks, scratch, g.gW_in, g.gb_in, g.gW_out,
                g.gb_out,
            )  # fmt: skip
        finally:
            blas_back(before)
