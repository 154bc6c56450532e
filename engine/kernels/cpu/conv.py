"""Numba CPU kernels of convolution (pooling: ``pool``; normalisation: ``norm``).

Layout is PyTorch's NCHW: a batch ``x`` is ``(n, c, h, w)``; a convolution's weight is
``(out_c, in_c, kh, kw)``. A convolution is computed as im2col followed by one matrix product.
The kernels are serial; the ``*_chunks`` drivers at the end split a batch into chunks, one per
Numba thread, each running the serial kernel on its own samples with BLAS on one thread (the
caller sees to that): a Numba parallel region beside a multithreaded BLAS leaves two thread
pools spinning on the same cores, which made a LeNet step thirty times slower.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu.blas import gemm as _gemm
from engine.kernels.cpu.chunks import bounds


@njit(cache=True, nogil=True, inline="always")
def _span(size, out_size, k_off, stride, pad):
    """The output positions o with 0 ≤ o·stride − pad + k_off < size, as a range [lo, hi)."""
    lo = min(max(0, -((k_off - pad) // stride)), out_size)
    hi = max(lo, min(out_size, (size - 1 + pad - k_off) // stride + 1))
    return lo, hi


@njit(cache=True, nogil=True, error_model="numpy")
def im2col(x, kh, kw, stride, pad, oh, ow, cols):
    """cols[(c·kh + dy)·kw + dx, i, y·ow + x] = x_padded[i, c, y·s + dy, x·s + dx].

    One row of ``cols`` per weight position, holding what that weight multiplies at every output
    position of the batch, so the convolution is one product W (out_c, c·kh·kw) · cols. Each
    output row is a run read from one input row, with the padding's zeros at its ends.
    """
    n, c, h, w = x.shape
    src, out = x.reshape(-1), cols.reshape(-1)
    for ch in range(c):
        for dy in range(kh):
            for dx in range(kw):
                r = (ch * kh + dy) * kw + dx
                lo, hi = _span(w, ow, dx, stride, pad)
                for i in range(n):
                    for oy in range(oh):
                        o = ((r * n + i) * oh + oy) * ow
                        iy = oy * stride - pad + dy
                        if iy < 0 or iy >= h:
                            lo_, hi_ = ow, ow
                        else:
                            lo_, hi_ = lo, hi
                        s = ((i * c + ch) * h + iy) * w - pad + dx
                        for ox in range(lo_):
                            out[o + ox] = 0.0
                        for ox in range(lo_, hi_):
                            out[o + ox] = src[s + ox * stride]
                        for ox in range(hi_, ow):
                            out[o + ox] = 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def col2im(dcols, kh, kw, stride, pad, oh, ow, grad_x):
    """The adjoint of im2col: grad_x[i, c, iy, ix] = Σ over the entries of cols that read it."""
    n, c, h, w = grad_x.shape
    src, out = dcols.reshape(-1), grad_x.reshape(-1)
    out[:] = 0.0
    for ch in range(c):
        for dy in range(kh):
            for dx in range(kw):
                r = (ch * kh + dy) * kw + dx
                lo, hi = _span(w, ow, dx, stride, pad)
                for i in range(n):
                    for oy in range(oh):
                        iy = oy * stride - pad + dy
                        if 0 <= iy < h:
                            o = ((r * n + i) * oh + oy) * ow
                            d = ((i * c + ch) * h + iy) * w - pad + dx
                            for ox in range(lo, hi):
                                out[d + ox * stride] += src[o + ox]


@njit(cache=True, nogil=True, error_model="numpy")
def pad_planes(x, pad, xpad):
    """xpad[i, c, (y + pad)·wp + x + pad] = x[i, c, y, x], zeros around (and in the slack at the
    end of each plane, which the shifted rows of ``shifted_cols`` read past the last row)."""
    n, c, h, w = x.shape
    wp = w + 2 * pad
    xpad[...] = 0.0
    for i in range(n):
        for ch in range(c):
            src, out = x[i, ch], xpad[i, ch]
            for y in range(h):
                o = (y + pad) * wp + pad
                for xx in range(w):
                    out[o + xx] = src[y, xx]


@njit(cache=True, nogil=True, error_model="numpy")
def shifted_cols(xpad, kh, kw, wp, cols):
    """Stride 1: cols[(c·kh + dy)·kw + dx, i, q] = xpad[i, c, q + dy·wp + dx], q < oh·wp.

    On the padded grid, output (y, x) sits at q = y·wp + x and reads input q + dy·wp + dx, so each
    row of im2col is one long contiguous run. Positions with x ≥ ow are computed and dropped.
    """
    n, c, _ = xpad.shape
    q = cols.shape[2]
    for ch in range(c):
        for dy in range(kh):
            for dx in range(kw):
                r = (ch * kh + dy) * kw + dx
                off = dy * wp + dx
                for i in range(n):
                    src, out = xpad[i, ch], cols[r, i]
                    for j in range(q):
                        out[j] = src[off + j]


@njit(cache=True, nogil=True, error_model="numpy")
def shifted_cols_adjoint(dcols, kh, kw, wp, dxpad):
    """The adjoint of ``shifted_cols``: dxpad[i, c, q + dy·wp + dx] += dcols[r, i, q]."""
    n, c, _ = dxpad.shape
    q = dcols.shape[2]
    dxpad[...] = 0.0
    for ch in range(c):
        for dy in range(kh):
            for dx in range(kw):
                r = (ch * kh + dy) * kw + dx
                off = dy * wp + dx
                for i in range(n):
                    src, out = dcols[r, i], dxpad[i, ch]
                    for j in range(q):
                        out[off + j] += src[j]


@njit(cache=True, nogil=True, error_model="numpy")
def conv2d_forward(x, W, b, stride, pad, xpad, cols, zt, z):
    """z[i, o, y, x] = Σ_{c,dy,dx} W[o, c, dy, dx] · x_pad[i, c, y·s + dy, x·s + dx] + b[o].

    Workspaces: ``cols`` (c·kh·kw, n, P) and ``zt`` (out_c, n, P), where P = oh·wp at stride 1
    (``shifted_cols``, through ``xpad`` (n, c, hp·wp + kw)) and oh·ow otherwise (``im2col``).
    ``cols`` is kept for the backward pass.
    """
    oc, _, kh, kw = W.shape
    ckk = cols.shape[0]
    n, _, oh, ow = z.shape
    if stride == 1:
        wp = x.shape[3] + 2 * pad
        pad_planes(x, pad, xpad)
        shifted_cols(xpad, kh, kw, wp, cols)
    else:
        wp = ow
        im2col(x, kh, kw, stride, pad, oh, ow, cols)
    np.dot(W.reshape(oc, ckk), cols.reshape(ckk, -1), zt.reshape(oc, -1))
    for i in range(n):
        for o in range(oc):
            src, out = zt[o, i], z[i, o]
            for y in range(oh):
                for xx in range(ow):
                    out[y, xx] = src[y * wp + xx] + b[o]


# A first layer's weight gradient, (out_c × c·kh·kw) with c·kh·kw as small as 9, is a product
# over tens of thousands of positions; BLAS packs both long operands for it and runs at a third of
# its speed on one thread. Up to this many weights, ``_grad_w_small`` does it directly.
SMALL_GRAD_W = 512


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _grad_w_small(a, b, out):
    """out = a bᵀ for a (m, N), b (k, N), small m·k and long N: dot products over chunks of N
    (held in L1), four rows of ``a`` against each row of ``b`` at a time, summed in vector lanes."""
    m, total = a.shape
    k = b.shape[0]
    zero = a.dtype.type(0)
    out[...] = 0.0
    for s in range(0, total, 512):
        e = min(total, s + 512)
        i = 0
        while i + 4 <= m:
            a0, a1, a2, a3 = a[i, s:e], a[i + 1, s:e], a[i + 2, s:e], a[i + 3, s:e]
            for j in range(k):
                bj = b[j, s:e]
                c0, c1, c2, c3 = zero, zero, zero, zero
                for q in range(e - s):
                    v = bj[q]
                    c0 += a0[q] * v
                    c1 += a1[q] * v
                    c2 += a2[q] * v
                    c3 += a3[q] * v
                out[i, j] += c0
                out[i + 1, j] += c1
                out[i + 2, j] += c2
                out[i + 3, j] += c3
            i += 4
        for r in range(i, m):
            ar = a[r, s:e]
            for j in range(k):
                bj = b[j, s:e]
                c0 = zero
                for q in range(e - s):
                    c0 += ar[q] * bj[q]
                out[r, j] += c0


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _delta_rows(delta, wp, dzt, grad_b):
    """dzt[o, i, y·wp + x] = δ[i, o, y, x] (0 at the dropped x ≥ ow) and grad_b[o] = Σ δ[·, o].

    The sum may be reassociated (``reassoc``) so that it runs in vector lanes, in the dtype of δ.
    """
    n, oc, oh, ow = delta.shape
    for o in range(oc):
        total = delta.dtype.type(0)
        for i in range(n):
            src, out = delta[i, o], dzt[o, i]
            for y in range(oh):
                row = y * wp
                for xx in range(ow):
                    v = src[y, xx]
                    out[row + xx] = v
                    total += v
                for xx in range(ow, wp):
                    out[row + xx] = 0.0
        grad_b[o] = total


@njit(cache=True, nogil=True, error_model="numpy")
def conv2d_backward(
    x, W, delta, stride, pad, xpad, cols, dzt, grad_W, grad_b, dcols, grad_x, need_x
):
    """∂L/∂W = δ colsᵀ (one product over every output position);  ∂L/∂b[o] = Σ δ[·, o];

    ∂L/∂x = the adjoint of im2col applied to Wᵀ δ. ``cols`` still holds the forward pass's;
    ``dzt`` is δ laid out as ``zt`` (zero at the dropped positions), ``xpad`` is reused for ∂L/∂x
    on the padded grid. At stride 1, where ``dcols`` has room, Wᵀ δ is never formed:
    ``_shifted_grad_x`` adds each kernel offset's product straight into the padded gradient.
    """
    oc, c, kh, kw = W.shape
    ckk = cols.shape[0]
    n, _, oh, ow = delta.shape
    wp = x.shape[3] + 2 * pad if stride == 1 else ow
    _delta_rows(delta, wp, dzt, grad_b)
    dz2 = dzt.reshape(oc, -1)
    if oc * ckk <= SMALL_GRAD_W:
        _grad_w_small(dz2, cols.reshape(ckk, -1), grad_W.reshape(oc, ckk))
    else:
        np.dot(dz2, cols.reshape(ckk, -1).T, grad_W.reshape(oc, ckk))
    if not need_x:
        return
    plane = xpad.shape[2]
    if stride == 1 and _shifted_work(oc, ckk, n * plane) <= dcols.size:
        _shifted_grad_x(W, dzt, wp, plane, dcols.reshape(-1), xpad.reshape(-1))
        grid = xpad.reshape(-1)[: c * n * plane].reshape(c, n, plane)
    else:
        np.dot(W.reshape(oc, ckk).T, dz2, dcols.reshape(ckk, -1))
        if stride != 1:
            col2im(dcols, kh, kw, stride, pad, oh, ow, grad_x)
            return
        shifted_cols_adjoint(dcols, kh, kw, wp, xpad)
        grid = xpad.transpose(1, 0, 2)
    h, w = x.shape[2], x.shape[3]
    for i in range(n):
        for ch in range(c):
            src, out = grid[ch, i], grad_x[i, ch]
            for y in range(h):
                for xx in range(w):
                    out[y, xx] = src[(y + pad) * wp + xx + pad]


@njit(cache=True, nogil=True, inline="always")
def _shifted_work(oc, ckk, columns):
    """Elements of ``_shifted_grad_x``'s workspace: δ spread over ``columns``, Wᵀ, (α, β)."""
    return oc * columns + ckk * oc + 2


