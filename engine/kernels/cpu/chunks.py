"""A batch split into chunks, one per Numba thread: the helpers the ``*_chunks`` kernels share.

The convolution, pooling and recurrent layers run a batch as C chunks of equal size on C threads
(``CPUBackend.batch_chunks`` picks C), each chunk through the serial kernel on its own samples;
the weight gradients each chunk computes are summed after.
"""

from __future__ import annotations

from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu import fused
from engine.kernels.cpu.core import CHUNK


@njit(cache=True, nogil=True, inline="always")
def bounds(n, c, chunks):
    """Chunk c of ``chunks`` holds samples [lo, hi) of a batch of n."""
    return n * c // chunks, n * (c + 1) // chunks


@njit(cache=True, nogil=True, error_model="numpy")
def sum_chunks(partial, out):
    """out = Σ_c partial[c]: the gradients of the C chunks, each from its own samples."""
    flat, total = partial.reshape(partial.shape[0], -1), out.reshape(-1)
    total[:] = flat[0]
    for c in range(1, flat.shape[0]):
        total += flat[c]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mean_rows(flat, lo, hi, total):
    """total[lo:hi] = (Σ_c flat[c, lo:hi]) / C. Each row is taken as ``flat[c, lo:hi]``, which
    Numba knows is contiguous: a 2-D slice ``flat[:, lo:hi]`` has unknown strides, its loops do
    not vectorise, and the parallel mean took twice as long as the serial one."""
    share = total.dtype.type(1.0 / flat.shape[0])
    out, first = total[lo:hi], flat[0, lo:hi]
    for i in range(hi - lo):
        out[i] = first[i]
    for c in range(1, flat.shape[0]):
        row = flat[c, lo:hi]
        for i in range(hi - lo):
            out[i] += row[i]
    for i in range(hi - lo):
        out[i] *= share


@njit(cache=True, nogil=True, error_model="numpy")
def mean_chunks(partial, out):
    """out = (Σ_c partial[c]) / C: the mean of C equal chunks' gradients, each the gradient of
    its own chunk's mean loss."""
    flat, total = partial.reshape(partial.shape[0], -1), out.reshape(-1)
    _mean_rows(flat, 0, total.size, total)


@njit(cache=True, nogil=True, parallel=True)
def mean_chunks_par(partial, out):
    """``mean_chunks`` over slices of ``CHUNK`` elements in parallel, for large gradients."""
    flat, total = partial.reshape(partial.shape[0], -1), out.reshape(-1)
    n = total.size
    for s in prange((n + CHUNK - 1) // CHUNK):
        _mean_rows(flat, s * CHUNK, min(n, (s + 1) * CHUNK), total)


@njit(cache=True, nogil=True, parallel=True)
def mlp_loss_and_grad_chunks(
    x, y, labels, data, parts, ws, plan, alphas, spots, loss, huber_delta, kinds, out
):
    """``fused.mlp_loss_and_grad`` on C equal chunks of the batch, one per thread, each with its
    own workspace ``ws[c]`` and gradient ``parts[c]``; the chunks' outputs go to ``out``.

    ``loss`` and ``kinds`` as there: compiled for constants, only what the network uses.
    Returns the batch's mean loss (the mean of the chunks' means); ``mean_chunks`` then makes the
    batch's gradient. Nothing is shared between the chunks but the weights they read, so a
    step is one parallel region with one join, and each thread's products run on one core.
    """
    chunks = ws.shape[0]
    n = x.shape[0]
    width = out.shape[1]
    total = 0.0
    for c in prange(chunks):
        lo, hi = bounds(n, c, chunks)
        yc = y[lo:hi] if y.shape[0] == n else y
        lc = labels[lo:hi] if labels.shape[0] == n else labels
        w = ws[c]
        value = fused.mlp_loss_and_grad(
            x[lo:hi], yc, lc, data, parts[c], w, plan, alphas, spots, loss, huber_delta, kinds
        )
        start = spots[fused.SPOT_OUT]
        out[lo:hi] = w[start : start + (hi - lo) * width].reshape((hi - lo, width))
        total += value
    return total / chunks
