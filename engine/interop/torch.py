"""A network as a PyTorch module and back: ``to_torch(net)`` and ``from_torch(module)``.

``to_torch`` builds an ``nn.Sequential`` with one module per layer, numbered as the engine numbers
its layers, so its ``state_dict()`` holds PyTorch's usual names and shapes (``"0.weight"``,
``"2.weight_ih_l0"``, ``"1.in_proj_weight"`` …) with the network's values; the engine's layouts are
PyTorch's already (W of shape (out, in), gate orders i f g o and r z n), so every tensor is copied
as it is. Where PyTorch has no module that takes one tensor and gives one, a small one from
``engine.interop.torch_modules`` stands in (a residual block, the step, a recurrent layer that
returns its output only, self-attention, the position code).

``from_torch`` reads such a module back, and any ``nn.Sequential`` of the modules its rules
know (``_rules``: PyTorch's own Linear, Conv2d, pools, Flatten, Dropout, BatchNorm1d/2d,
LayerNorm, Embedding and activations, and the stand-ins above); anything else is a UserError
naming the module. PyTorch is imported only when one of the two is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UserError
from engine.interop.torch_names import torch_names
from engine.layers import (
    GRU,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Heaviside,
    LayerNorm,
    MaxPool2D,
    MultiHeadSelfAttention,
    PositionalEncoding,
    Residual,
)
from engine.layers.activations import ACTIVATION_LAYERS, Activation
from engine.layers.core import Layer

if TYPE_CHECKING:
    from engine.network import Sequential

ALPHA_ARGUMENTS = {"LeakyReLU": "negative_slope", "ELU": "alpha"}
"""The keyword under which a ``torch.nn`` activation takes the engine's α."""


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise UserError(
            "PyTorch is not installed, and converting a network to or from it needs it",
            'install it: pip install torch==2.13.0 (the CPU build), then pip install -e ".[torch]"',
        ) from None
    return torch


# ---------------------------------------------------------------- engine → PyTorch
def _activation(layer: Activation, shape: tuple[int, ...]) -> Any:
    from torch import nn

    from engine.interop import torch_modules as tm

    if isinstance(layer, Heaviside):
        return tm.Step()
    name = layer.definition.torch
    if name is None:
        raise UserError(
            f"layer {layer.type_name} has no PyTorch module", "replace it before converting"
        )
    cls = getattr(nn, name)
    if name in ALPHA_ARGUMENTS:
        return cls(**{ALPHA_ARGUMENTS[name]: layer.alpha})
    return cls()


def _recurrent(layer: RNN | LSTM | GRU, shape: tuple[int, ...], nn: Any, tm: Any) -> Any:
    module = getattr(tm, layer.type_name)(layer.input_size, layer.hidden, batch_first=True)
    module.return_sequences = layer.return_sequences
    return module


def _modules(layers: Sequence[Layer], shape: tuple[int, ...]) -> list[Any]:
    """One module per layer, for inputs of one sample's ``shape``."""
    from torch import nn

    from engine.interop import torch_modules as tm

    modules = []
    for layer in layers:
        if isinstance(layer, Activation):
            modules.append(_activation(layer, shape))
        else:
            if layer.type_name not in TO_TORCH:
                raise UserError(
                    f"layer {layer.type_name} has no PyTorch module to convert to",
                    f"convert networks of {', '.join(TO_TORCH)} and activations",
                )
            modules.append(TO_TORCH[layer.type_name](layer, shape, nn, tm))
        shape = layer.out_shape(shape)
    return modules


Builder = Callable[[Any, tuple[int, ...], Any, Any], Any]
"""(layer, one sample's input shape, ``torch.nn``, ``engine.interop.torch_modules``) → module."""

