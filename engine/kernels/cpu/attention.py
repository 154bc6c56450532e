"""Numba CPU kernels of scaled dot-product attention over several heads.

The caller projects the input once, ``qkv = x W_inᵀ + b_in`` of shape (n, T, 3d) (PyTorch's
``in_proj`` layout: queries, then keys, then values), and applies the output projection after.
These kernels do what lies between, per sample and head:

    S = Q Kᵀ / √d_h  (−∞ above the diagonal when causal),  A = softmax_rows(S),  O = A V

How they stay fast on heads of a few dozen rows:

- **No copies of Q, K, V.** Head h of sample b is a (T, d_h) block of ``qkv`` whose rows lie
  3d apart; BLAS reads such a block in place (leading dimension 3d), so each product is one
  ``gemm`` call on the buffers as they are, and the results (O, ∂Q, ∂K, ∂V) are written straight
  into ``out`` / ``dqkv`` the same way. The 1/√d_h rides in gemm's α.
- **Aᵀ, not A.** The kernels keep the attention weights transposed, ``AT[b, h, s, t] = A[t, s]``
  (the layer shows ``A`` as a transposed view). A softmax along a row of A is then a softmax down a
  column of Aᵀ: every loop runs along a contiguous row of Aᵀ and updates a vector of T running
  maxima / sums, with no reduction inside, so LLVM vectorises it without ``fastmath``. The same
  holds for the row sums of the backward pass.
- **exp for float32 in plain arithmetic** (``_exp_f32``, Cephes' ``expf``: 2^m · e^r, within 2 ulp),
  which vectorises where ``math.exp`` is a library call per element; float64 keeps ``math.exp``.
- **Samples split over Numba's threads** (``attention_layer_*_chunks``): chunk c of C takes
  samples [n·c/C, n·(c+1)/C) through the layer's projections and the serial kernel here, with
  its own rows of the scratch arrays, and BLAS on one thread. Every sample's heads are those of
  the serial kernel: no sum crosses samples.
- **The same BLAS as every other kernel**: SciPy's OpenBLAS, through Numba's own bridge (the one
  ``np.dot`` uses inside ``njit``). Mixing it with NumPy's OpenBLAS in one step leaves two thread
  pools spinning on the same cores, which made a transformer step ten times slower.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu import core
from engine.kernels.cpu.blas import gemm as _gemm
from engine.kernels.cpu.calls import Site, WrongAddress, call_at, check, item, part, view, whole
from engine.kernels.cpu.chunks import bounds, sum_parts
from engine.kernels.cpu.views import flat, mat


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _exp_f32(x, bits):
    """x = exp(x) in place for a contiguous float32 x; ``bits`` is int32 scratch of x's size.

    Cephes' expf: x = m ln 2 + r with |r| ≤ ½ ln 2, e^r by a degree-7 polynomial, and 2^m built
    from its exponent bits. Arguments are clamped to [−87, 88] (e^−87 ≈ 1.6e−38, still normal).
    """
    for i in range(x.size):
        y = min(max(x[i], np.float32(-87.0)), np.float32(88.0))
        m = np.floor(y * np.float32(1.44269504088896341) + np.float32(0.5))
        r = y - m * np.float32(0.693359375) - m * np.float32(-2.12194440e-4)
        p = np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        x[i] = p * r * r + r + np.float32(1.0)
        bits[i] = (np.int32(m) + np.int32(127)) << np.int32(23)
    two_m = bits[: x.size].view(np.float32)
    for i in range(x.size):
        x[i] *= two_m[i]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _softmax_columns(AT, causal, fast_exp, top, total, bits):
    """AT (s, t) holds Sᵀ; replaces each column t by softmax over s (s ≤ t when causal).

    for t: top[t] = max_s AT[s, t];  AT[s, t] = exp(AT[s, t] − top[t]) / Σ_s exp(…)
    """
    T = AT.shape[0]
    for t in range(T):
        top[t] = AT[0, t]
    for s in range(1, T):
        for t in range(s if causal else 0, T):
            top[t] = max(top[t], AT[s, t])
    for s in range(T):
        for t in range(T):
            AT[s, t] -= top[t]
    if fast_exp:  # the whole block at once (the masked part is zeroed below)
        _exp_f32(flat(AT), bits)
    else:
        for s in range(T):
            for t in range(s if causal else 0, T):
                AT[s, t] = math.exp(AT[s, t])
    if causal:
        for s in range(1, T):
            for t in range(s):
                AT[s, t] = 0.0
    for t in range(T):
        total[t] = 0.0
    for s in range(T):
        for t in range(T):
            total[t] += AT[s, t]
    for t in range(T):
        total[t] = 1.0 / total[t]
    for s in range(T):
        for t in range(T):
            AT[s, t] *= total[t]


@njit(cache=True, nogil=True)
def attention_forward(qkv, heads, causal, fast_exp, AT, out, work, bits):
    """Fills AT (n, h, T, T) with the attention weights transposed and out (n, T, d).

    qkv is (n, T, 3d), C-contiguous; work is (2, T) scratch of its dtype; bits is int32 scratch
    of T·T elements (used when ``fast_exp``, float32 only).

    for b, h:  Sᵀ = K Qᵀ / √d_h;  Aᵀ = softmax down the columns of Sᵀ;  O = (Aᵀ)ᵀ V
    """
    n, T, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads
    f, fo, fA = flat(qkv), flat(out), flat(AT)
    coef = np.zeros(2, qkv.dtype)  # gemm's α, β
    scale = 1.0 / math.sqrt(dh)
    for b in range(n):
        for h in range(heads):
            iq = b * T * d3 + h * dh  # Q of this head; K at iq + d, V at iq + 2d
            iA = (b * heads + h) * T * T
            iO = b * T * d + h * dh
            coef[0] = scale
            _gemm(False, True, T, T, dh, coef, f, iq + d, d3, f, iq, d3, fA, iA, T)
            _softmax_columns(AT[b, h], causal, fast_exp, work[0], work[1], bits)
            coef[0] = 1.0
            _gemm(True, False, T, dh, T, coef, fA, iA, T, f, iq + 2 * d, d3, fo, iO, d)


@njit(cache=True, nogil=True)
def attention_backward(dout, qkv, AT, heads, dqkv, dST, work):
    """Gradients through the heads, written into dqkv (n, T, 3d); dout is ∂L/∂O (n, T, d).

    AT is the forward's transposed attention; dST is (T, T) and work (1, T) scratch.

    dV = Aᵀ dO;  dAᵀ = V dOᵀ;  dS = A ⊙ (dA − rowsum(dA ⊙ A));  dQ = dS K / √d_h;  dK = dSᵀ Q / √d_h
    """
    n, T, d3 = qkv.shape
    d = d3 // 3
    dh = d // heads
    f, fg, fd = flat(qkv), flat(dqkv), flat(dout)
    fA, fS = flat(AT), flat(dST)
    coef = np.zeros(2, qkv.dtype)
    scale = 1.0 / math.sqrt(dh)
    dot = work[0]
    for b in range(n):
        for h in range(heads):
            iq = b * T * d3 + h * dh
            iA = (b * heads + h) * T * T
            iO = b * T * d + h * dh
            coef[0] = 1.0
            _gemm(False, True, T, T, dh, coef, f, iq + 2 * d, d3, fd, iO, d, fS, 0, T)
            _gemm(False, False, T, dh, T, coef, fA, iA, T, fd, iO, d, fg, iq + 2 * d, d3)
            A = AT[b, h]
            for t in range(T):
                dot[t] = 0.0
            for s in range(T):
                for t in range(T):
                    dot[t] += dST[s, t] * A[s, t]
            for s in range(T):
                for t in range(T):
                    dST[s, t] = A[s, t] * (dST[s, t] - dot[t])
            coef[0] = scale
            _gemm(True, False, T, dh, T, coef, fS, 0, T, f, iq + d, d3, fg, iq, d3)
            _gemm(False, False, T, dh, T, coef, fS, 0, T, f, iq, d3, fg, iq + d, d3)


# A whole self-attention layer's pass, one chunk of the batch per thread. The forward driver calls
# the serial kernels by address (``engine.kernels.cpu.calls``; ``LAYER_FORWARD_CHUNKS`` calls it
# with the right addresses): linked in, it took 1.7 s to compile on a first opening of a
# transformer preset, whose measurement passes split the batch where its training steps do not.
# The backward driver links them still: with three kernels' addresses its call took more
# arguments than Python keeps tuples for, and a step's bytes past 1 KiB.


@njit(cache=True, nogil=True, parallel=True)
def attention_layer_forward_chunks(
    dense_at, dense_key, heads_at, heads_key,
    x, W_in, b_in, qkv, heads, causal, fast_exp, AT, out_h, work, bits, W_out, b_out, y,
):  # fmt: skip
    """A self-attention layer's forward pass, one chunk of the batch per thread: the chunk's rows
    of qkv = x W_inᵀ + b_in, its samples' heads into out_h (``attention_forward`` at
    ``heads_at``), its rows of y = out_h W_outᵀ + b_out, both products ``core.dense_forward`` at
    ``dense_at`` (both products' argument lists of one type). x and y are (n·T, d)
    rows, qkv and out_h (n, T, ·); every number is that of the three kernels called one after
    the other."""
    chunks = work.shape[0]
    n, T, d3 = qkv.shape
    d = d3 // 3
    f_qkv, f_out = flat(qkv), flat(out_h)
    missed = 0
    for c in prange(chunks):
        lo, hi = bounds(n, c, chunks)
        r0, rows = lo * T, (hi - lo) * T
        project_in = (x[r0 : r0 + rows], W_in, b_in, mat(f_qkv, r0 * d3, rows, d3))
        m = call_at(dense_at, dense_key, project_in)  # one "missed +=" a loop: a reduction
        block = (qkv[lo:hi], heads, causal, fast_exp, AT[lo:hi], out_h[lo:hi], work[c], bits[c])
        m += call_at(heads_at, heads_key, block)
        project_out = (mat(f_out, r0 * d, rows, d), W_out, b_out, y[r0 : r0 + rows])
        m += call_at(dense_at, dense_key, project_out)
        missed += m
    check(missed)


def _layer_forward_types(x, W_in, b_in, qkv, heads, causal, fast_exp, AT, out_h, work, bits,
                         W_out, b_out, y):  # fmt: skip
    """The types ``attention_layer_forward_chunks`` passes to its two kernels; ``WrongAddress``
    if its two products would differ in type (a read-only x: the caller runs the layer whole)."""
    project_in = (part(x), whole(W_in), whole(b_in), view(qkv, 2))
    block = (part(qkv), whole(heads), whole(causal), whole(fast_exp), part(AT), part(out_h))
    if (view(out_h, 2), whole(W_out), whole(b_out), part(y)) != project_in:
        raise WrongAddress("the layer's two products differ in type")
    return project_in, (*block, item(work), item(bits))


def layer_backward_scratch(n: int, T: int, d: int, chunks: int) -> int:
    """Elements of scratch ``attention_layer_backward_chunks`` needs: each chunk's gradients of
    both projections, ∂L/∂out_h and ∂L/∂qkv for the batch, and each chunk's dSᵀ and work rows."""
    return chunks * (4 * d * d + 4 * d + T * T + 2 * T) + 4 * n * T * d


@njit(cache=True, nogil=True, parallel=True)
def attention_layer_backward_chunks(
    x, W_in, out_h, W_out, g, qkv, AT, heads, grad_x, need_grad_x, chunks, scratch, gW_in,
    gb_in, gW_out, gb_out,
):  # fmt: skip
    """The layer's backward pass, one chunk of the batch per thread: the output projection's
    gradients and ∂L/∂out_h, the heads' ∂L/∂qkv, the input projection's gradients and ∂L/∂x,
    each for the chunk's rows (x, g, grad_x are (n·T, d) rows; out_h, qkv (n, T, ·)).

    Everything else lies in ``scratch`` (``layer_backward_scratch`` elements): per chunk W_out's
    and b_out's gradients, then W_in's and b_in's, then ∂L/∂out_h and ∂L/∂qkv, then per chunk
    dSᵀ and the work rows. The chunks' weight and bias gradients are summed after, in chunk
    order. Few arguments, so that a call makes few records."""
    n, T, d3 = qkv.shape
    d = d3 // 3
    s_out, s_in = d * d + d, d3 * d + d3
    at_in = chunks * s_out
    at_dO = at_in + chunks * s_in
    at_dqkv = at_dO + n * T * d
    at_dST = at_dqkv + n * T * d3
    at_work = at_dST + chunks * T * T
    if scratch.size < at_work + chunks * 2 * T:
        raise ValueError("attention_layer_backward_chunks: scratch is smaller than it needs")
    for c in prange(chunks):
        lo, hi = bounds(n, c, chunks)
        r0, rows = lo * T, (hi - lo) * T
        o_at, i_at = c * s_out, at_in + c * s_in
        dO = mat(scratch, at_dO + r0 * d, rows, d)
        dqkv = mat(scratch, at_dqkv + r0 * d3, rows, d3)
        core.dense_backward(
            mat(flat(out_h), r0 * d, rows, d), W_out, g[r0 : r0 + rows],
            mat(scratch, o_at, d, d), scratch[o_at + d * d :][:d], dO, True,
        )  # fmt: skip
        attention_backward(
            dO, qkv[lo:hi], AT[lo:hi], heads, dqkv, mat(scratch, at_dST + c * T * T, T, T),
            mat(scratch, at_work + c * 2 * T, 2, T),
        )  # fmt: skip
        core.dense_backward(
            x[r0 : r0 + rows], W_in, dqkv, mat(scratch, i_at, d3, d),
            scratch[i_at + d3 * d :][:d3], grad_x[r0 : r0 + rows], need_grad_x,
        )  # fmt: skip
    sum_parts(scratch, 0, s_out, chunks, flat(gW_out))
    sum_parts(scratch, d * d, s_out, chunks, gb_out)
    sum_parts(scratch, at_in, s_in, chunks, flat(gW_in))
    sum_parts(scratch, at_in + d3 * d, s_in, chunks, gb_in)


LAYER_FORWARD_CHUNKS = Site(
    attention_layer_forward_chunks,
    (core.dense_forward, attention_forward),
    _layer_forward_types,
)
