"""``numba.cuda`` twins of the fused kernels (``engine.kernels.cpu.fused``), same names.

``mlp_loss_and_grad`` runs a small network's whole step — forward, loss, backward — in one block
of ``THREADS`` threads: each phase spreads its elements over the block, and ``syncthreads``
separates the phases. One launch instead of a dozen is what matters for a small network on a
GPU, where every launch costs microseconds. The workspace layout (``plan``, ``spots``) is the CPU
kernel's, so one wrapper (``engine.backends.fused``) serves both; the loss is added into
``total[0]``
(a sum; the backend divides by N).

The helpers take ``(start, stride)``: a standalone kernel passes its grid position and size, the
fused kernel its thread index and the block size.
"""

from __future__ import annotations

from numba import cuda

from engine.activations import act, act_grad
from engine.kernels.cpu.fused import (
    LOSS_BCE,
    LOSS_BCE_LOGITS,
    LOSS_CROSS_ENTROPY,
    LOSS_HUBER,
    SPOT_DELTA,
    SPOT_GRAD_OUT,
    SPOT_OUT,
)
from engine.kernels.cuda.core import (
    bce_logits_term,
    bce_term,
    block_add,
    cross_entropy_row,
    huber_term,
    mse_term,
)

IDENTITY = 0


@cuda.jit(device=True, inline="always")
def forward_range(src, row_major, W, b, zT, start, stride):
    """zT[j, i] = b[j] + Σ_k W[j, k] x(k, i), with x(k, i) = src[i, k] if ``row_major``."""
    m, n = zT.shape
    for e in range(start, m * n, stride):
        j, i = e // n, e % n
        s = b[j]
        for k in range(W.shape[1]):
            s += W[j, k] * (src[i, k] if row_major else src[k, i])
        zT[j, i] = s


@cuda.jit(device=True, inline="always")
def grad_w_range(src, row_major, deltaT, grad_W, grad_b, start, stride):
    """grad_W[j, k] = Σ_i δT[j, i] x(k, i);  grad_b[j] = Σ_i δT[j, i]."""
    m, n = deltaT.shape
    k_in = grad_W.shape[1]
    for e in range(start, m * k_in, stride):
        j, k = e // k_in, e % k_in
        s = grad_W.dtype.type(0.0)
        for i in range(n):
            s += deltaT[j, i] * (src[i, k] if row_major else src[k, i])
        grad_W[j, k] = s
    for j in range(start, m, stride):
        s = grad_b.dtype.type(0.0)
        for i in range(n):
            s += deltaT[j, i]
        grad_b[j] = s


@cuda.jit(device=True, inline="always")
def grad_x_range(W, deltaT, grad_xT, start, stride):
    """grad_xT[k, i] = Σ_j W[j, k] δT[j, i]."""
    k_in, n = grad_xT.shape
    for e in range(start, k_in * n, stride):
        k, i = e // n, e % n
        s = grad_xT.dtype.type(0.0)
        for j in range(W.shape[0]):
            s += W[j, k] * deltaT[j, i]
        grad_xT[k, i] = s


