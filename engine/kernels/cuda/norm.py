"""``numba.cuda`` kernels of the normalisation layers (``engine.kernels.cpu.norm``).

Batch norm reduces a channel over one block (``block_sum``, float64 as the CPU kernel
accumulates), so its kernels take one block per channel, of a power of two up to ``THREADS``
threads; layer norm gives each row one thread.
"""

from __future__ import annotations

import math

from numba import cuda, float64

from engine.kernels.cuda.core import THREADS


@cuda.jit(device=True, inline="always")
def block_sum(value, buf):
    """The sum of ``value`` over the block, returned to every thread (``buf``: THREADS float64).

    Every thread of the block must call it; the block size must be a power of two.
    """
    t = cuda.threadIdx.x
    buf[t] = value
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            buf[t] += buf[t + step]
        cuda.syncthreads()
        step //= 2
    total = buf[0]
    cuda.syncthreads()  # everyone has read buf[0] before the next call overwrites it
    return total


@cuda.jit(cache=True)
def batchnorm_forward(
    x, gamma, beta, eps, training, momentum, run_mean, run_var, xhat, out, inv_std
):
    """One block per channel of x (n, c, s): μ, σ² over its n·s values (or the running ones);

    x̂ = (x − μ)/√(σ² + ε), y = γ x̂ + β; training moves the running statistics (unbiased σ²).
    """
    buf = cuda.shared.array(THREADS, dtype=float64)
    n, c, sp = x.shape
    m = n * sp
    t, threads = cuda.threadIdx.x, cuda.blockDim.x
    for ch in range(cuda.blockIdx.x, c, cuda.gridDim.x):
        if training:
            s = 0.0
            for e in range(t, m, threads):
                s += x[e // sp, ch, e % sp]
            mu = block_sum(s, buf) / m
            s = 0.0
            for e in range(t, m, threads):
                d = x[e // sp, ch, e % sp] - mu
                s += d * d
            sq = block_sum(s, buf)
            var = sq / m
            if t == 0:
                run_mean[ch] = (1.0 - momentum) * run_mean[ch] + momentum * mu
                unbiased = sq / (m - 1) if m > 1 else var
                run_var[ch] = (1.0 - momentum) * run_var[ch] + momentum * unbiased
        else:
            mu, var = float64(run_mean[ch]), float64(run_var[ch])
        istd = 1.0 / math.sqrt(var + eps)
        if t == 0:
            inv_std[ch] = istd
        for e in range(t, m, threads):
            i, j = e // sp, e % sp
            xh = (x[i, ch, j] - mu) * istd
            xhat[i, ch, j] = xh
            out[i, ch, j] = gamma[ch] * xh + beta[ch]


@cuda.jit(cache=True)
def batchnorm_backward(dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta):
    """One block per channel: ∂L/∂x = γ/(m√(σ²+ε)) · (m·dy − Σdy − x̂·Σ(dy·x̂)), m = n·s."""
    buf = cuda.shared.array(THREADS, dtype=float64)
    n, c, sp = dy.shape
    m = n * sp
    t, threads = cuda.threadIdx.x, cuda.blockDim.x
    for ch in range(cuda.blockIdx.x, c, cuda.gridDim.x):
        s1 = 0.0
        s2 = 0.0
        for e in range(t, m, threads):
            i, j = e // sp, e % sp
            s1 += dy[i, ch, j]
            s2 += dy[i, ch, j] * xhat[i, ch, j]
        s1 = block_sum(s1, buf)
        s2 = block_sum(s2, buf)
        if t == 0:
            grad_beta[ch] = s1
            grad_gamma[ch] = s2
        k = gamma[ch] * inv_std[ch] / m
        for e in range(t, m, threads):
            i, j = e // sp, e % sp
            dx[i, ch, j] = k * (m * dy[i, ch, j] - s1 - xhat[i, ch, j] * s2)


@cuda.jit(cache=True)
def layernorm_forward(x, gamma, beta, eps, xhat, out, inv_std):
    """for each row r of x (rows, d): y = γ ⊙ (x − μ_r)/√(σ²_r + ε) + β."""
    rows, d = x.shape
    for r in range(cuda.grid(1), rows, cuda.gridsize(1)):
        mu = 0.0
        for j in range(d):
            mu += x[r, j]
        mu /= d
        var = 0.0
        for j in range(d):
            var += (x[r, j] - mu) ** 2
        istd = 1.0 / math.sqrt(var / d + eps)
        inv_std[r] = istd
        for j in range(d):
            xh = (x[r, j] - mu) * istd
            xhat[r, j] = xh
            out[r, j] = gamma[j] * xh + beta[j]


@cuda.jit(cache=True)
def layernorm_backward(dy, xhat, gamma, inv_std, dx, grad_gamma, grad_beta):
    """Threads 0 … rows−1: a row of ∂L/∂x = (g − mean g − x̂ · mean(g ⊙ x̂))/√(σ² + ε), g = dy ⊙ γ;

    threads rows … rows+d−1: a column j of ∂L/∂γ = Σ_r dy x̂ and ∂L/∂β = Σ_r dy.
    """
    rows, d = dy.shape
    for e in range(cuda.grid(1), rows + d, cuda.gridsize(1)):
        if e < rows:
            s1 = 0.0
            s2 = 0.0
            for j in range(d):
                g = dy[e, j] * gamma[j]
                s1 += g
                s2 += g * xhat[e, j]
            for j in range(d):
                dx[e, j] = inv_std[e] * (dy[e, j] * gamma[j] - s1 / d - xhat[e, j] * s2 / d)
        else:
            j = e - rows
            gg = grad_gamma.dtype.type(0.0)
            gb = grad_beta.dtype.type(0.0)
            for r in range(rows):
                gg += dy[r, j] * xhat[r, j]
                gb += dy[r, j]
            grad_gamma[j] = gg
            grad_beta[j] = gb