TO_TORCH: dict[str, Builder] = {
    "Dense": lambda l, s, nn, tm: nn.Linear(l.in_features, l.units),
    "Conv2D": lambda l, s, nn, tm: nn.Conv2d(
        l.in_channels, l.out_channels, l.k, stride=l.stride, padding=l.padding
    ),
    "MaxPool2D": lambda l, s, nn, tm: nn.MaxPool2d(l.k, l.stride),
    "AvgPool2D": lambda l, s, nn, tm: nn.AvgPool2d(l.k, l.stride),
    "Flatten": lambda l, s, nn, tm: nn.Flatten(),
    "Dropout": lambda l, s, nn, tm: nn.Dropout(l.p),
    # BatchNorm2d for images (c, h, w); BatchNorm1d for features (f,) or channels (c, L)
    "BatchNorm": lambda l, s, nn, tm: (nn.BatchNorm2d if len(s) == 3 else nn.BatchNorm1d)(
        l.num_features, eps=l.eps, momentum=l.momentum
    ),
    "LayerNorm": lambda l, s, nn, tm: nn.LayerNorm(l.d, eps=l.eps),
    "Embedding": lambda l, s, nn, tm: tm.Embedding(l.vocab, l.d),
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "PositionalEncoding": lambda l, s, nn, tm: tm.PositionalEncoding(l.table),
    "MultiHeadSelfAttention": lambda l, s, nn, tm: tm.SelfAttention(l.d, l.heads, l.causal),
    "Residual": lambda l, s, nn, tm: tm.Residual(*_modules(l.inner, s)),
}
"""Per layer type (activations apart), the ``torch.nn`` module that computes the same."""


def to_torch(net: Sequential) -> Any:
    """``net`` as a ``torch.nn.Sequential`` with the same weights, dtype and running statistics.

    The module is in training mode, as a new PyTorch module is (call ``.eval()`` for
    inference); it carries the network's ``input_shape`` so that ``from_torch`` needs no more.
    A batch-norm module's ``num_batches_tracked`` is 0: the engine does not count batches.
    """
    from engine.network import Sequential

    if not isinstance(net, Sequential):
        raise UserError(
            f"to_torch takes an engine network (Sequential), not {type(net).__name__!r}",
            "load a saved one first: to_torch(Sequential.load(PATH))",
        )
    torch = _torch()
    model = torch.nn.Sequential(*_modules(net.layers, net.input_shape))
    model.to({"float32": torch.float32, "float64": torch.float64}[net.dtype.name])
    state = model.state_dict()
    with torch.no_grad():
        for name, target in torch_names(net).items():
            views = net.params if name in net.params else net.buffers
            state[target].copy_(torch.from_numpy(np.array(net.backend.to_host(views[name]))))
    model.input_shape = tuple(net.input_shape)
    return model


# ---------------------------------------------------------------- PyTorch → engine
class _Refusal(Exception):
    """Why a module cannot become a layer, and what to do instead."""

    def __init__(self, why: str, fix: str = "") -> None:
        super().__init__(why)
        self.why, self.fix = why, fix


def _require(ok: bool, why: str, fix: str = "") -> None:
    if not ok:
        raise _Refusal(why, fix)


def _pair(value: Any, what: str) -> int:
    """An int, or a pair of equal ints (PyTorch's kernel sizes and strides), as one int."""
    if isinstance(value, tuple):
        _require(len(set(value)) == 1, f"its {what} {value} differs between height and width")
        value = value[0]
    _require(isinstance(value, int), f"its {what} is {value!r}, not a number of pixels")
    return int(value)


def _linear(m: Any) -> Layer:
    _require(m.bias is not None, "it has no bias; the engine's Dense layer always has one")
    return Dense(m.in_features, m.out_features)


def _conv(m: Any) -> Layer:
    _require(m.bias is not None, "it has no bias; the engine's Conv2D always has one")
    _require(m.groups == 1 and _pair(m.dilation, "dilation") == 1, "it is grouped or dilated")
    _require(m.padding_mode == "zeros", f"its padding mode is {m.padding_mode!r}, not zeros")
    k, stride = _pair(m.kernel_size, "kernel size"), _pair(m.stride, "stride")
    return Conv2D(m.in_channels, m.out_channels, k, stride, _pair(m.padding, "padding"))


def _pool(cls: Callable[[int, int], Layer]) -> Callable[[Any], Layer]:
    def convert(m: Any) -> Layer:
        _require(_pair(m.padding, "padding") == 0, "it pads its input; the engine's pools do not")
        _require(not m.ceil_mode, "it rounds its output size up (ceil_mode)")
        _require(getattr(m, "dilation", 1) in (1, (1, 1)), "it is dilated")
        _require(not getattr(m, "return_indices", False), "it returns its indices too")
        _require(getattr(m, "divisor_override", None) is None, "it overrides the divisor")
        k = _pair(m.kernel_size, "kernel size")
        return cls(k, _pair(m.stride, "stride") if m.stride else k)

    return convert


