"""A batch split into chunks, one per Numba thread: the helpers the ``*_chunks`` kernels share.

The convolution, pooling and recurrent layers run a batch as C chunks of equal size on C threads
(``CPUBackend.batch_chunks`` picks C), each chunk through the serial kernel on its own samples;
the weight gradients each chunk computes are summed after.
"""

from __future__ import annotations

from numba import njit

from engine import _numba_setup  # noqa: F401


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
