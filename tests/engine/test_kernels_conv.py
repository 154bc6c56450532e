"""Image-layer kernels against plain NumPy references (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Sequential
from engine.kernels.cpu import conv as cpu_conv
from engine.kernels.cpu import norm as cpu_norm
from engine.kernels.cpu import pool as cpu_pool
from engine.layers.image import Conv2D


def conv_ref(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    n, _c, h, w = x.shape
    oc, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    z = np.empty((n, oc, oh, ow))
    for y in range(oh):
        for xx in range(ow):
            patch = xp[:, :, y * stride : y * stride + kh, xx * stride : xx * stride + kw]
            z[:, :, y, xx] = np.einsum("nchw,ochw->no", patch, W) + b
    return z


def conv_buffers(x, W, stride, pad):
    """The workspaces the layer allocates, from ``Conv2D.workspace_shapes``: a batch this small
    is one chunk, whose block of ``cols`` and ``zt`` the serial kernels take."""
    n, c, h, w = x.shape
    oc, _, k, _ = W.shape
    layer = Conv2D(c, oc, k, stride=stride, padding=pad)
    shapes = layer.workspace_shapes(n, h, w)
    assert shapes["cols"][0] == shapes["zt"][0] == 1
    z = np.empty((n, *layer.out_shape((c, h, w))))
    return np.empty(shapes["xpad"]), np.empty(shapes["cols"][1:]), np.empty(shapes["zt"][1:]), z


# One input channel and three run stride 1 directly (``DIRECT_MAX``), four and sixteen through
# im2col + GEMM (sixteen: the weight gradient too, past ``SMALL_GRAD_W``).
@pytest.mark.parametrize("c", [1, 3, 4, 16])
@pytest.mark.parametrize(
    ("stride", "pad", "k"),
    [(1, 0, 3), (1, 1, 3), (2, 1, 3), (2, 0, 3), (3, 2, 3), (1, 3, 3), (2, 2, 5), (1, 2, 5),
     (1, 0, 1)],
)  # fmt: skip
def test_conv2d_forward_and_backward(stride: int, pad: int, k: int, c: int) -> None:
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(2, c, 7, 6)), rng.normal(size=(4, c, k, k)), rng.normal(size=4)
    xpad, cols, zt, z = conv_buffers(x, W, stride, pad)
    cpu_conv.conv2d_forward(x, W, b, stride, pad, xpad, cols, zt, z)
    np.testing.assert_allclose(z, conv_ref(x, W, b, stride, pad), rtol=1e-12, atol=1e-12)
    delta = rng.normal(size=z.shape)
    gW, gb, gx = np.empty_like(W), np.empty_like(b), np.empty_like(x)
    dcols = np.empty_like(cols)
    cpu_conv.conv2d_backward(
        x, W, delta, stride, pad, xpad, cols, np.empty_like(zt), gW, gb, dcols, gx, True
    )
    # the convolution is linear: its gradients are the adjoints, checked by <δ, conv(x)> identities
    eps_W = rng.normal(size=W.shape)
    lin_W = (
        delta * (conv_ref(x, W + eps_W, b, stride, pad) - conv_ref(x, W, b, stride, pad))
    ).sum()
    assert lin_W == pytest.approx((gW * eps_W).sum(), rel=1e-10)
    eps_x = rng.normal(size=x.shape)
    lin_x = (
        delta * (conv_ref(x + eps_x, W, b, stride, pad) - conv_ref(x, W, b, stride, pad))
    ).sum()
    assert lin_x == pytest.approx((gx * eps_x).sum(), rel=1e-10)
    np.testing.assert_allclose(gb, delta.sum(axis=(0, 2, 3)), rtol=1e-12)


@pytest.mark.parametrize(("k", "stride"), [(2, 2), (3, 1)])
def test_pooling_forward_and_backward(k: int, stride: int) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 6, 6))
    oh = (6 - k) // stride + 1
    windows = np.stack(
        [x[:, :, y * stride : y * stride + k, xx * stride : xx * stride + k].reshape(2, 3, -1)
         for y in range(oh) for xx in range(oh)], axis=2,
    ).reshape(2, 3, oh, oh, k * k)  # fmt: skip
    out, arg = np.empty((2, 3, oh, oh)), np.empty((2, 3, oh, oh), dtype=np.int64)
    cpu_pool.maxpool2d_forward(x, k, stride, out, arg)
    np.testing.assert_array_equal(out, windows.max(-1))
    g = rng.normal(size=out.shape)
    gx = np.empty_like(x)
    cpu_pool.maxpool2d_backward(g, arg, gx)
    assert gx.sum() == pytest.approx(g.sum()) and np.count_nonzero(gx) <= g.size
    cpu_pool.avgpool2d_forward(x, k, stride, out)
    np.testing.assert_allclose(out, windows.mean(-1), rtol=1e-12)
    cpu_pool.avgpool2d_backward(g, k, stride, gx)
    eps = rng.normal(size=x.shape)
    out2 = np.empty_like(out)
    cpu_pool.avgpool2d_forward(eps, k, stride, out2)
    assert (g * out2).sum() == pytest.approx((gx * eps).sum(), rel=1e-10)


def test_batchnorm_matches_numpy_and_updates_running_stats() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 3, 5)) * 2 + 1
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    rm, rv = np.zeros(3), np.ones(3)
    xhat, out, istd = np.empty_like(x), np.empty_like(x), np.empty(3)
    cpu_norm.batchnorm_forward(x, gamma, beta, 1e-5, True, 0.1, rm, rv, xhat, out, istd)
    mu, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    ref = (x - mu[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5)
    np.testing.assert_allclose(out, gamma[None, :, None] * ref + beta[None, :, None], rtol=1e-10)
    np.testing.assert_allclose(rm, 0.1 * mu, rtol=1e-12)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(axis=(0, 2), ddof=1), rtol=1e-12)
    dy = rng.normal(size=x.shape)
    dx, gg, gb = np.empty_like(x), np.empty(3), np.empty(3)
    cpu_norm.batchnorm_backward(dy, xhat, gamma, istd, dx, gg, gb)
    eps = 1e-6 * rng.normal(size=x.shape)  # directional derivative of <dy, out(x)>
    out2 = np.empty_like(x)
    cpu_norm.batchnorm_forward(x + eps, gamma, beta, 1e-5, True, 0.1, rm.copy(), rv.copy(),
                               np.empty_like(x), out2, np.empty(3))  # fmt: skip
    assert (dy * (out2 - out)).sum() == pytest.approx((dx * eps).sum(), rel=1e-4)
    np.testing.assert_allclose(gg, (dy * xhat).sum(axis=(0, 2)), rtol=1e-12)


def test_layernorm_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 6))
    gamma, beta = rng.normal(size=6), rng.normal(size=6)
    xhat, out, istd = np.empty_like(x), np.empty_like(x), np.empty(5)
    cpu_norm.layernorm_forward(x, gamma, beta, 1e-5, xhat, out, istd)
    ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, gamma * ref + beta, rtol=1e-10)
    dy = rng.normal(size=x.shape)
    dx, gg, gb = np.empty_like(x), np.empty(6), np.empty(6)
    cpu_norm.layernorm_backward(dy, xhat, gamma, istd, dx, gg, gb)
    eps = 1e-6 * rng.normal(size=x.shape)
    out2 = np.empty_like(x)
    cpu_norm.layernorm_forward(x + eps, gamma, beta, 1e-5, np.empty_like(x), out2, np.empty(5))
    assert (dy * (out2 - out)).sum() == pytest.approx((dx * eps).sum(), rel=1e-4)
    np.testing.assert_allclose(gb, dy.sum(0), rtol=1e-12)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_weight_gradient_with_fewer_positions_than_channels(stride: int) -> None:
    """One image whose output has fewer positions than the layer has channels (a 4×4 map at
    the end of a small CNN): the weight gradient has no room in ``dcols`` for its transpose and
    takes the plain product."""
    rng = np.random.default_rng(4)
    x, W, b = rng.normal(size=(1, 16, 4, 4)), rng.normal(size=(32, 16, 3, 3)), rng.normal(size=32)
    xpad, cols, zt, z = conv_buffers(x, W, stride, 1)
    assert cols.size < 32 * 16 * 9  # the case: dcols (shaped as cols) is smaller than ∂L/∂Wᵀ
    cpu_conv.conv2d_forward(x, W, b, stride, 1, xpad, cols, zt, z)
    delta = rng.normal(size=z.shape)
    gW, gb, gx = np.empty_like(W), np.empty_like(b), np.empty_like(x)
    dcols = np.empty_like(cols)
    cpu_conv.conv2d_backward(
        x, W, delta, stride, 1, xpad, cols, np.empty_like(zt), gW, gb, dcols, gx, True
    )
    eps_W = rng.normal(size=W.shape)
    lin_W = (delta * (conv_ref(x, W + eps_W, b, stride, 1) - conv_ref(x, W, b, stride, 1))).sum()
    assert lin_W == pytest.approx((gW * eps_W).sum(), rel=1e-10)


def test_conv_backward_reads_the_input_its_forward_padded() -> None:
    """A first layer's weight gradient is summed from the padded input the forward pass left;
    the layer keeps that array, so buffers let go in between (many batch sizes) change nothing."""
    net = Sequential([Conv2D(1, 4, 3, padding=1)], input_shape=(1, 6, 6), seed=0, dtype="float64")
    layer = net.layers[0]
    rng = np.random.default_rng(5)
    x, delta = rng.normal(size=(3, 1, 6, 6)), rng.normal(size=(3, 4, 6, 6))
    layer.forward(x, True)
    layer.backward(delta, need_grad_x=False)
    expected = layer.grads["W"].copy()
    layer.forward(x, True)
    layer._buffers.clear()
    layer.backward(delta, need_grad_x=False)
    np.testing.assert_array_equal(layer.grads["W"], expected)