@cuda.jit(device=True, inline="always")
def transpose_range(a, out, start, stride):
    rows, cols = a.shape
    for e in range(start, rows * cols, stride):
        out[e % cols, e // cols] = a[e // cols, e % cols]


@cuda.jit(cache=True)
def forward_t(xT, W, b, zT):
    """zT = W xT + b, feature-major (grid-stride over zT)."""
    forward_range(xT, False, W, b, zT, cuda.grid(1), cuda.gridsize(1))


@cuda.jit(cache=True)
def backward_t(xT, W, deltaT, grad_W, grad_b, grad_xT, need_grad_x):
    """grad_W = δ xᵀ, grad_b = Σ_batch δ, grad_xT = Wᵀ δ (if asked), δ = deltaT (out, n)."""
    grad_w_range(xT, False, deltaT, grad_W, grad_b, cuda.grid(1), cuda.gridsize(1))
    if need_grad_x:
        grad_x_range(W, deltaT, grad_xT, cuda.grid(1), cuda.gridsize(1))


@cuda.jit(cache=True)
def transpose(a, out):
    """out = aᵀ."""
    transpose_range(a, out, cuda.grid(1), cuda.gridsize(1))


@cuda.jit(device=True, inline="always")
def _mat(buf, offset, rows, cols):
    return buf[offset : offset + rows * cols].reshape((rows, cols))


@cuda.jit(device=True, inline="always")
def _loss_range(kind, out, y, labels, g, huber_delta, start, stride):
    """This thread's part of the loss sum, writing its part of ∂L/∂out."""
    n, m = out.shape
    acc = 0.0
    if kind == LOSS_CROSS_ENTROPY:
        for i in range(start, n, stride):
            acc += cross_entropy_row(out, labels, g, i, n)
        return acc
    for e in range(start, n * m, stride):
        i, j = e // m, e % m
        if kind == LOSS_HUBER:
            acc += huber_term(out[i, j], y[i, j], n * m, g, i, j, huber_delta)
        elif kind == LOSS_BCE:
            acc += bce_term(out[i, j], y[i, j], n * m, g, i, j)
        elif kind == LOSS_BCE_LOGITS:
            acc += bce_logits_term(out[i, j], y[i, j], n * m, g, i, j)
        else:
            acc += mse_term(out[i, j], y[i, j], n * m, g, i, j)
    return acc


@cuda.jit(cache=True)
def mlp_loss_and_grad(x, y, labels, data, grad, ws, plan, alphas, spots, loss, huber_delta, total):
    """Forward, loss and backward of a Dense/activation stack, in one block (see the module).

    Launch with one block of ``cuda.THREADS`` threads; ``total[0]`` (zeroed by the caller)
    receives the summed loss.
    """
    t, stride = cuda.threadIdx.x, cuda.blockDim.x
    n = x.shape[0]
    last = plan.shape[0] - 1
    for l in range(last + 1):
        fan_in, fan_out, w_off, b_off, z_off, a_off, kind = (
            plan[l, 0],
            plan[l, 1],
            plan[l, 2],
            plan[l, 3],
            plan[l, 4],
            plan[l, 5],
            plan[l, 6],
        )
        W = _mat(data, w_off, fan_out, fan_in)
        zT = _mat(ws, z_off, fan_out, n)
        if l == 0:
            forward_range(x, True, W, data[b_off : b_off + fan_out], zT, t, stride)
        else:
            prev = _mat(ws, plan[l - 1, 5], fan_in, n)
            forward_range(prev, False, W, data[b_off : b_off + fan_out], zT, t, stride)
        cuda.syncthreads()
        if kind != IDENTITY:
            aT = _mat(ws, a_off, fan_out, n)
            for e in range(t, fan_out * n, stride):
                aT[e // n, e % n] = act(kind, zT[e // n, e % n], alphas[l])
            cuda.syncthreads()
    width = plan[last, 1]
    out = _mat(ws, spots[SPOT_OUT], n, width)
    g_out = _mat(ws, spots[SPOT_GRAD_OUT], n, width)
    transpose_range(_mat(ws, plan[last, 5], width, n), out, t, stride)
    cuda.syncthreads()
    block_add(_loss_range(loss, out, y, labels, g_out, huber_delta, t, stride), total)
    turn = 0
    gT = _mat(ws, spots[turn], width, n)
    transpose_range(g_out, gT, t, stride)
    cuda.syncthreads()
    for l in range(last, -1, -1):
        fan_in, fan_out, w_off, b_off = plan[l, 0], plan[l, 1], plan[l, 2], plan[l, 3]
        kind = plan[l, 6]
        deltaT = gT
        if kind != IDENTITY:
            zT, aT = _mat(ws, plan[l, 4], fan_out, n), _mat(ws, plan[l, 5], fan_out, n)
            deltaT = _mat(ws, spots[SPOT_DELTA], fan_out, n)
            for e in range(t, fan_out * n, stride):
                i, j = e // n, e % n
                deltaT[i, j] = gT[i, j] * act_grad(kind, zT[i, j], aT[i, j], alphas[l])
            cuda.syncthreads()
        gW = _mat(grad, w_off, fan_out, fan_in)
        gb = grad[b_off : b_off + fan_out]
        if l == 0:
            grad_w_range(x, True, deltaT, gW, gb, t, stride)
        else:
            prev = _mat(ws, plan[l - 1, 5], fan_in, n)
            grad_w_range(prev, False, deltaT, gW, gb, t, stride)
            turn = 1 - turn
            gT = _mat(ws, spots[turn], fan_in, n)
            grad_x_range(_mat(data, w_off, fan_out, fan_in), deltaT, gT, t, stride)
        cuda.syncthreads()
