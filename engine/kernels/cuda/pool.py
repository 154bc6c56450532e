"""``numba.cuda`` kernels of pooling, twins of ``engine.kernels.cpu.pool``.

Every kernel writes each output element from one thread and loops over what that element reads,
so none needs an atomic: the backwards gather, per input pixel, from the windows that cover it
(in the CPU kernels' order, so the sums are the same). Grid-stride loops over any 1-D launch.
"""

from __future__ import annotations

import math

from numba import cuda


@cuda.jit(device=True, inline="always")
def _first_window(i, k, stride):
    """The first window o (size k, from o·stride) that reaches index i: max(0, ⌈(i − k + 1)/s⌉)."""
    return (i - k + stride) // stride if i >= k else 0


@cuda.jit(cache=True)
def maxpool2d_forward(x, k, stride, out, argmax):
    """for each output: the max of its k×k window; argmax keeps the flat index iy·w + ix."""
    _, c, _, w = x.shape
    _, _, oh, ow = out.shape
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ox, oy, ch, i = e % ow, (e // ow) % oh, (e // (ow * oh)) % c, e // (ow * oh * c)
        best = -math.inf
        where = 0
        for dy in range(k):
            for dx in range(k):
                iy, ix = oy * stride + dy, ox * stride + dx
                v = x[i, ch, iy, ix]
                if v > best or (dy == 0 and dx == 0):
                    best, where = v, iy * w + ix
        out[i, ch, oy, ox] = best
        argmax[i, ch, oy, ox] = where


@cuda.jit(cache=True)
def maxpool2d_backward(grad_out, argmax, k, stride, grad_x):
    """for each input pixel: Σ of ∂L/∂out over the windows covering it that it won."""
    _, c, h, w = grad_x.shape
    _, _, oh, ow = grad_out.shape
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        ix, iy, ch, i = e % w, (e // w) % h, (e // (w * h)) % c, e // (w * h * c)
        acc = grad_x.dtype.type(0.0)
        for oy in range(_first_window(iy, k, stride), min(iy // stride + 1, oh)):
            for ox in range(_first_window(ix, k, stride), min(ix // stride + 1, ow)):
                if argmax[i, ch, oy, ox] == iy * w + ix:
                    acc += grad_out[i, ch, oy, ox]
        grad_x[i, ch, iy, ix] = acc


@cuda.jit(cache=True)
def avgpool2d_forward(x, k, stride, out):
    """for each output: the mean of its k×k window."""
    _, c, _, _ = x.shape
    _, _, oh, ow = out.shape
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        ox, oy, ch, i = e % ow, (e // ow) % oh, (e // (ow * oh)) % c, e // (ow * oh * c)
        s = 0.0
        for dy in range(k):
            for dx in range(k):
                s += x[i, ch, oy * stride + dy, ox * stride + dx]
        out[i, ch, oy, ox] = s / (k * k)


@cuda.jit(cache=True)
def avgpool2d_backward(grad_out, k, stride, grad_x):
    """for each input pixel: Σ of ∂L/∂out / k² over the windows covering it."""
    _, c, h, w = grad_x.shape
    _, _, oh, ow = grad_out.shape
    for e in range(cuda.grid(1), grad_x.size, cuda.gridsize(1)):
        ix, iy, ch, i = e % w, (e // w) % h, (e // (w * h)) % c, e // (w * h * c)
        acc = grad_x.dtype.type(0.0)
        for oy in range(_first_window(iy, k, stride), min(iy // stride + 1, oh)):
            for ox in range(_first_window(ix, k, stride), min(ix // stride + 1, ow)):
                acc += grad_out[i, ch, oy, ox] / (k * k)
        grad_x[i, ch, iy, ix] = acc
