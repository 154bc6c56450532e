"""The layers without parameters: activations, dropout, flatten, pooling, positional codes and
residual blocks. Their derivations only carry the gradient down, so each is a few phrases and a
reference pass; the activations' are generated, one per activation layer of the engine.
"""

from __future__ import annotations

from typing import Any

from derive.layers import reference, reference_seq
from derive.layers.derivations import LayerDerivation, register
from derive.layers.entries import activation_entry, maxpool_entry
from engine.layers import Layer
from engine.layers.activations import ACTIVATION_LAYERS


def _pool(layer: Layer) -> str:
    spec = layer.spec()
    k = spec["kernel_size"]
    return f"{spec['type']}({k}×{k}, stride {spec['stride']})"


def _residual(layer: Any) -> str:
    from derive.layers.param import describe_layer

    return "Residual[" + " → ".join(describe_layer(inner) for inner in layer.inner) + "]"


def _chained(*args: Any) -> Any:
    raise NotImplementedError("a residual block is run through its inner layers")


_ACTIVATION_HOW = (
    "∂L̄/∂z = ∂L̄/∂a ⊙ σ′(z)",
    r"$\partial\bar L/\partial z = \partial\bar L/\partial a \odot \sigma'(z)$",
)

register(
    *(
        LayerDerivation(
            cls.type_name,
            reference.act_forward,
            reference.act_backward,
            how=_ACTIVATION_HOW,
            through=activation_entry,
        )
        for cls in ACTIVATION_LAYERS.values()
    ),
    LayerDerivation(
        "Dropout",
        reference.dropout_forward,
        reference.dropout_backward,
        how=(
            "the same mask, ∂L̄/∂x = ∂L̄/∂a ⊙ m (no mask: unchanged)",
            r"the same mask, $\partial\bar L/\partial x = \partial\bar L/\partial a \odot m$ "
            r"(no mask: unchanged)",
        ),
    ),
    LayerDerivation(
        "Flatten",
        reference.flatten_forward,
        reference.flatten_backward,
        how=(
            "the same numbers, back in the shape (c, h, w)",
            r"the same numbers, back in the shape $(c, h, w)$",
        ),
        back="unflatten",
    ),
    LayerDerivation(
        "MaxPool2D",
        reference.maxpool_forward,
        reference.maxpool_backward,
        how=("each window's gradient to its winner",) * 2,
        back="route",
        through=maxpool_entry,
        describe=_pool,
    ),
    LayerDerivation(
        "AvgPool2D",
        reference.avgpool_forward,
        reference.avgpool_backward,
        how=(
            "each window's gradient spread evenly, 1/k² to each of its inputs",
            r"each window's gradient spread evenly, $1/k^2$ to each of its inputs",
        ),
        back="spread",
        describe=_pool,
    ),
    LayerDerivation(
        "PositionalEncoding",
        reference_seq.position_forward,
        reference_seq.position_backward,
        how=("the code is added, so the gradient passes unchanged",) * 2,
        name="posenc",
    ),
    LayerDerivation(
        "Residual",
        _chained,
        _chained,
        how=("identity term + block term, every entry",) * 2,
        describe=_residual,
    ),
)