@njit(cache=True, nogil=True, error_model="numpy")
def _shifted_grad_x(W, dzt, wp, plane, work, dxpad):
    """Stride 1: dxpad[c, i·plane + q + dy·wp + dx] += Σ_o W[o, c, dy, dx] · δ[o, i, q].

    The padded gradient, channel-major (c, n, plane) in ``dxpad``, is the sum over the kernel's
    offsets of Wᵀ_offset δ shifted by the offset: one gemm per offset (c × oc by oc × n·plane)
    adding into a window of ``dxpad``, which BLAS addresses in place. δ is first spread to one
    ``plane`` per image (zeros past its outputs) so that every image's block shifts the same way;
    it, Wᵀ per offset and gemm's (α, β) live in ``work``.
    """
    oc, c, kh, kw = W.shape
    _, n, p = dzt.shape
    stride = n * plane
    end_spread = oc * stride
    end_wt = _shifted_work(oc, kh * kw * c, stride) - 2
    spread = work[:end_spread].reshape(oc, n, plane)
    wt = work[end_spread:end_wt].reshape(kh * kw, c, oc)
    coef = work[end_wt : end_wt + 2]
    coef[0] = 1.0
    coef[1] = 1.0
    for o in range(oc):
        for i in range(n):
            src, out = dzt[o, i], spread[o, i]
            for q in range(p):
                out[q] = src[q]
            for q in range(p, plane):
                out[q] = 0.0
    for ch in range(c):
        for o in range(oc):
            for r in range(kh * kw):
                wt[r, ch, o] = W[o, ch, r // kw, r % kw]
    dxpad[: c * stride] = 0.0
    columns = stride - (plane - p)  # the last image's block ends at its last output
    flat_spread, flat_wt = spread.reshape(-1), wt.reshape(-1)
    for dy in range(kh):
        for dx in range(kw):
            r = dy * kw + dx
            _gemm(
                False,
                False,
                c,
                columns,
                oc,
                coef,
                flat_wt,
                r * c * oc,
                oc,
                flat_spread,
                0,
                stride,
                dxpad,
                dy * wp + dx,
                stride,
            )


# --------------------------------------------------------------------------- batch chunks
# Chunk c of C holds samples [n·c/C, n·(c+1)/C) of the batch arrays; a workspace laid out with
# the batch in its middle (``cols``, ``zt``) has a leading chunk axis instead, each chunk's block
# shaped as the serial kernel wants it for its samples. Weight gradients go to ``parts_W``,
# ``parts_b`` (one per chunk), and are summed after.


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def conv2d_forward_chunks(x, W, b, stride, pad, xpad, cols, zt, z):
    """``conv2d_forward``, one chunk of the batch per thread."""
    chunks = cols.shape[0]
    for c in prange(chunks):
        lo, hi = bounds(x.shape[0], c, chunks)
        conv2d_forward(x[lo:hi], W, b, stride, pad, xpad[lo:hi], cols[c], zt[c], z[lo:hi])


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def conv2d_backward_chunks(
    x, W, delta, stride, pad, xpad, cols, dzt, parts_W, parts_b, dcols, grad_x, need_x
):
    """``conv2d_backward``, one chunk of the batch per thread; each chunk's weight and bias
    gradients into ``parts_W[c]``, ``parts_b[c]``."""
    chunks = cols.shape[0]
    for c in prange(chunks):
        lo, hi = bounds(x.shape[0], c, chunks)
        conv2d_backward(
            x[lo:hi],
            W,
            delta[lo:hi],
            stride,
            pad,
            xpad[lo:hi],
            cols[c],
            dzt[c],
            parts_W[c],
            parts_b[c],
            dcols[c],
            grad_x[lo:hi],
            need_x,
        )
