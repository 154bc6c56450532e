"""A whole multilayer perceptron's forward pass, loss and backward pass in one Numba call.

For a small network the arithmetic of a training step takes a few microseconds, and the Python
around ten separate kernel calls costs more than that. ``mlp_loss_and_grad`` runs the step of a
network made of ``Dense`` layers, each optionally followed by one element-wise activation, in one
call, with the activation and loss kernels of the layer-by-layer path (``engine.kernels.cpu.core``).

Inside, activations are stored feature-major — ``zT``/``aT`` of shape ``(units, n)``, the
transpose of the layer-by-layer path's — so that every loop of a small layer runs along the batch,
contiguous, and vectorises however narrow the layer is. A large layer hands its products to BLAS
(``blas.product``, the call ``np.dot`` makes), which takes either layout. Only the loss sees the
usual row-major ``(n, units)``.

Layout, one row of ``plan`` per Dense layer ``l`` (the wrapper in ``engine.backends.fused`` builds
it)::

    plan[l] = (fan_in, fan_out, W offset, b offset, zT offset, aT offset, activation kind,
               δ offset)

The δ offset is where a split batch's chunk keeps layer l's δ for the weight gradient, made after
every chunk's backward pass (``_loss_and_deltas``); a whole batch makes its weight gradients as it
goes and leaves it 0, unread.

``W``/``b`` are views of the flat ``data``/``grad`` buffers, ``zT``/``aT`` views of the workspace
``ws`` (``aT`` is ``zT`` for a layer without an activation). ``spots`` holds further workspace
offsets: the two ∂L/∂a buffers used in turn, δ = ∂L/∂z (apart from ∂L/∂a: an element-wise loop
whose output aliases an input does not vectorise), ``xT`` (the input, transposed, for a small
first layer), and the row-major output and loss gradient.

``kinds`` is the set of activation kinds in ``plan`` (a bitmask). The CPU backend compiles the
kernel with ``loss`` and ``kinds`` as constants, so that a network's kernel holds its own loss
and activations and no other: on an empty cache a first step compiles a fraction of the code,
and each (loss, activations, dtype) the user trains is compiled once and kept on disk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import overload

from engine import _numba_setup  # noqa: F401
from engine.activations import IDENTITY
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu.blas import product
from engine.kernels.cpu.views import mat

LOSS_MSE = 0
LOSS_HUBER = 1
LOSS_BCE = 2
LOSS_BCE_LOGITS = 3
LOSS_CROSS_ENTROPY = 4

SMALL_PRODUCT = 1 << 15  # n·in·out below which loops beat a BLAS call
SPOT_G0, SPOT_G1, SPOT_DELTA, SPOT_XT, SPOT_OUT, SPOT_GRAD_OUT = 0, 1, 2, 3, 4, 5

FAST = {"reassoc", "contract"}  # sums may be reordered (vectorised); NaN and Inf stay exact


@njit(cache=True, nogil=True, fastmath=FAST)
def forward_t(xT, W, b, zT):
    """zT = W xT + b, feature-major.   for j, i: zT[j, i] = b[j] + sum_k W[j, k] xT[k, i]"""
    m, n = zT.shape
    for j in range(m):
        row = zT[j]
        for i in range(n):
            row[i] = b[j]
        for k in range(W.shape[1]):
            w = W[j, k]
            src = xT[k]
            for i in range(n):
                row[i] += w * src[i]


@njit(cache=True, nogil=True, fastmath=FAST)
def backward_t(xT, W, deltaT, grad_W, grad_b, grad_xT, need_grad_x):
    """grad_W = δ xᵀ, grad_b = Σ_batch δ, grad_xT = Wᵀ δ, with δ = deltaT of shape (out, n)."""
    m, n = deltaT.shape
    k_in = W.shape[1]
    for j in range(m):
        d = deltaT[j]
        s = 0.0
        for i in range(n):
            s += d[i]
        grad_b[j] = s
        for k in range(k_in):
            src = xT[k]
            s = 0.0
            for i in range(n):
                s += d[i] * src[i]
            grad_W[j, k] = s
    if need_grad_x:
        _grad_x_t(W, deltaT, grad_xT)


@njit(cache=True, nogil=True, inline="always")
def _grad_x_t(W, deltaT, grad_xT):
    """grad_xT = Wᵀ δ, feature-major, by loops (a layer too small for BLAS); inlined, so it
    compiles as part of its caller, with the caller's fastmath flags."""
    n = deltaT.shape[1]
    for k in range(W.shape[1]):
        row = grad_xT[k]
        for i in range(n):
            row[i] = 0.0
        for j in range(W.shape[0]):
            w = W[j, k]
            d = deltaT[j]
            for i in range(n):
                row[i] += w * d[i]


