"""A batch split into chunks, one per Numba thread: the helpers the ``*_chunks`` kernels share.

A Dense layer of a network whose step runs BLAS on one thread (one with convolutions, recurrent
layers or attention) splits its products the same way when they are large
(``dense_forward_chunks``, ``dense_backward_chunks``, its chunks' weight gradients summed after),
so that a transformer's projections and feed-forward layers use every core.

The convolution, pooling and recurrent layers run a batch as C chunks of equal size on C threads
(``CPUBackend.batch_chunks`` picks C), each chunk through the serial kernel on its own samples;
the weight gradients each chunk computes are summed after. A Dense network's fused step
(``mlp_loss_and_grad_chunks``) instead keeps each chunk's δ and makes the weight gradients from
all of them at once, each thread its share of the rows, and can take Adam's or SGD's update of
those rows right after, all in one parallel region (``engine.kernels.cpu.atomics``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu import core, fused
from engine.kernels.cpu.atomics import LINE, claim, done, wait_for
from engine.kernels.cpu.blas import gemm
from engine.kernels.cpu.optim import adam_step, sgd_step
from engine.kernels.cpu.views import flat, mat

ADAM = 1.0
"""``hyper[0]`` of a split step that also takes Adam's (or AdamW's) update (``update_rows``)."""
SGD = 2.0
"""``hyper[0]`` of a split step that also takes SGD's update, with or without momentum."""


@njit(cache=True, nogil=True, inline="always")
def bounds(n, c, chunks):
    """Chunk c of ``chunks`` holds samples [lo, hi) of a batch of n."""
    return n * c // chunks, n * (c + 1) // chunks


@njit(cache=True, nogil=True, error_model="numpy")
def sum_chunks(partial, out):
    """out = Σ_c partial[c]: the gradients of the C chunks, each from its own samples."""
    sum_parts(flat(partial), 0, out.size, partial.shape[0], flat(out))


@njit(cache=True, nogil=True, parallel=True)
def dense_forward_chunks(x, W, b, z, chunks):
    """``core.dense_forward`` (z = x Wᵀ + b) on ``chunks`` threads, a block of the batch each."""
    for c in prange(chunks):
        lo, hi = bounds(x.shape[0], c, chunks)
        core.dense_forward(x[lo:hi], W, b, z[lo:hi])


@njit(cache=True, nogil=True, parallel=True)
def dense_backward_chunks(x, W, delta, grad_W, grad_b, grad_x, need_grad_x, chunks, parts):
    """``core.dense_backward`` on ``chunks`` threads, a block of the batch each: chunk c's
    weight and bias gradients go to ``parts`` (flat scratch: chunk c's ∂W then its ∂b from
    c · (m·k + m)) and are summed after, in chunk order; its rows of grad_x = δ W straight into
    place.

    Each thread reads only its own rows of x and δ. Split by rows of ∂W instead (every sum the
    serial kernel's), each thread read all of x and δ, and a transformer's step took 1.6 ms
    longer (17.2 against 15.6 ms on two cores)."""
    m, k = W.shape
    stride = m * k + m
    if parts.size < chunks * stride:
        raise ValueError("dense_backward_chunks: parts holds less than chunks · (m·k + m)")
    for c in prange(chunks):
        lo, hi = bounds(x.shape[0], c, chunks)
        gW, gb = mat(parts, c * stride, m, k), parts[c * stride + m * k :][:m]
        core.dense_backward(x[lo:hi], W, delta[lo:hi], gW, gb, grad_x[lo:hi], need_grad_x)
    sum_parts(parts, 0, stride, chunks, flat(grad_W))
    sum_parts(parts, m * k, stride, chunks, grad_b)


LINE_ELEMENTS = 16
"""Elements of a cache line (64 bytes of float32) on which ``units``'s blocks start."""


@njit(cache=True, nogil=True, inline="always")
def units(m, c, chunks):
    """Block c of ``chunks`` of m units (columns): [lo, hi), each edge inside moved to the nearest
    ``LINE_ELEMENTS`` boundary, so that threads seldom write one cache line of a row; a block
    may be empty where m is small."""
    return _edge(m, c, chunks), _edge(m, c + 1, chunks)


