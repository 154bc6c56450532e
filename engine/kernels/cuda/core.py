"""``numba.cuda`` twins of the CPU kernels (``engine.kernels.cpu.core``), with the same names.

Imported only when a network asks for ``device="cuda"`` (``engine.backends.cuda``), so a CPU user
never loads the CUDA toolchain. The arithmetic is the CPU kernels', element for element; what
differs is the shape of the work:

* element-wise kernels run grid-stride loops (``for e in range(cuda.grid(1), size, gridsize)``),
  so any launch size covers any array — the backend picks the launch, the kernel computes;
* a kernel that returns a number on the CPU (a loss, a sum of squares) adds into ``total[0]``
  instead: each block sums its threads in shared memory and adds its part with one atomic;
  the backend zeroes ``total`` before and reads it after (that read is the step's one copy back);
* the matrix products go through ``TILE``×``TILE`` tiles in shared memory, one thread per output.

Launch shapes: 1-D kernels use blocks of ``THREADS``; the products use ``(TILE, TILE)`` blocks
(``dense_backward`` a third grid dimension of 3: ∂W, ∂x, ∂b). The ``*_par`` names of the CPU are
the same kernels here: on a GPU every kernel is parallel.
"""

from __future__ import annotations

import math

from numba import cuda, float64

from engine.activations import SIGMOID, act, act_grad  # @njit: numba.cuda compiles them too

THREADS = 256  # threads per block of the 1-D kernels (the block sum relies on it)
TILE = 16  # side of a matrix-product tile
PAD = 17  # TILE + 1: a padded shared row, so a column read hits 16 different banks


# --------------------------------------------------------------------------- device helpers


