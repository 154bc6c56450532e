"""Numba CPU kernels of convolution (pooling: ``pool``; normalisation: ``norm``).

Layout is PyTorch's NCHW: a batch ``x`` is ``(n, c, h, w)``; a convolution's weight is
``(out_c, in_c, kh, kw)``. A convolution is computed as im2col followed by one matrix product,
or, with few weights per output (``DIRECT_MAX``: a first layer's), summed directly.
Inner loops run over row slices (``a[i, c, y]``, ``a[off : off + q]``), not over computed flat
indices: Numba's index arithmetic keeps LLVM from vectorising such a copy, four times slower.
The kernels are serial; the ``*_chunks`` drivers at the end split a batch into chunks, one per
Numba thread, each running the serial kernel on its own samples with BLAS on one thread (the
caller sees to that): a Numba parallel region beside a multithreaded BLAS leaves two thread
pools spinning on the same cores, which made a LeNet step thirty times slower.
"""

from __future__ import annotations

from numba import njit, prange

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu.blas import product
from engine.kernels.cpu.calls import Site, call_at, check, item, part, whole
from engine.kernels.cpu.chunks import bounds
from engine.kernels.cpu.views import flat


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
    src, out = flat(x), flat(cols)
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
    src, out = flat(dcols), flat(grad_x)
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
            for y in range(h):
                o = (y + pad) * wp + pad
                src, out = x[i, ch, y], xpad[i, ch, o : o + w]
                for xx in range(w):
                    out[xx] = src[xx]


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
                    src, out = xpad[i, ch, off : off + q], cols[r, i]
                    for j in range(q):
                        out[j] = src[j]


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
                    src, out = dcols[r, i], dxpad[i, ch, off : off + q]
                    for j in range(q):
                        out[j] += src[j]


# With as few weights per output as a first layer has (one channel, 3×3: nine), im2col + GEMM is
# bound by memory: it writes the input nine times over and the output twice. Up to this many
# weights per output, a stride-1 convolution is summed directly from the padded input instead.
DIRECT_MAX = 27


@njit(cache=True, nogil=True, inline="always")
def is_direct(stride, ckk):
    """Whether a convolution runs ``_direct_forward`` and ``_direct_grad_w`` (no im2col)."""
    return stride == 1 and ckk <= DIRECT_MAX


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"}, inline="always")
def _add_3x3(w, src, wp, row):
    """row[q] += Σ_{dy,dx < 3} w[dy, dx] · src[q + dy·wp + dx]: nine loads, one store."""
    p = row.size
    w0, w1, w2 = w[0, 0], w[0, 1], w[0, 2]
    w3, w4, w5 = w[1, 0], w[1, 1], w[1, 2]
    w6, w7, w8 = w[2, 0], w[2, 1], w[2, 2]
    r0, r1, r2 = src[0 : p + 2], src[wp : wp + p + 2], src[2 * wp : 2 * wp + p + 2]
    for q in range(p):
        row[q] += (
            w0 * r0[q] + w1 * r0[q + 1] + w2 * r0[q + 2]
            + w3 * r1[q] + w4 * r1[q + 1] + w5 * r1[q + 2]
            + w6 * r2[q] + w7 * r2[q + 1] + w8 * r2[q + 2]
        )  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _direct_forward(xpad, W, b, wp, row, z):
    """Stride 1: z[i, o, y, x] = b[o] + Σ_{c,dy,dx} W[o, c, dy, dx] · xpad[i, c, (y+dy)·wp + x+dx].

    Each output plane is summed on the padded grid in ``row`` (oh·wp, small enough for L1), one
    contiguous pass per weight, then its ow columns of each row are copied out.
    """
    n, c, _ = xpad.shape
    oc, _, kh, kw = W.shape
    _, _, oh, ow = z.shape
    p = row.size
    for i in range(n):
        for o in range(oc):
            bias = b[o]
            for q in range(p):
                row[q] = bias
            for ch in range(c):
                src = xpad[i, ch]
                if kh == 3 and kw == 3:  # the common case: one pass of nine terms
                    _add_3x3(W[o, ch], src, wp, row)
                    continue
                for dy in range(kh):
                    for dx in range(kw):
                        w = W[o, ch, dy, dx]
                        xs = src[dy * wp + dx : dy * wp + dx + p]
                        for q in range(p):
                            row[q] += w * xs[q]
            for y in range(oh):
                src, out = row[y * wp : y * wp + ow], z[i, o, y]
                for xx in range(ow):
                    out[xx] = src[xx]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _direct_grad_w(dzt, xpad, wp, grad_W):
    """Stride 1: grad_W[o, c, dy, dx] = Σ_i Σ_q δ[o, i, q] · xpad[i, c, q + dy·wp + dx], with δ in
    ``dzt`` on the padded grid (zero at the dropped positions): per image, four output channels'
    rows against each shifted input row, summed in vector lanes."""
    oc, n, p = dzt.shape
    _, c, kh, kw = grad_W.shape
    zero = dzt.dtype.type(0)
    grad_W[...] = 0.0
    for i in range(n):
        for ch in range(c):
            src = xpad[i, ch]
            o = 0
            while o < oc:
                m = min(4, oc - o)
                a0, a1 = dzt[o, i], dzt[o + min(1, m - 1), i]
                a2, a3 = dzt[o + min(2, m - 1), i], dzt[o + min(3, m - 1), i]
                for dy in range(kh):
                    for dx in range(kw):
                        xs = src[dy * wp + dx : dy * wp + dx + p]
                        c0, c1, c2, c3 = zero, zero, zero, zero
                        for q in range(p):
                            v = xs[q]
                            c0 += a0[q] * v
                            c1 += a1[q] * v
                            c2 += a2[q] * v
                            c3 += a3[q] * v
                        grad_W[o, ch, dy, dx] += c0
                        if m > 1:
                            grad_W[o + 1, ch, dy, dx] += c1
                        if m > 2:
                            grad_W[o + 2, ch, dy, dx] += c2
                        if m > 3:
                            grad_W[o + 3, ch, dy, dx] += c3
                o += 4