@njit(cache=True, nogil=True, inline="always")
def _edge(m, c, chunks):
    """Where block c starts: 0, m, or m·c/chunks moved to the nearest line, never past m (so
    edges never decrease with c)."""
    if c <= 0:
        return 0
    if c >= chunks:
        return m
    even = m * c // chunks
    return min(m, (even + LINE_ELEMENTS // 2) // LINE_ELEMENTS * LINE_ELEMENTS)


@njit(cache=True, nogil=True, parallel=True)
def dense_forward_units(x, W, b, z, chunks):
    """``core.dense_forward`` (z = x Wᵀ + b) on ``chunks`` threads, a block J of the output units
    each: z[:, J] = x W[J]ᵀ + b[J]. For a batch with too few rows to split between the threads
    (``dense_forward_chunks``): each thread reads all of x and only its rows of W, the larger
    operand, which a split by rows would read in full on every thread. No sum is split: each runs
    in the serial kernel's order (the same bits where BLAS takes the same routine for a block as
    for the whole, as it does for blocks of 16 units or more). x, W and z C-contiguous."""
    for c in prange(chunks):
        lo, hi = units(W.shape[0], c, chunks)
        _forward_units(x, W, b, z, lo, hi)


@njit(cache=True, nogil=True)
def _forward_units(x, W, b, z, lo, hi):
    """z[:, lo:hi] = x W[lo:hi]ᵀ + b[lo:hi] (a kernel of its own: the BLAS call may raise, and a
    ``prange`` body that can leave early runs serially)."""
    if hi <= lo:
        return
    n, k = x.shape
    m = W.shape[0]
    coef = np.zeros(2, z.dtype)  # gemm's α, β
    coef[0] = 1.0
    gemm(False, True, n, hi - lo, k, coef, flat(x), 0, k, flat(W), lo * k, k, flat(z), lo, m)
    for i in range(n):
        for j in range(lo, hi):
            z[i, j] += b[j]


@njit(cache=True, nogil=True, parallel=True)
def dense_backward_units(x, W, delta, grad_W, grad_b, grad_x, need_grad_x, chunks):
    """``core.dense_backward`` on ``chunks`` threads for a batch with too few rows to split
    (``dense_backward_chunks``): each thread makes a block J of the units' rows of
    ∂W = δᵀ x and of ∂b, then a block K of the columns of ∂x = δ W (∂x[:, K] = δ W[:, K]).
    No thread adds into another's output, so nothing is summed after, and no sum is split (see
    ``dense_forward_units``). All arrays C-contiguous."""
    for c in prange(chunks):
        lo, hi = units(W.shape[0], c, chunks)
        first, last = units(W.shape[1], c, chunks) if need_grad_x else (0, 0)
        _backward_units(x, W, delta, grad_W, grad_b, grad_x, lo, hi, first, last)


@njit(cache=True, nogil=True)
def _backward_units(x, W, delta, grad_W, grad_b, grad_x, lo, hi, first, last):
    """Rows [lo, hi) of ∂W = δᵀ x and of ∂b, and columns [first, last) of ∂x = δ W."""
    n, k = x.shape
    m = W.shape[0]
    coef = np.zeros(2, delta.dtype)
    coef[0] = 1.0
    fd = flat(delta)
    if hi > lo:
        gemm(True, False, hi - lo, k, n, coef, fd, lo, m, flat(x), 0, k, flat(grad_W), lo * k, k)
        for j in range(lo, hi):
            grad_b[j] = 0.0
        for i in range(n):
            for j in range(lo, hi):
                grad_b[j] += delta[i, j]
    if last > first:
        gemm(False, False, n, last - first, m, coef, fd, 0, m, flat(W), first, k,
             flat(grad_x), first, k)  # fmt: skip


@njit(cache=True, nogil=True)
def sum_parts(parts, start, stride, chunks, out):
    """out = Σ_c parts[start + c·stride :][: out.size], added in chunk order: the chunks' own
    gradients of one array, kept ``stride`` apart in a flat scratch array."""
    size = out.size
    first = parts[start:][:size]
    for i in range(size):
        out[i] = first[i]
    for c in range(1, chunks):
        part = parts[start + c * stride :][:size]
        for i in range(size):
            out[i] += part[i]


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def relu_forward_chunks(z, a, chunks):
    """ReLU's forward kernel (``core._relu_forward``) on ``chunks`` threads, a block of rows each:
    the general ``activation_forward_par`` compiles every activation, a second or more on a
    first start, this one only ReLU's."""
    for c in prange(chunks):
        lo, hi = bounds(z.shape[0], c, chunks)
        core._relu_forward(z[lo:hi], a[lo:hi], 0.0)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def relu_backward_chunks(z, grad_a, grad_z, chunks):
    """ReLU's backward kernel (``core._relu_backward``) the same way."""
    for c in prange(chunks):
        lo, hi = bounds(z.shape[0], c, chunks)
        core._relu_backward(z[lo:hi], z[lo:hi], grad_a[lo:hi], grad_z[lo:hi], 0.0)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def cross_entropy_loss_chunks(z, labels, grad, each, chunks):
    """``core.cross_entropy_loss``, a block of the rows on each of ``chunks`` threads. Each row's
    loss goes to ``each`` (float64, a row or more), and they are added after, in order: the
    serial kernel's sum, to the bit."""
    n = z.shape[0]
    for c in prange(chunks):
        lo, hi = bounds(n, c, chunks)
        for i in range(lo, hi):
            each[i] = core._cross_entropy_row(z[i], labels[i], grad[i], n)
    total = 0.0
    for i in range(n):
        total += each[i]
    return total / n


@njit(cache=True, nogil=True)
def weight_rows(x, grad, ws, plan, l, r0, r1, coefs):
    """Rows [r0, r1) of layer l's weight and bias gradients from every chunk's kept δ."""
    chunks = ws.shape[0]
    n = x.shape[0]
    nc = n // chunks
    fan_in, w_off, b_off = plan[l, 0], plan[l, 2], plan[l, 3]
    rows = r1 - r0
    if rows <= 0:
        return
    flat_x = flat(x)
    for c in range(chunks):
        w = ws[c]
        at = plan[l, 7] + r0 * nc  # δ_c rows r0..r1, each nc long
        if l == 0:  # a = x's rows of the chunk, (nc, fan_in)
            gemm(False, False, rows, fan_in, nc, coefs[c], w, at, nc, flat_x, c * nc * fan_in,
                 fan_in, grad, w_off + r0 * fan_in, fan_in)  # fmt: skip
        else:  # a = the layer below's activations, feature-major (fan_in, nc)
            gemm(False, True, rows, fan_in, nc, coefs[c], w, at, nc, w, plan[l - 1, 5], nc,
                 grad, w_off + r0 * fan_in, fan_in)  # fmt: skip
    for j in range(r0, r1):  # ∂L/∂b_j = (1/C) Σ_c Σ δ_c[j], summed in float64
        at = plan[l, 7] + j * nc
        s = 0.0
        for c in range(chunks):
            s += fused._row_sum(ws[c, at : at + nc])
        grad[b_off + j] = s * coefs[0, 0]


@njit(cache=True, nogil=True)
def update_rows(data, grad, m, v, hyper, plan, l, r0, r1):
    """The optimiser's update of rows [r0, r1) of layer l's weights and biases, as
    ``hyper[0]`` says: 0 none; ``ADAM`` Adam or AdamW (``optim.adam_step``, its arguments
    lr, β₁, β₂, ε, weight decay, decoupled, t in ``hyper[1:8]``); ``SGD`` (``optim.sgd_step``:
    lr, momentum, dampening, Nesterov, weight decay, first step in ``hyper[1:7]``, the
    momentum buffer in ``m``)."""
    if r1 <= r0 or (hyper[0] != ADAM and hyper[0] != SGD):
        return
    fan_in, w_off, b_off = plan[l, 0], plan[l, 2], plan[l, 3]
    for s, e in ((w_off + r0 * fan_in, w_off + r1 * fan_in), (b_off + r0, b_off + r1)):
        if hyper[0] == ADAM:
            adam_step(data[s:e], grad[s:e], m[s:e], v[s:e], hyper[1], hyper[2], hyper[3],
                      hyper[4], hyper[5], hyper[6] != 0.0, hyper[7])  # fmt: skip
        else:
            sgd_step(data[s:e], grad[s:e], m[s:e], hyper[1], hyper[2], hyper[3],
                     hyper[4] != 0.0, hyper[5], hyper[6] != 0.0)  # fmt: skip


CLAIM_CHUNK, CHUNK_DONE, CLAIM_ROWS, ROWS_DONE, FAILED = 0, LINE, 2 * LINE, 3 * LINE, 4 * LINE
"""``sync``'s counters (``engine.kernels.cpu.atomics``), each on a cache line of its own."""
SYNC_SIZE = 5 * LINE


@njit(cache=True, nogil=True)
def _chunk(c, x, y, labels, data, ws, plan, alphas, spots, loss, huber_delta, kinds, out):
    """Forward, loss and the backward pass of δ for chunk c, in its workspace ``ws[c]``; its
    outputs go to its rows of ``out``. Returns the chunk's mean loss."""
    chunks, n, width = ws.shape[0], x.shape[0], out.shape[1]
    lo, hi = bounds(n, c, chunks)
    yc = y[lo:hi] if y.shape[0] == n else y
    lc = labels[lo:hi] if labels.shape[0] == n else labels
    w = ws[c]
    value = fused._loss_and_deltas(
        x[lo:hi], yc, lc, data, w, plan, alphas, spots, loss, huber_delta, kinds
    )
    fused._copy(mat(w, spots[fused.SPOT_OUT], hi - lo, width), out[lo:hi])
    return value


@njit(cache=True, nogil=True)
def _mean_loss(losses):
    """The batch's mean loss from the chunks' means, added in chunk order: every thread's test
    of it and the value returned are the same number."""
    total = 0.0
    for c in range(losses.size):
        total += losses[c]
    return total / losses.size


@njit(cache=True, nogil=True)
def _share(x, y, labels, data, grad, ws, plan, alphas, spots, loss, huber_delta, kinds, out,
           coefs, m, v, hyper, sync, losses):  # fmt: skip
    """One thread's part of ``mlp_loss_and_grad_chunks``: chunks while any is unclaimed, then,
    once every chunk is done, blocks of gradient rows while any is unclaimed; it returns when
    every block is done, so that no thread sleeps at the region's end waiting for another.

    A piece that raises still counts as done, and ``sync[FAILED]`` says so: the other threads
    must not wait for it forever, and the kernel raises once the region is over."""
    chunks = ws.shape[0]
    c = claim(sync, CLAIM_CHUNK)
    while c < chunks:
        try:
            losses[c] = _chunk(c, x, y, labels, data, ws, plan, alphas, spots, loss,
                               huber_delta, kinds, out)  # fmt: skip
        except Exception:  # counted, and raised again once the region is over
            losses[c] = math.nan
            done(sync, FAILED)
        done(sync, CHUNK_DONE)
        c = claim(sync, CLAIM_CHUNK)
    wait_for(sync, CHUNK_DONE, chunks)
    finite = math.isfinite(_mean_loss(losses))
    b = claim(sync, CLAIM_ROWS)
    while b < chunks:
        try:
            for l in range(plan.shape[0]):
                r0, r1 = bounds(plan[l, 1], b, chunks)
                weight_rows(x, grad, ws, plan, l, r0, r1, coefs)
                if finite:
                    update_rows(data, grad, m, v, hyper, plan, l, r0, r1)
        except Exception:
            done(sync, FAILED)
        done(sync, ROWS_DONE)
        b = claim(sync, CLAIM_ROWS)
    wait_for(sync, ROWS_DONE, chunks)


@njit(cache=True, nogil=True, parallel=True)
def mlp_loss_and_grad_chunks(
    x, y, labels, data, grad, ws, plan, alphas, spots, loss, huber_delta, kinds, out, coefs,
    m, v, hyper, sync, losses,
):  # fmt: skip
    """A Dense network's step (``fused.mlp_loss_and_grad``) on C equal chunks of the batch, one
    per thread, each in its own workspace ``ws[c]``; the chunks' outputs go to ``out``, the
    batch's gradient to ``grad``, and where ``hyper[0]`` names an optimiser (``update_rows``)
    its update to ``data``, its state in ``m`` and ``v``. ``sync`` (``SYNC_SIZE`` int64) holds
    the threads' counters, ``losses`` (C float64) the chunks' mean losses.

    ``loss`` and ``kinds`` as there: compiled for constants, only what the network uses.
    Returns the batch's mean loss (the mean of the chunks' means). Two rounds in one parallel
    region (``_share``; ``engine.kernels.cpu.atomics`` says why one):

    1. each thread runs forward, loss and the backward pass of δ through the layers on a chunk,
       its products on one core, and leaves every layer's δ in that chunk's workspace;
    2. when all the chunks are done, each thread makes a block of every layer's rows of the
       weight gradient, ∂L/∂W = (1/C) Σ_c δ_c a_cᵀ, one product per chunk added into place
       (``coefs[c]``: α = 1/C, β = 0 for the first chunk, 1 after), and of the bias gradient;
       then, unless the loss is not finite (the step is then not taken), updates those rows
       while they are in its cache.

    Which thread runs which chunk or block changes nothing: each is computed the same way
    wherever it runs, and the chunks' losses are added in order.

    A gradient per chunk, averaged after, would write and read the whole gradient C + 1 more
    times: 25 MB a step for a 1024-wide network, where the products alone take 15 ms. An update
    of its own would wake the threads again and read the gradient again from memory.
    """
    chunks = ws.shape[0]
    for i in range(sync.size):
        sync[i] = 0
    for _t in prange(chunks):
        _share(x, y, labels, data, grad, ws, plan, alphas, spots, loss, huber_delta, kinds, out,
               coefs, m, v, hyper, sync, losses)  # fmt: skip
    if sync[FAILED]:
        raise RuntimeError("the split fused step failed on one of its threads")
    return _mean_loss(losses)
