"""Looking inside a network: each layer's output, dead ReLU units, the loss over two weights.

Plain NumPy on top of :class:`engine.network.Sequential`, for views and lessons that show what a
network does rather than train it. Everything runs in evaluation mode (dropout off) and leaves
the network as it found it.

Example:
    >>> a, b, Z = loss_surface(net, "mse", X, y, params=("0.W[0,0]", "0.b[0]"), span=2.0)
    >>> Z.shape  # Z[j, i]: the loss at a = a[i], b = b[j]
    (41, 41)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.layers.activations import LeakyReLU, ReLU
from engine.losses import LOSSES, check_loss
from engine.network import Sequential

__all__ = ["dead_units", "grad_ratio", "layer_grad_norms", "layer_outputs", "loss_surface"]

RELU_FAMILY = (ReLU, LeakyReLU)
"""The activation layers :func:`dead_units` reports on; a leaky unit always passes a gradient,
so it is never dead."""


def layer_outputs(net: Sequential, X: Any) -> list[np.ndarray]:
    """Each top-level layer's output for the inputs ``X``, in evaluation mode, as host arrays.

    ``outputs[i]`` is what layer ``i`` gives: for a Dense layer followed by an activation, the
    activation's output is each hidden unit's own value over ``X`` (over a grid of the plane, the
    unit's own boundary).
    """
    x = net.as_input(X)
    outputs = []
    with net._blas_threads():
        for layer in net.layers:
            x = layer.forward(x, training=False, cache=False)
            outputs.append(np.array(net.backend.to_host(x)))
    return outputs


def dead_units(net: Sequential, X: Any) -> tuple[float, ...]:
    """Per ReLU or leaky ReLU layer (first to last), the share of its units that are dead on
    ``X``: their pre-activation is ≤ 0 for every sample, so no gradient reaches their weights.

    A unit is one entry of the layer's input per sample (a hidden neuron after a Dense layer;
    a channel at one pixel after a convolution). Leaky units count as alive (0.0). Layers
    nested inside blocks are not reported.
    """
    x = net.as_input(X)
    if x.shape[0] == 0:
        raise UserError("dead_units needs at least one sample", "pass the training inputs")
    shares = []
    with net._blas_threads():
        for layer in net.layers:
            if isinstance(layer, ReLU):
                z = np.asarray(net.backend.to_host(x)).reshape(x.shape[0], -1)
                shares.append(float(np.mean(np.all(z <= 0.0, axis=0))))
            elif isinstance(layer, LeakyReLU):
                shares.append(0.0)
            x = layer.forward(x, training=False, cache=False)
    return tuple(shares)


def layer_grad_norms(net: Sequential) -> tuple[float, ...]:
    """‖∂L/∂θ‖ of each top-level layer with parameters, first to last, from the gradients the
    last ``loss_and_grad`` (or training step) left in ``net.grads``."""
    norms: dict[str, float] = {}
    for name, grad in net.grads.items():
        layer = name.split(".")[0]
        g = np.asarray(net.backend.to_host(grad), dtype=np.float64)
        norms[layer] = norms.get(layer, 0.0) + float(np.sum(g * g))
    return tuple(math.sqrt(v) for v in norms.values())


def grad_ratio(norms: Sequence[float]) -> float | None:
    """‖∂L/∂θ‖ of the first layer over that of the last (``layer_grad_norms``): far below 1, the
    gradient vanishes on its way down. None when it is not defined (fewer than two layers, a
    last norm of 0, or a norm not finite)."""
    if len(norms) < 2 or not norms[-1] > 0 or not all(math.isfinite(n) for n in norms):
        return None
    return float(norms[0] / norms[-1])


def loss_surface(
    net: Sequential,
    loss: str,
    X: Any,
    y: Any,
    params: tuple[str, str] = ("0.W[0,0]", "0.b[0]"),
    center: tuple[float, float] | None = None,
    span: float | tuple[float, float] = 2.0,
    n: int = 41,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean data loss over a grid of two parameters, every other parameter as it is.

    Args:
        net: the network; its parameters are restored before returning, whatever happens.
        loss: the loss's name (``engine.losses.LOSSES``).
        X, y: the samples the loss is measured on (evaluation mode: dropout off; no penalty).
        params: the two parameter entries that vary, e.g. ``("0.W[0,0]", "0.b[0]")``.
        center: the grid's centre; None: the entries' current values.
        span: half the width of each axis (one number for both, or one per axis).
        n: grid points per axis, at least 2.

    Returns:
        ``(a, b, Z)``: the values of the first entry (n,), of the second (n,), and Z of shape
        (n, n) with ``Z[j, i]`` the loss at ``a[i]``, ``b[j]`` (rows follow b, as a contour
        plot draws them).

    Raises:
        UserError: for an unknown entry, the same entry twice, a span not positive or n < 2.
    """
    check_loss(loss)
    if len(params) != 2:
        raise UserError(f"params = {params!r} must name two entries", 'e.g. ("0.W[0,0]", "0.b[0]")')
    spans = (span, span) if isinstance(span, int | float) else tuple(span)
    if len(spans) != 2 or not all(math.isfinite(s) and s > 0 for s in spans):
        raise UserError(f"span = {span!r} must be positive", "use e.g. span = 2.0")
    if not isinstance(n, int) or n < 2:
        raise UserError(f"n = {n!r} grid points per axis is too few", "use e.g. n = 41")
    where = [net.entry_position(p) for p in params]
    if where[0] == where[1]:
        raise UserError(f"params name the same entry twice: {params}", "name two different ones")
    host = np.asarray(net.backend.to_host(net.data))
    now = [float(host[w]) for w in where]
    mid = now if center is None else [float(c) for c in center]
    axes = [np.linspace(m - s, m + s, n) for m, s in zip(mid, spans, strict=True)]
    xb = net.as_input(X)
    yb = net.as_target(y, loss, xb.shape[0])
    saved = np.array(host)
    Z = np.empty((n, n))
    delta = LOSSES[loss].delta
    try:
        with net._blas_threads():
            for j, b in enumerate(axes[1]):
                net.data[where[1]] = b
                for i, a in enumerate(axes[0]):
                    net.data[where[0]] = a
                    out = net._forward(xb, training=False, cache=False)
                    grad = net.backend.empty(out.shape, out.dtype)
                    Z[j, i] = net.backend.loss(loss, out, yb, grad, delta)
    finally:
        net.data[...] = saved
    return axes[0], axes[1], Z