@njit(cache=True, nogil=True)
def transpose(a, out):
    """out = aᵀ."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j, i] = a[i, j]


@njit(cache=True, nogil=True, fastmath=FAST)
def _row_sum(a):
    """Σ a, accumulated in float64 (a contiguous row): a bias gradient, Σ over the batch of δ."""
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i]
    return s


@njit(cache=True, nogil=True)
def _row_sums(a, out):
    for j in range(a.shape[0]):
        out[j] = _row_sum(a[j])


@njit(cache=True, nogil=True)
def _add_to_rows(a, b):
    for j in range(a.shape[0]):
        for i in range(a.shape[1]):
            a[j, i] += b[j]


@njit(cache=True, nogil=True, inline="always")
def _row(plan, l):
    return plan[l, 0], plan[l, 1], plan[l, 2], plan[l, 3], plan[l, 4], plan[l, 5], plan[l, 6]


# ------------------------------------------------------------------ what the network uses
# ``loss`` and ``kinds`` (a bitmask of the activation kinds in ``plan``, ``1 << kind`` each) are
# plain integers when the kernel is called the usual way: then every loss and every activation
# is compiled, behind a test of the code. Compiled for constants instead (``types.literal``, as
# the CPU backend does), the calls below resolve to the one loss kernel and the activation
# kernels the network uses, and nothing else is typed or compiled. Either way the same kernels
# run, so the numbers are the same bits.


def _loss(loss, out, y, labels, g, huber_delta):
    """The mean loss of ``out``; writes ∂L/∂out into ``g`` (compiled code only)."""
    raise NotImplementedError("a placeholder for compiled code")


def _any_loss(loss, out, y, labels, g, huber_delta):
    if loss == LOSS_CROSS_ENTROPY:
        return cpu.cross_entropy_loss(out, labels, g)
    if loss == LOSS_MSE:
        return cpu.mse_loss(out, y, g)
    if loss == LOSS_HUBER:
        return cpu.huber_loss(out, y, g, huber_delta)
    if loss == LOSS_BCE:
        return cpu.bce_loss(out, y, g)
    return cpu.bce_logits_loss(out, y, g)


def _mse(loss, out, y, labels, g, huber_delta):
    return cpu.mse_loss(out, y, g)


def _huber(loss, out, y, labels, g, huber_delta):
    return cpu.huber_loss(out, y, g, huber_delta)


def _bce(loss, out, y, labels, g, huber_delta):
    return cpu.bce_loss(out, y, g)


def _bce_logits(loss, out, y, labels, g, huber_delta):
    return cpu.bce_logits_loss(out, y, g)


def _cross_entropy(loss, out, y, labels, g, huber_delta):
    return cpu.cross_entropy_loss(out, labels, g)


_LOSS_KERNELS = {
    LOSS_MSE: _mse,
    LOSS_HUBER: _huber,
    LOSS_BCE: _bce,
    LOSS_BCE_LOGITS: _bce_logits,
    LOSS_CROSS_ENTROPY: _cross_entropy,
}


@overload(_loss, prefer_literal=True)
def _loss_kernel(loss, out, y, labels, g, huber_delta):
    if isinstance(loss, types.IntegerLiteral):
        return _LOSS_KERNELS[loss.literal_value]
    return _any_loss


def _lowest(kinds: int) -> tuple[int, int]:
    """The lowest kind in the bitmask ``kinds``, and the bitmask without it."""
    return (kinds & -kinds).bit_length() - 1, kinds & (kinds - 1)


def _activate(z, a, kind, alpha, kinds):
    """a = σ(z) for activation ``kind``, one of the bitmask ``kinds`` (compiled code only)."""
    raise NotImplementedError("a placeholder for compiled code")


def _activate_any(z, a, kind, alpha, kinds):
    cpu.activation_forward(z, a, kind, alpha)


def _nothing(z, a, kind, alpha, kinds):
    pass


@overload(_activate, prefer_literal=True)
def _activate_kernel(z, a, kind, alpha, kinds):
    """One test and one call per kind in ``kinds``: the kind's own kernel (``cpu.FORWARD``, as
    the layer-by-layer path calls it), else the general kernel, which covers every kind."""
    if not isinstance(kinds, types.IntegerLiteral):
        return _activate_any
    if kinds.literal_value == 0:
        return _nothing
    first, rest = _lowest(kinds.literal_value)
    own = cpu.FORWARD.get(first)
    if own is None:
        return _activate_any
    if rest == 0:  # the last kind left: the only one ``kind`` can be (never the identity)

        def only(z, a, kind, alpha, kinds):
            own(z, a, alpha)

        return only

    def impl(z, a, kind, alpha, kinds):
        if kind == first:
            own(z, a, alpha)
        else:
            _activate(z, a, kind, alpha, rest)

    return impl


def _activate_back(z, a, grad_a, grad_z, kind, alpha, kinds):
    """∂L/∂z = ∂L/∂a · σ'(z) for ``kind``, one of ``kinds`` (compiled code only)."""
    raise NotImplementedError("a placeholder for compiled code")