@cuda.jit(device=True, inline="always")
def block_add(value, total):
    """total[0] += the sum of ``value`` over the block: a tree in shared memory, one atomic."""
    buf = cuda.shared.array(THREADS, dtype=float64)
    t = cuda.threadIdx.x
    buf[t] = value
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if t < step:
            buf[t] += buf[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        cuda.atomic.add(total, 0, buf[0])


@cuda.jit(device=True, inline="always")
def tile_product(A, a_t, B, b_t, rows, cols, inner, sa, sb):
    """Σ_t A[r, t] B[t, c] for this thread's (r, c), through shared tiles ``sa``/``sb``.

    ``a_t``: A is stored transposed (A[r, t] is ``A[t, r]``); ``b_t`` likewise for B. Every
    thread of the block must call this (it synchronises), in range or not.
    """
    ty, tx = cuda.threadIdx.y, cuda.threadIdx.x
    r = cuda.blockIdx.y * TILE + ty
    c = cuda.blockIdx.x * TILE + tx
    acc = sa.dtype.type(0.0)
    for t0 in range(0, inner, TILE):
        ta, tb = t0 + tx, t0 + ty
        if r < rows and ta < inner:
            sa[ty, tx] = A[ta, r] if a_t else A[r, ta]
        else:
            sa[ty, tx] = 0.0
        if tb < inner and c < cols:
            sb[ty, tx] = B[c, tb] if b_t else B[tb, c]
        else:
            sb[ty, tx] = 0.0
        cuda.syncthreads()
        for t in range(TILE):
            acc += sa[ty, t] * sb[t, tx]
        cuda.syncthreads()
    return acc


# --------------------------------------------------------------------------- dense layer


@cuda.jit(cache=True)
def dense_forward(x, W, b, z):
    """z = x Wᵀ + b.   for i, j: z[i, j] = sum_k x[i, k] W[j, k] + b[j]   (grid over z's tiles)"""
    sa = cuda.shared.array((TILE, PAD), dtype=x.dtype)
    sb = cuda.shared.array((TILE, PAD), dtype=x.dtype)
    n, m = z.shape
    acc = tile_product(x, False, W, True, n, m, x.shape[1], sa, sb)
    i = cuda.blockIdx.y * TILE + cuda.threadIdx.y
    j = cuda.blockIdx.x * TILE + cuda.threadIdx.x
    if i < n and j < m:
        z[i, j] = acc + b[j]


@cuda.jit(cache=True)
def dense_backward(x, W, delta, grad_W, grad_b, grad_x, need_grad_x):
    """grad_W = δᵀ x (grid z = 0);  grad_x = δ W (z = 1, if asked);  grad_b = Σ_rows δ (z = 2)."""
    sa = cuda.shared.array((TILE, PAD), dtype=x.dtype)
    sb = cuda.shared.array((TILE, PAD), dtype=x.dtype)
    n, m = delta.shape
    k_in = x.shape[1]
    part = cuda.blockIdx.z
    r = cuda.blockIdx.y * TILE + cuda.threadIdx.y
    c = cuda.blockIdx.x * TILE + cuda.threadIdx.x
    if part == 0:
        acc = tile_product(delta, True, x, False, m, k_in, n, sa, sb)
        if r < m and c < k_in:
            grad_W[r, c] = acc
    elif part == 1:
        if need_grad_x:
            acc = tile_product(delta, False, W, False, n, k_in, m, sa, sb)
            if r < n and c < k_in:
                grad_x[r, c] = acc
    else:
        j = (cuda.blockIdx.y * cuda.gridDim.x + cuda.blockIdx.x) * TILE * TILE
        j += cuda.threadIdx.y * TILE + cuda.threadIdx.x
        if j < m:
            s = grad_b.dtype.type(0.0)
            for i in range(n):
                s += delta[i, j]
            grad_b[j] = s


# --------------------------------------------------------------------------- element-wise


@cuda.jit(cache=True)
def activation_forward(z, a, kind, alpha):
    """for each element: a = σ(z)."""
    m = z.shape[1]
    for e in range(cuda.grid(1), z.size, cuda.gridsize(1)):
        a[e // m, e % m] = act(kind, z[e // m, e % m], alpha)


@cuda.jit(cache=True)
def activation_backward(z, a, grad_a, grad_z, kind, alpha):
    """for each element: ∂L/∂z = ∂L/∂a · σ'(z)."""
    m = z.shape[1]
    for e in range(cuda.grid(1), z.size, cuda.gridsize(1)):
        i, j = e // m, e % m
        grad_z[i, j] = grad_a[i, j] * act_grad(kind, z[i, j], a[i, j], alpha)


activation_forward_par = activation_forward
activation_backward_par = activation_backward


@cuda.jit(cache=True)
def dropout_mask(u, p, mask):
    """mask = [u ≥ p] / (1 − p)."""
    m = u.shape[1]
    scale_ = 1.0 / (1.0 - p)
    for e in range(cuda.grid(1), u.size, cuda.gridsize(1)):
        mask[e // m, e % m] = scale_ if u[e // m, e % m] >= p else 0.0


@cuda.jit(cache=True)
def multiply(x, mask, out):
    """out = x ⊙ mask."""
    m = x.shape[1]
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        out[e // m, e % m] = x[e // m, e % m] * mask[e // m, e % m]


@cuda.jit(cache=True)
def gather_rows(X, idx, start, stop, out):
    """out[r] = X[idx[start + r]]."""
    m = X.shape[1]
    for e in range(cuda.grid(1), (stop - start) * m, cuda.gridsize(1)):
        r, j = e // m, e % m
        out[r, j] = X[idx[start + r], j]


# --------------------------------------------------------------------------- losses
# Each adds the sum of its per-element losses to total[0] (the backend divides by N) and writes
# ∂L/∂ŷ, with the 1/N of the mean, into ``grad``.


@cuda.jit(device=True, inline="always")
def mse_term(h, y, n, g, i, j):
    d = h - y
    g[i, j] = 2.0 * d / n
    return d * d


@cuda.jit(device=True, inline="always")
def huber_term(h, y, n, g, i, j, delta):
    d = h - y
    if abs(d) <= delta:
        g[i, j] = d / n
        return 0.5 * d * d
    g[i, j] = (delta if d > 0 else -delta) / n
    return delta * (abs(d) - 0.5 * delta)


@cuda.jit(device=True, inline="always")
def bce_term(p, y, n, g, i, j):
    lp = max(math.log(p), -100.0) if p > 0.0 else -100.0
    lq = max(math.log(1.0 - p), -100.0) if p < 1.0 else -100.0
    g[i, j] = (p - y) / max(p * (1.0 - p), 1e-12) / n
    return -(y * lp + (1.0 - y) * lq)


@cuda.jit(device=True, inline="always")
def bce_logits_term(z, y, n, g, i, j):
    g[i, j] = (act(SIGMOID, z, 0.0) - y) / n
    return max(z, 0.0) - z * y + math.log1p(math.exp(-abs(z)))


@cuda.jit(device=True, inline="always")
def cross_entropy_row(z, labels, g, i, n):
    """Softmax + NLL of row i: writes the row of ∂L/∂z, returns its loss."""
    k = z.shape[1]
    zmax = z[i, 0]
    for j in range(1, k):
        zmax = max(zmax, z[i, j])
    s = 0.0
    for j in range(k):
        e = math.exp(z[i, j] - zmax)
        g[i, j] = e
        s += e
    for j in range(k):
        g[i, j] = g[i, j] / s / n
    g[i, labels[i]] -= 1.0 / n
    return math.log(s) + zmax - z[i, labels[i]]


@cuda.jit(cache=True)
def mse_loss(y_hat, y, grad, total):
    """total[0] += Σ (ŷ − y)²;  ∂L/∂ŷ = 2 (ŷ − y) / N."""
    m, acc = y_hat.shape[1], 0.0
    for e in range(cuda.grid(1), y_hat.size, cuda.gridsize(1)):
        i, j = e // m, e % m
        acc += mse_term(y_hat[i, j], y[i, j], y_hat.size, grad, i, j)
    block_add(acc, total)


@cuda.jit(cache=True)
def huber_loss(y_hat, y, grad, delta, total):
    """total[0] += Σ Huber(ŷ − y; δ);  ∂L/∂ŷ as PyTorch's HuberLoss, over N."""
    m, acc = y_hat.shape[1], 0.0
    for e in range(cuda.grid(1), y_hat.size, cuda.gridsize(1)):
        i, j = e // m, e % m
        acc += huber_term(y_hat[i, j], y[i, j], y_hat.size, grad, i, j, delta)
    block_add(acc, total)


@cuda.jit(cache=True)
def bce_loss(p, y, grad, total):
    """total[0] += −Σ [y log p + (1 − y) log(1 − p)], logs clamped at −100."""
    m, acc = p.shape[1], 0.0
    for e in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        i, j = e // m, e % m
        acc += bce_term(p[i, j], y[i, j], p.size, grad, i, j)
    block_add(acc, total)


@cuda.jit(cache=True)
def bce_logits_loss(z, y, grad, total):
    """total[0] += Σ [max(z, 0) − z y + log(1 + e^−|z|)];  ∂L/∂z = (σ(z) − y) / N."""
    m, acc = z.shape[1], 0.0
    for e in range(cuda.grid(1), z.size, cuda.gridsize(1)):
        i, j = e // m, e % m
        acc += bce_logits_term(z[i, j], y[i, j], z.size, grad, i, j)
    block_add(acc, total)


@cuda.jit(cache=True)
def cross_entropy_loss(z, labels, grad, total):
    """total[0] += Σ_i [log Σ_k e^{z_ik} − z_i,y_i];  one thread per row."""
    acc = 0.0
    for i in range(cuda.grid(1), z.shape[0], cuda.gridsize(1)):
        acc += cross_entropy_row(z, labels, grad, i, z.shape[0])
    block_add(acc, total)


# --------------------------------------------------------------------------- flat buffer


@cuda.jit(cache=True)
def penalty(data, grad, ranges, l1, l2, total):
    """total[0] += l1·Σ|w| + l2·½Σw² over the weight ranges; their gradient is added to grad."""
    count = 0
    for r in range(ranges.shape[0]):
        count += ranges[r, 1] - ranges[r, 0]
    acc = 0.0
    for e in range(cuda.grid(1), count, cuda.gridsize(1)):
        r, offset = 0, e
        while offset >= ranges[r, 1] - ranges[r, 0]:
            offset -= ranges[r, 1] - ranges[r, 0]
            r += 1
        i = ranges[r, 0] + offset
        w = data[i]
        acc += l1 * abs(w) + 0.5 * l2 * w * w
        sign = 1.0 if w > 0.0 else (-1.0 if w < 0.0 else 0.0)
        grad[i] += l1 * sign + l2 * w
    block_add(acc, total)


@cuda.jit(cache=True)
def sum_squares(v, total):
    """total[0] += Σ v², accumulated in float64."""
    acc = 0.0
    for i in range(cuda.grid(1), v.size, cuda.gridsize(1)):
        acc += float64(v[i]) * float64(v[i])
    block_add(acc, total)


@cuda.jit(cache=True)
def scale(v, factor):
    """v *= factor, in place."""
    for i in range(cuda.grid(1), v.size, cuda.gridsize(1)):
        v[i] *= factor


@cuda.jit(cache=True)
def all_finite(v, bad):
    """bad[0] = 1 where v has a NaN or Inf (``bad`` is zeroed by the caller)."""
    for i in range(cuda.grid(1), v.size, cuda.gridsize(1)):
        if not math.isfinite(v[i]):
            bad[0] = 1