@njit(cache=True, nogil=True, error_model="numpy")
def conv2d_forward(x, W, b, stride, pad, xpad, cols, zt, z):
    """z[i, o, y, x] = Σ_{c,dy,dx} W[o, c, dy, dx] · x_pad[i, c, y·s + dy, x·s + dx] + b[o].

    Workspaces: ``cols`` (c·kh·kw, n, P) and ``zt`` (out_c, n, P), where P = oh·wp at stride 1
    (``shifted_cols``, through ``xpad`` (n, c, hp·wp + kw)) and oh·ow otherwise (``im2col``).
    ``cols`` is kept for the backward pass. With few weights per output (``is_direct``) the sum
    is direct from ``xpad``, which the backward pass reads instead, and ``cols`` is left alone.
    """
    oc, _, kh, kw = W.shape
    ckk = cols.shape[0]
    n, _, oh, ow = z.shape
    if stride == 1:
        wp = x.shape[3] + 2 * pad
        pad_planes(x, pad, xpad)
        if is_direct(stride, ckk):
            _direct_forward(xpad, W, b, wp, zt[0, 0], z)
            return
        shifted_cols(xpad, kh, kw, wp, cols)
    else:
        wp = ow
        im2col(x, kh, kw, stride, pad, oh, ow, cols)
    product(W.reshape(oc, ckk), False, cols.reshape(ckk, -1), False, zt.reshape(oc, -1))
    for i in range(n):
        for o in range(oc):
            bias = b[o]
            for y in range(oh):
                src, out = zt[o, i, y * wp : y * wp + ow], z[i, o, y]
                for xx in range(ow):
                    out[xx] = src[xx] + bias


# A small weight gradient (out_c × c·kh·kw, a few hundred weights) over tens of thousands of
# positions: BLAS packs both long operands for it and runs at a third of its speed on one thread.
# Up to this many weights (and not ``is_direct``), ``_grad_w_small`` does it directly.
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
            for y in range(oh):
                src, out = delta[i, o, y], dzt[o, i, y * wp : (y + 1) * wp]
                for xx in range(ow):
                    v = src[xx]
                    out[xx] = v
                    total += v
                for xx in range(ow, wp):
                    out[xx] = 0.0
        grad_b[o] = total