def _flatten(m: Any) -> Layer:
    _require(m.start_dim == 1 and m.end_dim == -1, "it flattens other axes than all but the batch")
    return Flatten()


def _batchnorm(m: Any) -> Layer:
    _require(m.affine and m.track_running_stats, "it lacks γ and β or running statistics")
    _require(m.momentum is not None, "its momentum is None (a cumulative average)")
    return BatchNorm(m.num_features, m.eps, m.momentum)


def _layernorm(m: Any) -> Layer:
    _require(len(m.normalized_shape) == 1, "it normalises over more than the last axis")
    _require(m.weight is not None and m.bias is not None, "it lacks γ or β")
    return LayerNorm(m.normalized_shape[0], m.eps)


def _embedding(m: Any) -> Layer:
    _require(m.padding_idx is None and m.max_norm is None, "it has a padding index or a max norm")
    return Embedding(m.num_embeddings, m.embedding_dim)


def _recurrent_layer(m: Any) -> Layer:
    _require(m.num_layers == 1 and not m.bidirectional, "it is stacked or bidirectional")
    _require(m.bias and m.batch_first, "it has no biases, or is not batch_first")
    _require(getattr(m, "nonlinearity", "tanh") == "tanh", "its nonlinearity is not tanh")
    _require(getattr(m, "proj_size", 0) == 0, "it projects its hidden state (proj_size)")
    cls = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}[type(m).__name__]
    return cls(m.input_size, m.hidden_size, m.return_sequences)


def _position(m: Any) -> Layer:
    layer = PositionalEncoding(m.d, m.max_len)
    code = m.table.detach().cpu().numpy()
    # to_torch's table is float64, but model.to(torch.float32) rounds every float buffer: the
    # code is checked to the precision it is held in (its values lie in [-1, 1])
    atol = 4 * float(np.finfo(code.dtype).eps) if code.dtype.kind == "f" else 0.0
    same = code.shape == layer.table.shape and np.allclose(code, layer.table, rtol=0, atol=atol)
    _require(same, "its table is not the sinusoidal code")
    return layer


def _attention(m: Any) -> Layer:
    _require(m.batch_first and m._qkv_same_embed_dim, "it is not batch_first, or its k, v differ")
    _require(m.in_proj_bias is not None and m.bias_k is None, "its biases are not the usual ones")
    _require(not m.add_zero_attn and m.dropout == 0.0, "it adds a zero position or dropout")
    return MultiHeadSelfAttention(m.embed_dim, m.num_heads, m.causal)


def _rules() -> list[tuple[type, Callable[[Any], Layer]]]:
    """(module class, converter), subclasses before their bases: the first match converts."""
    from torch import nn

    from engine.interop import torch_modules as tm

    wrap = "wrap it as the module of the same name in engine.interop.torch_modules"
    bare = "a bare {} returns a tuple, or needs three inputs, which nn.Sequential cannot pass on"
    rules: list[tuple[type, Callable[[Any], Layer]]] = [
        (tm.Residual, lambda m: _refuse("a residual block is read by _layers", "")),
        (tm.Step, lambda m: Heaviside()),
        (tm.PositionalEncoding, _position),
        (tm.SelfAttention, _attention),
        (tm.RNN, _recurrent_layer),
        (tm.LSTM, _recurrent_layer),
        (tm.GRU, _recurrent_layer),
        (nn.Linear, _linear),
        (nn.Conv2d, _conv),
        (nn.MaxPool2d, _pool(MaxPool2D)),
        (nn.AvgPool2d, _pool(AvgPool2D)),
        (nn.Flatten, _flatten),
        (nn.Dropout, lambda m: Dropout(m.p)),
        (nn.BatchNorm1d, _batchnorm),
        (nn.BatchNorm2d, _batchnorm),
        (nn.LayerNorm, _layernorm),
        (nn.Embedding, _embedding),
    ]
    for cls in (nn.RNN, nn.LSTM, nn.GRU, nn.MultiheadAttention):
        rules.append((cls, lambda m: _refuse(bare.format(type(m).__name__), wrap)))
    for layer_cls in ACTIVATION_LAYERS.values():
        name = layer_cls(None).definition.torch
        if name and hasattr(nn, name):
            rules.append((getattr(nn, name), _activation_rule(layer_cls)))
    return rules


def _refuse(why: str, fix: str) -> Layer:
    raise _Refusal(why, fix)


