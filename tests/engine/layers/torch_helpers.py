"""What the PyTorch parity tests share: copying weights across under PyTorch's names
(``engine.interop.torch_names``), and one forward and backward pass on both sides under mean
squared error.

Importing it skips the importing test module when PyTorch is not installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import Sequential
from engine.interop.torch_names import torch_name
from engine.layers.core import Layer

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

RTOL, ATOL = 1e-9, 1e-11  # float64 end to end: agreement is far tighter than the 1e-6 asked
OPTIM_TOL = 1e-10


def tensors(module: Any) -> dict[str, Any]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def copy_into(module: Any, net: Sequential, names: Callable[[str], str] = torch_name) -> None:
    """The engine's parameters and buffers, copied into the PyTorch module's tensors."""
    target = tensors(module)
    with torch.no_grad():
        for source in (net.params, net.buffers):
            for name, value in source.items():
                target[names(name)].copy_(torch.from_numpy(value.copy()))


def assert_close(actual: Any, expected: Any, what: str) -> None:
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def assert_grads(net: Sequential, module: Any, names: Callable[[str], str] = torch_name) -> None:
    target = tensors(module)
    for name, grad in net.grads.items():
        assert target[names(name)].grad is not None, name
        assert_close(grad, target[names(name)].grad, f"gradient of {name}")


def backprop_input(net: Sequential, grad_out: np.ndarray) -> np.ndarray | None:
    """∂L/∂x from ∂L/∂(output), through the layers of the last training forward."""
    g: np.ndarray | None = grad_out
    for layer in reversed(net.layers):
        assert g is not None
        g = layer.backward(g, need_grad_x=True)
    return g


def engine_mse(net: Sequential, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, Any]:
    """Mean squared error against ``y``: loss, output and input gradient; fills ``net.grads``."""
    if net.n_params:
        loss = net.loss_and_grad(x, y, "mse")
        out = np.array(net.last_output)
    else:  # a network without parameters has no gradient to fill; only ∂L/∂x is of interest
        out = net.forward(x, training=True)
        loss = float(np.mean((out - y) ** 2))
    return loss, out, backprop_input(net, 2.0 * (out - y) / out.size)


def torch_mse(forward: Callable[[Any], Any], x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Loss and output of ``forward`` under mean squared error; the input's gradient is filled."""
    xt = torch.from_numpy(x)
    if xt.is_floating_point():
        xt.requires_grad_(True)
    out = forward(xt)
    loss = F.mse_loss(out, torch.from_numpy(y))
    loss.backward()
    return loss, out, xt


def check_mse_parity(
    layers: list[Layer],
    input_shape: tuple[int, ...],
    module: Any,
    forward: Callable[[Any], Any],
    x: np.ndarray,
    rng: np.random.Generator,
    input_grad: bool = True,
) -> Sequential:
    """Builds the engine network, mirrors it into ``module``, and compares everything."""
    net = Sequential(layers, seed=3, dtype="float64", input_shape=input_shape)
    module.double()
    copy_into(module, net)
    y = rng.normal(size=(x.shape[0], *net.output_shape))
    loss, out, gx = engine_mse(net, x, y)
    t_loss, t_out, xt = torch_mse(forward, x, y)
    assert_close(out, t_out, "output")
    assert loss == pytest.approx(t_loss.item(), rel=RTOL, abs=ATOL)
    assert_grads(net, module)
    if input_grad:
        assert_close(gx, xt.grad, "input gradient")
    return net