@njit(cache=True, nogil=True, error_model="numpy")
def conv2d_backward(
    x, W, delta, stride, pad, xpad, cols, dzt, grad_W, grad_b, dcols, grad_x, need_x
):
    """∂L/∂W = δ colsᵀ (over every output position);  ∂L/∂b[o] = Σ δ[·, o];

    ∂L/∂x = the adjoint of im2col applied to Wᵀ δ. ``cols`` still holds the forward pass's
    (with ``is_direct``, ``xpad`` does, and ``cols`` is not read); ``dzt`` is δ laid out as
    ``zt`` (zero at the dropped positions); ``xpad`` is then reused for ∂L/∂x on the padded grid.
    ∂L/∂W takes one of three routes: ``_direct_grad_w`` from ``xpad``; ``_grad_w_small`` for a
    few hundred weights; else BLAS, as the transpose cols δᵀ where ``dcols`` has room for it.
    """
    oc, c, kh, kw = W.shape
    ckk = cols.shape[0]
    n, _, oh, ow = delta.shape
    wp = x.shape[3] + 2 * pad if stride == 1 else ow
    _delta_rows(delta, wp, dzt, grad_b)
    dz2 = dzt.reshape(oc, -1)
    if is_direct(stride, ckk):
        _direct_grad_w(dzt, xpad, wp, grad_W)
    elif oc * ckk <= SMALL_GRAD_W:
        _grad_w_small(dz2, cols.reshape(ckk, -1), grad_W.reshape(oc, ckk))
    elif dcols.size >= ckk * oc:  # ∂L/∂Wᵀ = cols δᵀ: BLAS runs it 1.6 times as fast as δ colsᵀ
        gwt = dcols.reshape(-1)[: ckk * oc].reshape(ckk, oc)
        product(cols.reshape(ckk, -1), False, dz2, True, gwt)
        flat_gw = grad_W.reshape(oc, ckk)
        for r in range(ckk):
            for o in range(oc):
                flat_gw[o, r] = gwt[r, o]
    else:  # fewer positions than output channels: no room for the transpose, nor need
        product(dz2, False, cols.reshape(ckk, -1), True, grad_W.reshape(oc, ckk))
    if not need_x:
        return
    product(W.reshape(oc, ckk), True, dz2, False, dcols.reshape(ckk, -1))
    if stride != 1:
        col2im(dcols, kh, kw, stride, pad, oh, ow, grad_x)
        return
    shifted_cols_adjoint(dcols, kh, kw, wp, xpad)
    h, w = x.shape[2], x.shape[3]
    for i in range(n):
        for ch in range(c):
            for y in range(h):
                o = (y + pad) * wp + pad
                src, out = xpad[i, ch, o : o + w], grad_x[i, ch, y]
                for xx in range(w):
                    out[xx] = src[xx]


# --------------------------------------------------------------------------- batch chunks
# Chunk c of C holds samples [n·c/C, n·(c+1)/C) of the batch arrays; a workspace laid out with
# the batch in its middle (``cols``, ``zt``) has a leading chunk axis instead, each chunk's block
# shaped as the serial kernel wants it for its samples. Weight gradients go to ``parts_W``,
# ``parts_b`` (one per chunk), and are summed after. The drivers call the serial kernels by
# address (``engine.kernels.cpu.calls``): linked in, the backward pass's took 3.2 s more to
# compile. ``FORWARD_CHUNKS`` and ``BACKWARD_CHUNKS`` call them with the right address.


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def conv2d_forward_chunks(address, key, x, W, b, stride, pad, xpad, cols, zt, z):
    """``conv2d_forward`` (at ``address``), one chunk of the batch per thread."""
    chunks = cols.shape[0]
    missed = 0
    for c in prange(chunks):
        lo, hi = bounds(x.shape[0], c, chunks)
        args = (x[lo:hi], W, b, stride, pad, xpad[lo:hi], cols[c], zt[c], z[lo:hi])
        missed += call_at(address, key, args)
    check(missed)


def _forward_types(x, W, b, stride, pad, xpad, cols, zt, z):
    """The types ``conv2d_forward_chunks`` passes to ``conv2d_forward``."""
    views = (part(x), whole(W), whole(b), whole(stride), whole(pad), part(xpad))
    return ((*views, item(cols), item(zt), part(z)),)


@njit(cache=True, nogil=True, error_model="numpy", parallel=True)
def conv2d_backward_chunks(
    address, key, x, W, delta, stride, pad, xpad, cols, dzt, parts_W, parts_b, dcols, grad_x,
    need_x,
):  # fmt: skip
    """``conv2d_backward`` (at ``address``), one chunk of the batch per thread; each chunk's
    weight and bias gradients into ``parts_W[c]``, ``parts_b[c]``."""
    chunks = cols.shape[0]
    missed = 0
    for c in prange(chunks):
        lo, hi = bounds(x.shape[0], c, chunks)
        args = (x[lo:hi], W, delta[lo:hi], stride, pad, xpad[lo:hi], cols[c], dzt[c],
                parts_W[c], parts_b[c], dcols[c], grad_x[lo:hi], need_x)  # fmt: skip
        missed += call_at(address, key, args)
    check(missed)


def _backward_types(x, W, delta, stride, pad, xpad, cols, dzt, parts_W, parts_b, dcols, grad_x,
                    need_x):  # fmt: skip
    """The types ``conv2d_backward_chunks`` passes to ``conv2d_backward``."""
    views = (part(x), whole(W), part(delta), whole(stride), whole(pad), part(xpad))
    blocks = (item(cols), item(dzt), item(parts_W), item(parts_b), item(dcols))
    return ((*views, *blocks, part(grad_x), whole(need_x)),)


FORWARD_CHUNKS = Site(conv2d_forward_chunks, (conv2d_forward,), _forward_types)
BACKWARD_CHUNKS = Site(conv2d_backward_chunks, (conv2d_backward,), _backward_types)
