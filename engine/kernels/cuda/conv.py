"""``numba.cuda`` kernels of convolution, twins of ``engine.kernels.cpu.conv`` (pooling:
``engine.kernels.cuda.pool``; normalisation: ``engine.kernels.cuda.norm``).

A convolution runs as on the CPU — im2col, one matrix product, reorder — but the product is the
tiled ``dense_forward`` / ``dense_backward`` of ``engine.kernels.cuda.core`` (``cols`` plays
``x``, the weight seen as ``(out_c, in_c·kh·kw)`` plays ``W``), launched by the backend between
these:

    forward:  im2col(x) → cols;  zmat = cols Wᵀ + b;  rows_to_nchw(zmat) → z
    backward: nchw_to_rows(δ) → dzmat;  ∂W = dzmatᵀ cols, ∂b = Σ dzmat, dcols = dzmat W;
              col2im(dcols) → ∂x

Every kernel writes each output element from one thread and loops over what that element reads,
so none needs an atomic: ``col2im`` gathers, per input pixel, from the windows that cover it (in
the CPU kernel's order, so the sums are the same). Element kernels are grid-stride loops over
any 1-D launch.
"""

from __future__ import annotations

from numba import cuda

# --------------------------------------------------------------------------- convolution


@cuda.jit(cache=True)
def im2col(x, kh, kw, stride, pad, cols):
    """for each element: cols[(i·oh + y)·ow + x, (c·kh + dy)·kw + dx] = x_pad[i, c, y·s+dy, x·s+dx]

    (0 where the window reaches into the padding).
    """
    _, _, h, w = x.shape
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    K = cols.shape[1]
    for e in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        row, col = e // K, e % K
        ox, oy, i = row % ow, (row // ow) % oh, row // (ow * oh)
        dx, dy, ch = col % kw, (col // kw) % kh, col // (kw * kh)
        iy, ix = oy * stride - pad + dy, ox * stride - pad + dx
        if 0 <= iy < h and 0 <= ix < w:
            cols[row, col] = x[i, ch, iy, ix]
        else:
            cols[row, col] = 0.0


@cuda.jit(cache=True)
def col2im(dcols, kh, kw, stride, pad, dx):
    """for each pixel: dx[i, c, iy, ix] = Σ of dcols over the (row, col) that read it.

    The kernel offsets run backwards so the output positions run forwards, as the CPU adds them.
    """
    _, c, h, w = dx.shape
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (w + 2 * pad - kw) // stride + 1
    for e in range(cuda.grid(1), dx.size, cuda.gridsize(1)):
        ix, iy, ch, i = e % w, (e // w) % h, (e // (w * h)) % c, e // (w * h * c)
        acc = dx.dtype.type(0.0)
        for ky in range(kh - 1, -1, -1):
            ty = iy + pad - ky
            if ty < 0 or ty % stride != 0 or ty // stride >= oh:
                continue
            for kx in range(kw - 1, -1, -1):
                tx = ix + pad - kx
                if tx < 0 or tx % stride != 0 or tx // stride >= ow:
                    continue
                row = (i * oh + ty // stride) * ow + tx // stride
                acc += dcols[row, (ch * kh + ky) * kw + kx]
        dx[i, ch, iy, ix] = acc


@cuda.jit(cache=True)
def rows_to_nchw(zmat, z):
    """for each element: z[i, o, y, x] = zmat[(i·oh + y)·ow + x, o] (the product's rows → NCHW)."""
    _, oc, oh, ow = z.shape
    for e in range(cuda.grid(1), z.size, cuda.gridsize(1)):
        ox, oy, o, i = e % ow, (e // ow) % oh, (e // (ow * oh)) % oc, e // (ow * oh * oc)
        z[i, o, oy, ox] = zmat[(i * oh + oy) * ow + ox, o]


@cuda.jit(cache=True)
def nchw_to_rows(delta, dzmat):
    """for each element: dzmat[(i·oh + y)·ow + x, o] = δ[i, o, y, x] (the inverse reorder)."""
    _, oc, oh, ow = delta.shape
    for e in range(cuda.grid(1), delta.size, cuda.gridsize(1)):
        ox, oy, o, i = e % ow, (e // ow) % oh, (e // (ow * oh)) % oc, e // (ow * oh * oc)
        dzmat[(i * oh + oy) * ow + ox, o] = delta[i, o, oy, ox]
