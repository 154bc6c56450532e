"""Numba CPU kernels of pooling: max and average over k×k windows, NCHW as PyTorch.

The kernels are serial; the ``*_chunks`` drivers split a batch into chunks, one per Numba thread,
each running the serial kernel on its own samples (see ``conv`` for why not a parallel loop over
everything). Their CUDA twins are ``engine.kernels.cuda.pool``.
"""

from __future__ import annotations

from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu.chunks import bounds
from engine.kernels.cpu.views import flat


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _maxpool2x2(x, out, argmax):
    """The common case, 2×2 windows at stride 2, unrolled over each window's two rows."""
    n, c, _, w = x.shape
    _, _, oh, ow = out.shape
    for i in range(n):
        for ch in range(c):
            for oy in range(oh):
                top, bottom = x[i, ch, 2 * oy], x[i, ch, 2 * oy + 1]
                best, where = out[i, ch, oy], argmax[i, ch, oy]
                for ox in range(ow):
                    a, b = top[2 * ox], top[2 * ox + 1]
                    cc, d = bottom[2 * ox], bottom[2 * ox + 1]
                    m, at = (b, 1) if b > a else (a, 0)
                    m, at = (cc, w) if cc > m else (m, at)
                    m, at = (d, w + 1) if d > m else (m, at)
                    best[ox] = m
                    where[ox] = 2 * oy * w + 2 * ox + at


@njit(cache=True, nogil=True, error_model="numpy")
def maxpool2d_forward(x, k, stride, out, argmax):
    """out[i, c, y, x] = max over the k×k window; argmax keeps the flat index of the winner
    (the first one, scanning rows, where several tie)."""
    n, c, _, w = x.shape
    _, _, oh, ow = out.shape
    if k == 2 and stride == 2:
        _maxpool2x2(x, out, argmax)
        return
    for i in range(n):
        for ch in range(c):
            plane = x[i, ch]
            for oy in range(oh):
                for ox in range(ow):
                    y0, x0 = oy * stride, ox * stride
                    best, where = plane[y0, x0], y0 * w + x0
                    for dy in range(k):
                        for dx in range(k):
                            v = plane[y0 + dy, x0 + dx]
                            better = v > best  # a select, not a branch: random data mispredicts
                            best = v if better else best
                            where = (y0 + dy) * w + x0 + dx if better else where
                    out[i, ch, oy, ox] = best
                    argmax[i, ch, oy, ox] = where


@njit(cache=True, nogil=True, error_model="numpy")
def maxpool2d_backward(grad_out, argmax, grad_x):
    """Routes each window's gradient to the input that won the max; the others get 0."""
    n, c, h, w = grad_x.shape
    grad_x[...] = 0.0
    for i in range(n):
        for ch in range(c):
            plane = grad_x[i, ch].reshape(h * w)  # argmax holds flat indices into the plane
            g, where = flat(grad_out[i, ch]), flat(argmax[i, ch])
            for k in range(g.size):
                plane[where[k]] += g[k]


@njit(cache=True, nogil=True)
def avgpool2d_forward(x, k, stride, out):
    """out[i, c, y, x] = mean of the k×k window."""
    n, c, _, _ = x.shape
    _, _, oh, ow = out.shape
    for i in range(n):
        for ch in range(c):
            for oy in range(oh):
                for ox in range(ow):
                    s = 0.0
                    for dy in range(k):
                        for dx in range(k):
                            s += x[i, ch, oy * stride + dy, ox * stride + dx]
                    out[i, ch, oy, ox] = s / (k * k)


@njit(cache=True, nogil=True)
def avgpool2d_backward(grad_out, k, stride, grad_x):
    """Spreads each window's gradient evenly, 1/k² to every input of the window."""
    n, c, h, w = grad_x.shape
    _, _, oh, ow = grad_out.shape
    for i in range(n):
        for ch in range(c):
            for iy in range(h):
                for ix in range(w):
                    grad_x[i, ch, iy, ix] = 0.0
            for oy in range(oh):
                for ox in range(ow):
                    g = grad_out[i, ch, oy, ox] / (k * k)
                    for dy in range(k):
                        for dx in range(k):
                            grad_x[i, ch, oy * stride + dy, ox * stride + dx] += g


# --------------------------------------------------------------------------- batch chunks


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def maxpool2d_forward_chunks(x, k, stride, out, argmax, chunks):
    """``maxpool2d_forward``, one chunk of the batch per thread."""
    for c in prange(chunks):
        lo, hi = bounds(x.shape[0], c, chunks)
        maxpool2d_forward(x[lo:hi], k, stride, out[lo:hi], argmax[lo:hi])


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def maxpool2d_backward_chunks(grad_out, argmax, grad_x, chunks):
    """``maxpool2d_backward``, one chunk of the batch per thread."""
    for c in prange(chunks):
        lo, hi = bounds(grad_x.shape[0], c, chunks)
        maxpool2d_backward(grad_out[lo:hi], argmax[lo:hi], grad_x[lo:hi])