def _activate_back_any(z, a, grad_a, grad_z, kind, alpha, kinds):
    cpu.activation_backward(z, a, grad_a, grad_z, kind, alpha)


def _nothing_back(z, a, grad_a, grad_z, kind, alpha, kinds):
    pass


@overload(_activate_back, prefer_literal=True)
def _activate_back_kernel(z, a, grad_a, grad_z, kind, alpha, kinds):
    """As ``_activate_kernel``, with ``cpu.BACKWARD``."""
    if not isinstance(kinds, types.IntegerLiteral):
        return _activate_back_any
    if kinds.literal_value == 0:
        return _nothing_back
    first, rest = _lowest(kinds.literal_value)
    own = cpu.BACKWARD.get(first)
    if own is None:
        return _activate_back_any
    if rest == 0:

        def only(z, a, grad_a, grad_z, kind, alpha, kinds):
            own(z, a, grad_a, grad_z, alpha)

        return only

    def impl(z, a, grad_a, grad_z, kind, alpha, kinds):
        if kind == first:
            own(z, a, grad_a, grad_z, alpha)
        else:
            _activate_back(z, a, grad_a, grad_z, kind, alpha, rest)

    return impl


def callees(dtype: Any, loss: int, kinds: int) -> list[tuple[Any, tuple]]:
    """The kernels of their own (each cached apart) that ``mlp_loss_and_grad``, compiled for the
    constants ``loss`` and ``kinds``, calls, in the order its compile reaches them, each with
    scratch arguments of the types the kernel passes it.

    Compiling a kernel first compiles, or loads from the disk cache, every kernel it calls. A
    second process calling these last first (``engine.warmup``) meets the first one's compile
    half way, as each finds in the cache what the other has compiled.
    """
    m, v = np.zeros((2, 2), dtype), np.zeros(2, dtype)
    losses: dict[int, tuple[Any, tuple]] = {
        LOSS_MSE: (cpu.mse_loss, (m, m, m)),
        LOSS_HUBER: (cpu.huber_loss, (m, m, m, 1.0)),
        LOSS_BCE: (cpu.bce_loss, (m, m, m)),
        LOSS_BCE_LOGITS: (cpu.bce_logits_loss, (m, m, m)),
        LOSS_CROSS_ENTROPY: (cpu.cross_entropy_loss, (m, np.zeros(2, np.int64), m)),
    }
    forward: list[tuple[Any, tuple]] = []
    backward: list[tuple[Any, tuple]] = []
    rest = kinds
    while rest:  # as ``_activate_kernel`` picks them: own kernels, until one has none
        kind, rest = _lowest(rest)
        if kind not in cpu.FORWARD:
            forward.append((cpu.activation_forward, (m, m, kind, 0.0)))
            backward.append((cpu.activation_backward, (m, m, m, m, kind, 0.0)))
            break
        forward.append((cpu.FORWARD[kind], (m, m, 0.0)))
        backward.append((cpu.BACKWARD[kind], (m, m, m, m, 0.0)))
    head = [(transpose, (m, m)), (_add_to_rows, (m, v)), (forward_t, (m, m, v, m))]
    tail = [(_row_sums, (m, v)), (backward_t, (m, m, m, m, v, m, True))]
    return [*head, *forward, losses[loss], *backward, *tail]


@njit(cache=True, nogil=True, inline="always")
def _forward(x, data, ws, plan, alphas, spots, kinds):
    n = x.shape[0]
    small_first = n * plan[0, 0] * plan[0, 1] < SMALL_PRODUCT
    if small_first:
        transpose(x, mat(ws, spots[SPOT_XT], x.shape[1], n))
    for l in range(plan.shape[0]):
        fan_in, fan_out, w_off, b_off, z_off, a_off, kind = _row(plan, l)
        W = mat(data, w_off, fan_out, fan_in)
        b = data[b_off : b_off + fan_out]
        zT = mat(ws, z_off, fan_out, n)
        if l == 0 and not small_first:
            product(W, False, x, True, zT)
            _add_to_rows(zT, b)
        else:
            src = spots[SPOT_XT] if l == 0 else plan[l - 1, 5]
            xT = mat(ws, src, fan_in, n)
            if n * fan_in * fan_out < SMALL_PRODUCT:
                forward_t(xT, W, b, zT)
            else:
                product(W, False, xT, False, zT)
                _add_to_rows(zT, b)
        if kind != IDENTITY:
            _activate(zT, mat(ws, a_off, fan_out, n), kind, alphas[l], kinds)


