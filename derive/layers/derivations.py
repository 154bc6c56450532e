"""One object per layer type: everything the layer derivations know about it, in one place.

A :class:`LayerDerivation` holds a layer type's independent reference pass (forward and
backward in NumPy, which ``verify`` chains), how its formula and its way back are written, the
steps of a parameter's own gradient, and the entry of the way back worth writing out. Each is
registered in the module that defines its steps (``derive.layers.conv``, ``norm``, ``gated``,
``recurrent``, ``attention``, ``plain``), as pytest plugins register themselves; the lookup only
finds names, and a missing one raises with the names it has.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FAMILIES = ("conv", "norm", "recurrent", "gated", "attention", "plain")
"""The modules of ``derive.layers`` that register layer derivations, loaded on first lookup."""

OTHER = "as the engine's backward computes it"

Forward = Callable[[Any, dict, Any, Any], tuple[Any, dict]]
Backward = Callable[[Any, dict, dict, Any], tuple[Any, dict, dict]]


@dataclass(frozen=True)
class LayerDerivation:
    """A layer type as the layer derivations see it.

    Attributes:
        type_name: the engine's layer type (``"Conv2D"``).
        forward: the reference pass ``(layer, params, x, mask) -> (y, cache)``.
        backward: its backward ``(layer, params, cache, gy) -> (gx, grads, inner)``.
        how: how ∂L̄/∂(output) becomes ∂L̄/∂(input), in Unicode text and in LaTeX.
        name: the function the forward line writes (``attention(x, W_in, …)``); None: the type.
        back: the function the way back writes (``route(∂L̄/∂a)``); None: the plain chain rule.
        local: the steps of a parameter's own gradient (None: the layer has no parameters).
        through: one entry of ∂L̄/∂(input) written out with numbers, ``(ctx, node, e, target)``.
        describe: the layer in a few words (``Conv2D(2→3, 3×3)``); None: from its spec.
    """

    type_name: str
    forward: Forward
    backward: Backward
    how: tuple[str, str] = (OTHER, OTHER)
    name: str | None = None
    back: str | None = None
    local: Callable[[Any], Any] | None = None
    through: Callable[..., list[Any]] | None = None
    describe: Callable[[Any], str] | None = None


_REGISTRY: dict[str, LayerDerivation] = {}


def register(*derivations: LayerDerivation) -> None:
    """Adds layer derivations; a type registered twice is a mistake, and raises."""
    for d in derivations:
        if d.type_name in _REGISTRY and _REGISTRY[d.type_name] is not d:
            raise ValueError(f"layer derivation {d.type_name!r} is registered twice")
        _REGISTRY[d.type_name] = d


def _load() -> None:
    for module in FAMILIES:
        importlib.import_module(f"derive.layers.{module}")


def derivations() -> dict[str, LayerDerivation]:
    """Every registered layer derivation by type name."""
    _load()
    return dict(_REGISTRY)


def derivation(type_name: str) -> LayerDerivation:
    """The derivation of layer type ``type_name``; a ValueError listing the types otherwise."""
    _load()
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise ValueError(
            f"derive has no layer derivation for {type_name!r}; it has"
            f" {', '.join(sorted(_REGISTRY))}"
        ) from None
