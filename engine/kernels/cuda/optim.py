"""``numba.cuda`` twins of the optimiser kernels (``engine.kernels.cpu.optim``), same names.

One thread per parameter in a grid-stride loop; the update of each element is the CPU kernel's,
term for term (hyper-parameters cast to the buffer's dtype first). The ``*_par`` names are the
same kernels: on a GPU every kernel is parallel.
"""

from __future__ import annotations

import math

from numba import cuda


@cuda.jit(cache=True)
def sgd_step(p, g, buf, lr, momentum, dampening, nesterov, wd, first):
    """for i: d = g + wd·p; buf = μ·buf + (1 − τ)·d (d at first); p -= lr·(d + μ·buf | buf)."""
    lr_, mu, wd_ = p.dtype.type(lr), p.dtype.type(momentum), p.dtype.type(wd)
    keep = p.dtype.type(1.0 - dampening)
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = g[i] + wd_ * p[i]
        if momentum != 0.0:
            if first:
                buf[i] = d
            else:
                buf[i] = mu * buf[i] + keep * d
            d = d + mu * buf[i] if nesterov else buf[i]
        p[i] -= lr_ * d


@cuda.jit(cache=True)
def adam_step(p, g, m, v, lr, b1, b2, eps, wd, decoupled, t):
    """Adam / AdamW: m = β₁m + (1 − β₁)g;  v = β₂v + (1 − β₂)g²;  p -= lr/(1 − β₁ᵗ) · m̂ / (…)."""
    step_size = p.dtype.type(lr / (1.0 - b1**t))
    bc2_sqrt = p.dtype.type(math.sqrt(1.0 - b2**t))
    b1_, c1 = p.dtype.type(b1), p.dtype.type(1.0 - b1)
    b2_, c2 = p.dtype.type(b2), p.dtype.type(1.0 - b2)
    eps_, wd_, shrink = p.dtype.type(eps), p.dtype.type(wd), p.dtype.type(1.0 - lr * wd)
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        if decoupled:
            p[i] *= shrink
            d = g[i]
        else:
            d = g[i] + wd_ * p[i]
        m[i] = b1_ * m[i] + c1 * d
        v[i] = b2_ * v[i] + c2 * d * d
        p[i] -= step_size * (m[i] / (math.sqrt(v[i]) / bc2_sqrt + eps_))


@cuda.jit(cache=True)
def rmsprop_step(p, g, sq, gavg, buf, lr, alpha, eps, wd, momentum, centered):
    """s = αs + (1 − α)g²;  p -= lr·g / (√s + ε)  (centred: √(s − ḡ²); with momentum: a buffer)."""
    lr_, eps_, wd_, mu = (
        p.dtype.type(lr),
        p.dtype.type(eps),
        p.dtype.type(wd),
        p.dtype.type(momentum),
    )
    a_, c = p.dtype.type(alpha), p.dtype.type(1.0 - alpha)
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = g[i] + wd_ * p[i]
        sq[i] = a_ * sq[i] + c * d * d
        if centered:
            gavg[i] = a_ * gavg[i] + c * d
            avg = math.sqrt(sq[i] - gavg[i] * gavg[i]) + eps_
        else:
            avg = math.sqrt(sq[i]) + eps_
        if momentum > 0.0:
            buf[i] = mu * buf[i] + d / avg
            p[i] -= lr_ * buf[i]
        else:
            p[i] -= lr_ * (d / avg)


@cuda.jit(cache=True)
def adagrad_step(p, g, acc, clr, eps, wd):
    """G += g²;  p -= clr · g / (√G + ε)."""
    clr_, eps_, wd_ = p.dtype.type(clr), p.dtype.type(eps), p.dtype.type(wd)
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = g[i] + wd_ * p[i]
        acc[i] += d * d
        p[i] -= clr_ * (d / (math.sqrt(acc[i]) + eps_))


@cuda.jit(cache=True)
def nadam_step(p, g, m, v, wd, b1, b2, eps, coef_g, coef_m, bc2):
    """NAdam: m, v as Adam; p -= coef_g · d/den + coef_m · m/den, den = √(v / bc2) + ε."""
    b1_, c1 = p.dtype.type(b1), p.dtype.type(1.0 - b1)
    b2_, c2 = p.dtype.type(b2), p.dtype.type(1.0 - b2)
    wd_, eps_, cg, cm = (
        p.dtype.type(wd),
        p.dtype.type(eps),
        p.dtype.type(coef_g),
        p.dtype.type(coef_m),
    )
    bc2_sqrt = p.dtype.type(math.sqrt(bc2))
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = g[i] + wd_ * p[i]
        m[i] = b1_ * m[i] + c1 * d
        v[i] = b2_ * v[i] + c2 * d * d
        den = math.sqrt(v[i]) / bc2_sqrt + eps_
        p[i] -= cg * (d / den) + cm * (m[i] / den)


sgd_step_par = sgd_step
adam_step_par = adam_step
rmsprop_step_par = rmsprop_step
adagrad_step_par = adagrad_step
nadam_step_par = nadam_step