@njit(cache=True, nogil=True)
def _copy(a, out):
    for j in range(a.shape[0]):
        src, dst = a[j], out[j]
        for i in range(a.shape[1]):
            dst[i] = src[i]


@njit(cache=True, nogil=True, inline="always")
def _head(x, y, labels, data, ws, plan, alphas, spots, loss, huber_delta, kinds):
    """The forward pass and the loss; returns the mean loss and ∂L/∂a of the last layer,
    feature-major, in ``spots[0]``."""
    n = x.shape[0]
    last = plan.shape[0] - 1
    _forward(x, data, ws, plan, alphas, spots, kinds)
    width = plan[last, 1]
    out = mat(ws, spots[SPOT_OUT], n, width)
    g_out = mat(ws, spots[SPOT_GRAD_OUT], n, width)
    transpose(mat(ws, plan[last, 5], width, n), out)
    value = _loss(loss, out, y, labels, g_out, huber_delta)
    gT = mat(ws, spots[0], width, n)
    transpose(g_out, gT)
    return value, gT


@njit(cache=True, nogil=True)
def mlp_loss_and_grad(x, y, labels, data, grad, ws, plan, alphas, spots, loss, huber_delta, kinds):
    """Forward, loss and backward of a Dense/activation stack; returns the mean loss.

    for l = 1..L:   z_l = a_{l-1} W_lᵀ + b_l;  a_l = σ_l(z_l)            (a_0 = x)
    g = ∂L/∂a_L from the loss kernel (``y`` float targets, or ``labels`` for cross-entropy)
    for l = L..1:   δ_l = g ⊙ σ_l'(z_l);  ∂L/∂W_l = δ_lᵀ a_{l-1};  ∂L/∂b_l = Σ δ_l;  g = δ_l W_l
    """
    n = x.shape[0]
    value, gT = _head(x, y, labels, data, ws, plan, alphas, spots, loss, huber_delta, kinds)
    turn = 0
    for l in range(plan.shape[0] - 1, -1, -1):
        fan_in, fan_out, w_off, b_off, z_off, a_off, kind = _row(plan, l)
        if kind != IDENTITY:
            zT, aT = mat(ws, z_off, fan_out, n), mat(ws, a_off, fan_out, n)
            deltaT = mat(ws, spots[SPOT_DELTA], fan_out, n)
            _activate_back(zT, aT, gT, deltaT, kind, alphas[l], kinds)
        else:
            deltaT = gT
        W = mat(data, w_off, fan_out, fan_in)
        gW = mat(grad, w_off, fan_out, fan_in)
        gb = grad[b_off : b_off + fan_out]
        turn = 1 - turn
        gxT = mat(ws, spots[turn], fan_in, n) if l > 0 else gT  # a placeholder at l = 0
        small = n * fan_in * fan_out < SMALL_PRODUCT
        if l == 0 and not small:
            product(deltaT, False, x, False, gW)
            _row_sums(deltaT, gb)
        else:
            src = spots[SPOT_XT] if l == 0 else plan[l - 1, 5]
            xT = mat(ws, src, fan_in, n)
            if small:
                backward_t(xT, W, deltaT, gW, gb, gxT, l > 0)
            else:
                product(deltaT, False, xT, True, gW)
                _row_sums(deltaT, gb)
                if l > 0:
                    product(W, True, deltaT, False, gxT)
        gT = gxT
    return value


@njit(cache=True, nogil=True)
def _loss_and_deltas(x, y, labels, data, ws, plan, alphas, spots, loss, huber_delta, kinds):
    """``mlp_loss_and_grad`` without the weight and bias gradients: each layer's δ_l is left in
    the workspace at ``plan[l, 7]``. A batch split into chunks makes the gradients from every
    chunk's δ after all the chunks finish (``engine.kernels.cpu.chunks``)."""
    n = x.shape[0]
    value, gT = _head(x, y, labels, data, ws, plan, alphas, spots, loss, huber_delta, kinds)
    turn = 0
    for l in range(plan.shape[0] - 1, -1, -1):
        fan_in, fan_out, w_off, _, z_off, a_off, kind = _row(plan, l)
        deltaT = mat(ws, plan[l, 7], fan_out, n)
        if kind != IDENTITY:
            zT, aT = mat(ws, z_off, fan_out, n), mat(ws, a_off, fan_out, n)
            _activate_back(zT, aT, gT, deltaT, kind, alphas[l], kinds)
        else:
            _copy(gT, deltaT)
        if l > 0:
            W = mat(data, w_off, fan_out, fan_in)
            turn = 1 - turn
            gT = mat(ws, spots[turn], fan_in, n)
            if n * fan_in * fan_out < SMALL_PRODUCT:
                _grad_x_t(W, deltaT, gT)
            else:
                product(W, True, deltaT, False, gT)
    return value
