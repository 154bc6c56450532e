"""Every registered layer type against its PyTorch twin, generated from the registry (float64).

Each type's network from ``layer_cases`` is mirrored module by module into ``torch.nn`` (its
twin below), both run forward and backward under mean squared error on the same batch, and the
outputs, loss, parameter gradients and input gradients must agree. Activations find their module
through their definition (``definition.torch``); a type PyTorch has no module for is listed in
``NO_TWIN`` with the reason, and a type in neither place fails. Skipped without PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from layer_cases import case_for, layer_types
from torch_helpers import F, assert_close, copy_into, engine_mse, nn, torch, torch_mse, torch_name

from engine import Sequential
from engine.layers import LAYER_TYPES, Layer
from engine.layers.activations import Activation

Call = Callable[[Any, Any], Any]  # (module, input) → output
Twin = Callable[[Any], tuple[Any, Call]]


def _plain(module: Any) -> Any:
    return module, lambda m, x: m(x)


def _recurrent(layer: Any) -> tuple[Any, Call]:
    module = getattr(nn, layer.type_name)(layer.input_size, layer.hidden, batch_first=True)
    return module, lambda m, x: m(x)[0] if layer.return_sequences else m(x)[0][:, -1]


def _attention(layer: Any) -> tuple[Any, Call]:
    def call(m: Any, x: Any) -> Any:
        T = x.shape[1]
        mask = torch.triu(torch.ones(T, T), 1).bool() if layer.causal else None
        return m(x, x, x, need_weights=False, attn_mask=mask)[0]

    return nn.MultiheadAttention(layer.d, layer.heads, batch_first=True), call


def _batchnorm(layer: Any) -> tuple[Any, Call]:
    """``F.batch_norm`` takes (n, c) and (n, c, h, w) alike, as the engine's one layer does."""

    def call(m: Any, x: Any) -> Any:
        stats = (m.running_mean, m.running_var, m.weight, m.bias, m.training, m.momentum, m.eps)
        return F.batch_norm(x, *stats)

    return nn.BatchNorm1d(layer.num_features, layer.eps, layer.momentum), call


def _residual(layer: Any) -> tuple[Any, Call]:
    inner = [twin(sub) for sub in layer.inner]
    return nn.Sequential(*(m for m, _ in inner)), lambda m, x: x + run(m, inner, x)


TWINS: dict[str, Twin] = {
    "Dense": lambda l: _plain(nn.Linear(l.in_features, l.units)),
    "Conv2D": lambda l: _plain(
        nn.Conv2d(l.in_channels, l.out_channels, l.k, stride=l.stride, padding=l.padding)
    ),
    "MaxPool2D": lambda l: _plain(nn.MaxPool2d(l.k, l.stride)),
    "AvgPool2D": lambda l: _plain(nn.AvgPool2d(l.k, l.stride)),
    "Flatten": lambda l: _plain(nn.Flatten()),
    "BatchNorm": _batchnorm,
    "LayerNorm": lambda l: _plain(nn.LayerNorm(l.d, eps=l.eps)),
    "Embedding": lambda l: (nn.Embedding(l.vocab, l.d), lambda m, x: m(x.long())),
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "MultiHeadSelfAttention": _attention,
    "Residual": _residual,
}

NO_TWIN = {
    "Dropout": "PyTorch draws other random masks",
    "PositionalEncoding": "torch.nn has no sinusoidal position code",
    "Heaviside": "no gradient to compare (its backward raises; see test_layer_gradients)",
}


def twin(layer: Layer) -> tuple[Any, Call]:
    """The ``torch.nn`` module that computes what ``layer`` does, and how to call it."""
    if layer.type_name in TWINS:
        return TWINS[layer.type_name](layer)
    if isinstance(layer, Activation) and layer.definition.torch:
        return _plain(getattr(nn, layer.definition.torch)())
    pytest.fail(f"layer type {layer.type_name} has no PyTorch twin here, nor a NO_TWIN reason")


def run(container: Any, twins: list[tuple[Any, Call]], x: Any) -> Any:
    for module, (_, call) in zip(container, twins, strict=True):
        x = call(module, x)
    return x


def has_twin(type_name: str) -> bool:
    cls = LAYER_TYPES[type_name]
    if type_name in TWINS:
        return True
    return issubclass(cls, Activation) and bool(cls(None).definition.torch)


@pytest.mark.parametrize("type_name", [t for t in layer_types() if t not in NO_TWIN])
def test_layer_matches_its_pytorch_twin(type_name: str) -> None:
    case = case_for(type_name)
    net = Sequential(case.layers(), seed=3, dtype="float64", input_shape=case.input_shape)
    net.fuse = False  # layer by layer: the input gradient is taken through each layer's backward
    twins = [twin(layer) for layer in net.layers]
    module = nn.Sequential(*(m for m, _ in twins)).double()
    copy_into(module, net)
    rng = np.random.default_rng(7)
    x = case.inputs(rng)
    y = rng.normal(size=(x.shape[0], *net.output_shape))
    loss, out, gx = engine_mse(net, x, y)
    t_loss, t_out, xt = torch_mse(lambda xt: run(module, twins, xt), x, y)
    assert_close(out, t_out, "output")
    assert loss == pytest.approx(t_loss.item(), rel=1e-9)
    named = dict(module.named_parameters())
    for name, grad in net.grads.items():
        torch_grad = named[torch_name(name)].grad
        assert torch_grad is not None, name
        assert_close(grad, torch_grad, f"gradient of {name}")
    if not case.vocab:
        assert_close(gx, xt.grad, "input gradient")


def test_every_layer_type_has_a_twin_or_a_reason() -> None:
    for type_name in layer_types():
        assert has_twin(type_name) != (type_name in NO_TWIN), type_name