def _activation_rule(cls: type[Activation]) -> Callable[[Any], Layer]:
    def convert(m: Any) -> Layer:
        _require(getattr(m, "approximate", "none") == "none", "it uses the tanh approximation")
        argument = ALPHA_ARGUMENTS.get(type(m).__name__)
        return cls(float(getattr(m, argument)) if argument else None)

    return convert


def _layers(container: Any, where: str = "") -> list[Layer]:
    """The engine layers for the children of an ``nn.Sequential`` (or a residual block)."""
    from engine.interop import torch_modules as tm

    rules = _rules()
    layers: list[Layer] = []
    for name, child in container.named_children():
        path = f"{where}{name}"
        rule = next((convert for cls, convert in rules if type(child) is cls), None)
        if rule is None:
            rule = next((convert for cls, convert in rules if isinstance(child, cls)), None)
        try:
            if rule is None:
                known = sorted({cls.__name__ for cls, _ in rules})
                raise _Refusal("the engine has no layer for it", f"use only {', '.join(known)}")
            if isinstance(child, tm.Residual):  # its modules are named from its own path
                layers.append(Residual(_layers(child, f"{path}.")))
            else:
                layers.append(rule(child))
        except _Refusal as refusal:
            raise UserError(
                f"module {path} ({type(child).__name__}) cannot be converted: {refusal.why}",
                refusal.fix or "rebuild it with the options the engine's layer has",
            ) from None
    return layers


def from_torch(module: Any, input_shape: Sequence[int] | None = None, seed: int = 0) -> Sequential:
    """The engine network a ``torch.nn.Sequential`` computes, with its weights and statistics.

    Args:
        module: what ``to_torch`` returns, or an ``nn.Sequential`` of the modules the rules
            know (Linear, Conv2d, pools, Flatten, Dropout, BatchNorm1d/2d,
            LayerNorm, Embedding, the activations, and ``engine.interop.torch_modules``).
        input_shape: one sample's shape; by default the module's own ``input_shape`` (which
            ``to_torch`` sets), else the first Linear layer's width.
        seed: the network's seed (dropout masks and ``reset``).

    Raises:
        UserError: naming the module that has no engine layer or an option the layer lacks,
            and for a dtype other than float32 or float64.
    """
    from engine.network import Sequential

    torch = _torch()
    if isinstance(module, Mapping):  # a state dict: the weights without the layers
        raise UserError(
            f"from_torch takes an nn.Sequential, not a state dict ({type(module).__name__})",
            "load the weights into the modules first (model.load_state_dict(...)), then pass "
            "the model; a .safetensors file dltui wrote loads with Sequential.load(PATH)",
        )
    if not isinstance(module, torch.nn.Sequential):
        raise UserError(
            f"from_torch takes an nn.Sequential, not {type(module).__name__!r}",
            "put the modules in torch.nn.Sequential(...) in the order they run",
        )
    layers = _layers(module)
    if not layers:
        raise UserError("the nn.Sequential given to from_torch is empty", "give it modules")
    tensors = module.state_dict()
    dtypes = {
        str(t.dtype).removeprefix("torch.") for t in tensors.values() if t.is_floating_point()
    }
    if len(dtypes) > 1 or not dtypes <= {"float32", "float64"}:
        raise UserError(
            f"the module holds tensors of {', '.join(sorted(dtypes))}",
            "convert it with .float() or .double() first",
        )
    shape = input_shape if input_shape is not None else getattr(module, "input_shape", None)
    if shape is None and not isinstance(layers[0], Dense):
        raise UserError(
            f"the module starts with {type(module[0]).__name__}, so the input's shape is unknown",
            "pass input_shape=, e.g. (1, 28, 28) for images or (T,) for token ids",
        )
    try:
        net = Sequential(layers, seed=seed, dtype=dtypes.pop() if dtypes else "float32",
                         input_shape=shape)  # fmt: skip
    except ValueError as exc:
        raise UserError(f"the modules do not fit together: {exc}", "check their sizes") from None
    for name, target in torch_names(net).items():
        views = net.params if name in net.params else net.buffers
        value = tensors[target].detach().cpu().numpy()
        if value.shape != views[name].shape:
            raise UserError(
                f"tensor {target} has shape {value.shape}; the engine's {name} needs "
                f"{views[name].shape}",
                "check the module's sizes against its input shape",
            )
        views[name] = value
    return net
