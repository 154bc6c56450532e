"""The engine's parameter names in PyTorch's state-dict spelling, without importing PyTorch.

A network's parameter ``"3.W"`` is layer 3's ``W``; the module ``engine.interop.to_torch`` builds
for it is child 3 of an ``nn.Sequential``, whose tensor is ``"3.weight"``. Only the last part of a
name changes (a residual block's ``"2.1.W"`` is ``"2.1.weight"``: its layers are numbered the same
way in both). Safetensors files written by ``Sequential.save`` use these names, so PyTorch's
``load_state_dict`` takes them as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from engine.layers.core import Layer
from engine.layers.image import BatchNorm

if TYPE_CHECKING:
    from engine.network import Sequential

TORCH_NAMES = {
    "W": "weight",
    "b": "bias",
    "gamma": "weight",
    "beta": "bias",
    "running_mean": "running_mean",
    "running_var": "running_var",
    "W_ih": "weight_ih_l0",
    "W_hh": "weight_hh_l0",
    "b_ih": "bias_ih_l0",
    "b_hh": "bias_hh_l0",
    "W_in": "in_proj_weight",
    "b_in": "in_proj_bias",
    "W_out": "out_proj.weight",
    "b_out": "out_proj.bias",
}
"""The last part of an engine parameter or buffer name → PyTorch's name for the same tensor."""

BATCHES_TRACKED = "num_batches_tracked"
"""A batch-norm module's step counter in PyTorch, which the engine does not keep."""


def torch_name(name: str) -> str:
    """``"3.W"`` → ``"3.weight"``; ``"1.W_out"`` → ``"1.out_proj.weight"``."""
    prefix, _, last = name.rpartition(".")
    if last not in TORCH_NAMES:
        raise KeyError(f"no PyTorch name for the tensor {name!r}")
    return f"{prefix}.{TORCH_NAMES[last]}"


def torch_names(net: Sequential) -> dict[str, str]:
    """Every parameter and buffer of ``net``, engine name → PyTorch name, parameters first."""
    return {name: torch_name(name) for name in (*net.params, *net.buffers)}


def counter_names(layers: Sequence[Layer], prefix: str = "") -> Iterator[str]:
    """The PyTorch names of the batch-norm counters (``"1.num_batches_tracked"``) that a
    state dict of these layers holds beside the engine's tensors."""
    for i, layer in enumerate(layers):
        if isinstance(layer, BatchNorm):
            yield f"{prefix}{i}.{BATCHES_TRACKED}"
        inner = getattr(layer, "inner", None)
        if inner:
            yield from counter_names(inner, f"{prefix}{i}.")
