"""The CUDA backend's methods for the image, recurrent and attention layers.

``CUDALayerOps`` is mixed into ``engine.backends.cuda.CUDABackend``: each method has the name and
the arguments of the ``CPUBackend`` method the layers call, and launches the kernels of
``engine.kernels.cuda.conv`` / ``cuda_rnn`` / ``cuda_attn`` / ``cuda_seq`` in order. Where the CPU
algorithm needs workspaces of another layout (a convolution's ``cols``, attention's ``dST``), the
layer asks the backend for their shapes (``conv2d_workspace_shapes``,
``attention_workspace_shapes``), so one layer serves both devices.

A recurrent layer's time loop runs here on the host: per step one tiled product
(``dense_forward`` for h W_hhᵀ + b_hh, ``matmul`` for the gradient back through W_hh) and one
launch of the step's gate kernel.
"""

from __future__ import annotations

from typing import Any

from engine.backends.attention import AttentionOps
from engine.backends.base import BatchNormState, ConvWorkspace
from engine.backends.recurrent import RecurrentOps


class CUDALayerOps(RecurrentOps, AttentionOps):
    """Layer-level operations on device arrays (mixed into ``CUDABackend``)."""

    # from CUDABackend: ``grid_threads``, ``tile``, ``_launch``, ``_tiles``, the dense kernels
    grid_threads: int
    tile: int
    _launch: Any
    _tiles: Any
    dense_forward: Any
    dense_backward: Any

    @property
    def _kl(self) -> Any:
        """The layer kernel modules, imported on first use."""
        from engine.kernels.cuda import attention as cuda_attn
        from engine.kernels.cuda import conv as cuda_conv
        from engine.kernels.cuda import norm as cuda_norm
        from engine.kernels.cuda import pool as cuda_pool
        from engine.kernels.cuda import sequence as cuda_seq

        return cuda_conv, cuda_seq, cuda_attn, cuda_seq, cuda_norm, cuda_pool

    # ---------------------------------------------------------------- arrays
    def contiguous(self, x: Any, dtype: Any = None) -> Any:
        """``x`` itself: the layers' device arrays are C-contiguous buffers of the network's dtype,
        and there is no kernel here to copy one into another layout or dtype."""
        if not x.is_c_contiguous():
            raise ValueError(f"a non-contiguous device array of shape {x.shape}")
        if dtype is not None and x.dtype != dtype:
            raise ValueError(f"a {x.dtype} device array where {dtype} is needed")
        return x

    def _swap01(self, x: Any, out: Any) -> None:
        """out = x with its first two axes swapped: (a, b, c) → (b, a, c)."""
        if out.shape != (x.shape[1], x.shape[0], *x.shape[2:]):
            raise ValueError(f"swap01: {x.shape} does not swap into {out.shape}")
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        o3 = out.reshape(out.shape[0], out.shape[1], -1)
        self._launch(self._kl[3].swap01, x.size)(x3, o3)

    def batch_chunks(self, n: int) -> int:
        """A batch stays whole on the device: one chunk."""
        return 1

    def to_chunks(self, x: Any, out: Any) -> None:
        """(n, T, …) → (1, T, n, …): the batch as one time-major chunk."""
        if out.shape[0] != 1:
            raise ValueError(f"to_chunks: the device keeps one chunk, not {out.shape[0]}")
        self._swap01(x, out[0])

    def from_chunks(self, x: Any, out: Any) -> None:
        """(1, T, n, …) → (n, T, …)."""
        if x.shape[0] != 1:
            raise ValueError(f"from_chunks: the device keeps one chunk, not {x.shape[0]}")
        self._swap01(x[0], out)

    def add(self, a: Any, b: Any, out: Any) -> None:
        """out = a + b, with ``b`` repeated over the leading axes of ``a`` (b's shape ends a's)."""
        if tuple(a.shape[a.ndim - b.ndim :]) != tuple(b.shape) or out.shape != a.shape:
            raise ValueError(f"add: {b.shape} does not tile {a.shape} into {out.shape}")
        self._launch(self._kl[3].add_tiled, a.size)(a.reshape(-1), b.reshape(-1), out.reshape(-1))

    def embedding_forward(self, W: Any, ids: Any, out: Any) -> None:
        self._launch(self._kl[3].embedding_forward, out.size)(W, ids.reshape(-1), out)

    def embedding_backward(self, ids: Any, grad_out: Any, grad_W: Any) -> None:
        kernel = self._kl[3].embedding_backward
        self._launch(kernel, grad_W.size)(ids.reshape(-1), grad_out, grad_W)

    # ---------------------------------------------------------------- convolution
    def conv2d_workspace_shapes(
        self, c: int, oc: int, k: int, stride: int, pad: int, n: int, h: int, w: int
    ) -> dict[str, tuple[int, ...]]:
        """im2col rows: ``cols`` (n·oh·ow, c·k·k) and the product ``zt`` (n·oh·ow, out_c)."""
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        rows = n * oh * ow
        return {
            "xpad": (1,),
            "cols": (rows, c * k * k),
            "zt": (rows, oc),
            "parts_W": (1,),
            "parts_b": (1,),
        }

    def conv2d_forward(self, x: Any, W: Any, b: Any, ws: ConvWorkspace, z: Any) -> None:
        """im2col → cols;  zt = cols Wᵀ + b (tiled);  zt's rows → z (n, out_c, oh, ow)."""
        conv, cols, zt = self._kl[0], ws.cols, ws.zt
        oc, _, kh, kw = W.shape
        if cols.shape != (zt.shape[0], W.size // oc) or z.shape[1] != oc:
            raise ValueError(f"conv2d: workspaces {cols.shape}/{zt.shape} do not fit W {W.shape}")
        self._launch(conv.im2col, cols.size)(x, kh, kw, ws.stride, ws.pad, cols)
        self.dense_forward(cols, W.reshape(oc, -1), b, zt)
        self._launch(conv.rows_to_nchw, z.size)(zt, z)

    def conv2d_backward(
        self,
        x: Any,
        W: Any,
        delta: Any,
        ws: ConvWorkspace,
        grad_W: Any,
        grad_b: Any,
        grad_x: Any,
        need_x: bool,
    ) -> None:
        """δ → rows;  ∂W = δᵀ cols, ∂b = Σ δ, dcols = δ W (tiled);  col2im(dcols) → ∂x.

        The batch is one chunk here: ``ws.parts_W`` and ``ws.parts_b`` are not used."""
        conv, dzt, dcols = self._kl[0], ws.zt, ws.dcols
        oc, _, kh, kw = W.shape
        self._launch(conv.nchw_to_rows, delta.size)(delta, dzt)
        self.dense_backward(
            ws.cols,
            W.reshape(oc, -1),
            dzt,
            grad_W.reshape(oc, -1),
            grad_b,
            dcols if need_x else None,
        )
        if need_x:
            self._launch(conv.col2im, grad_x.size)(dcols, kh, kw, ws.stride, ws.pad, grad_x)

    # ---------------------------------------------------------------- pooling
    def maxpool2d_forward(self, x: Any, k: int, stride: int, out: Any, argmax: Any) -> None:
        self._launch(self._kl[5].maxpool2d_forward, out.size)(x, k, stride, out, argmax)

    def maxpool2d_backward(self, grad_out: Any, argmax: Any, k: int, stride: int, gx: Any) -> None:
        self._launch(self._kl[5].maxpool2d_backward, gx.size)(grad_out, argmax, k, stride, gx)

    def avgpool2d_forward(self, x: Any, k: int, stride: int, out: Any) -> None:
        self._launch(self._kl[5].avgpool2d_forward, out.size)(x, k, stride, out)

    def avgpool2d_backward(self, grad_out: Any, k: int, stride: int, gx: Any) -> None:
        self._launch(self._kl[5].avgpool2d_backward, gx.size)(grad_out, k, stride, gx)

    # ---------------------------------------------------------------- normalisation
    def batchnorm_forward(
        self, x: Any, gamma: Any, beta: Any, training: bool, s: BatchNormState, out: Any
    ) -> None:
        """One block per channel (the channel's statistics are a block sum)."""
        stats = (s.eps, training, s.momentum, s.running_mean, s.running_var)
        self._kl[4].batchnorm_forward[x.shape[1], self.grid_threads](
            x, gamma, beta, *stats, s.xhat, out, s.inv_std
        )

    def batchnorm_backward(self, dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta) -> None:
        self._kl[4].batchnorm_backward[dy.shape[1], self.grid_threads](
            dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta
        )

    def layernorm_forward(self, x, gamma, beta, eps, xhat, out, inv_std) -> None:
        kernel = self._kl[4].layernorm_forward
        self._launch(kernel, x.shape[0])(x, gamma, beta, eps, xhat, out, inv_std)

    def layernorm_backward(self, dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta) -> None:
        kernel = self._kl[4].layernorm_backward
        self._launch(kernel, dy.shape[0] + dy.shape[1])(
            dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta
        )

    # ---------------------------------------------------------------- recurrent
    def _recurrent_product(self, h: Any, W_hh: Any, dh: Any, accumulate: bool) -> None:
        """dh (+)= h W_hh, tiled."""
        grid = self._tiles(*dh.shape)
        self._kl[1].matmul[grid, (self.tile, self.tile)](h, W_hh, dh, accumulate)

    def rnn_forward(self, xp, W_hh, b_hh, hs, hp, fast) -> None:
        step = self._launch(self._kl[1].rnn_step, hp.shape[0] * W_hh.shape[1])
        for t in range(xp.shape[0]):
            self.dense_forward(hs[t], W_hh, b_hh, hp)
            step(xp, hp, hs, t)

    def rnn_backward(self, dhs, W_hh, hs, dxp, dh) -> None:
        step = self._launch(self._kl[1].rnn_step_backward, dh.size)
        for t in range(dxp.shape[0] - 1, -1, -1):
            step(dhs, hs, dh, dxp, t)
            self._recurrent_product(dxp[t], W_hh, dh, False)

    def lstm_forward(self, xp, W_hh, b_hh, hs, cs, tcs, acts, hp, fast) -> None:
        step = self._launch(self._kl[1].lstm_step, hp.shape[0] * W_hh.shape[1])
        for t in range(xp.shape[0]):
            self.dense_forward(hs[t], W_hh, b_hh, hp)
            step(xp, hp, hs, cs, tcs, acts, t)

    def lstm_backward(self, dhs, W_hh, cs, tcs, acts, dxp, dh, dc) -> None:
        step = self._launch(self._kl[1].lstm_step_backward, dh.size)
        for t in range(dxp.shape[0] - 1, -1, -1):
            step(dhs, cs, tcs, acts, dh, dc, dxp, t)
            self._recurrent_product(dxp[t], W_hh, dh, False)

    def gru_forward(self, xp, W_hh, b_hh, hs, acts, hn, hp, fast) -> None:
        step = self._launch(self._kl[1].gru_step, hp.shape[0] * W_hh.shape[1])
        for t in range(xp.shape[0]):
            self.dense_forward(hs[t], W_hh, b_hh, hp)
            step(xp, hp, hs, acts, hn, t)

    def gru_backward(self, dhs, W_hh, hs, acts, hn, dxp, dhp, dh, dprev) -> None:
        step = self._launch(self._kl[1].gru_step_backward, dh.size)
        for t in range(dxp.shape[0] - 1, -1, -1):
            step(dhs, hs, acts, hn, dh, dxp, dhp, t)
            self._recurrent_product(dhp[t], W_hh, dh, True)

    # ---------------------------------------------------------------- attention
    def attention_workspace_shapes(self, n: int, heads: int, T: int) -> dict[str, tuple[int, ...]]:
        """dSᵀ for every sample and head at once (the CPU reuses one (T, T) block)."""
        return {"dST": (n, heads, T, T), "work": (1, 1), "bits": (1,)}

    def attention_forward(self, qkv, heads, causal, fast_exp, AT, out, work, bits) -> None:
        attn = self._kl[2]
        self._launch(attn.attention_scores, AT.size)(qkv, heads, causal, AT)
        self._launch(attn.attention_softmax, AT.size // AT.shape[2])(AT)
        self._launch(attn.attention_output, out.size)(AT, qkv, out)

    def attention_backward(self, dout, qkv, AT, heads, dqkv, dST, work) -> None:
        attn = self._kl[2]
        if dST.shape != AT.shape:
            raise ValueError(f"attention: dST {dST.shape} must have AT's shape {AT.shape}")
        self._launch(attn.attention_grad_values, dout.size)(dout, AT, dqkv)
        self._launch(attn.attention_grad_weights, dST.size)(dout, qkv, dST)
        self._launch(attn.attention_softmax_backward, AT.size // AT.shape[2])(AT, dST)
        self._launch(attn.attention_grad_qk, dout.size)(dST, qkv, dqkv)
