"""Every layer type by name, to rebuild networks from the specs that checkpoints hold.

A layer class registers itself where it is defined (``Layer.__init_subclass__`` fills
``LAYER_TYPES``), and its ``spec()`` holds its constructor's keyword arguments, so building one is
``cls(**args)``. The one nesting: an argument named ``layers`` (``Residual``) holds inner specs,
built the same way. Specs saved before the keys equalled the arguments are read through
``SPEC_ALIASES``.
"""

from __future__ import annotations

import inspect
from typing import Any

from engine.layers.core import LAYER_TYPES, Layer

BUILDERS = LAYER_TYPES
"""The same mapping under its former name (type name → layer class)."""

SPEC_ALIASES: dict[str, dict[str, str]] = {
    "Dense": {"in": "in_features", "out": "out_features"},
    "Conv2D": {"in": "in_channels", "out": "out_channels"},
}
"""Per layer type, the keys older files saved → the constructor argument they hold."""


def current_spec(spec: Any) -> Any:
    """``spec`` with the keys of older files renamed (``SPEC_ALIASES``), inner layers too.

    Anything that is not a spec comes back as it is, for ``build_layer`` to report.
    """
    if not isinstance(spec, dict):
        return spec
    aliases = SPEC_ALIASES.get(str(spec.get("type")), {})
    renamed = {aliases.get(key, key): value for key, value in spec.items()}
    if isinstance(renamed.get("layers"), list):
        renamed["layers"] = [current_spec(inner) for inner in renamed["layers"]]
    return renamed


def constructor_arguments(cls: type[Layer]) -> dict[str, inspect.Parameter]:
    """The keyword arguments a layer class takes, which are the keys of its spec."""
    return dict(inspect.signature(cls).parameters)


def build_layer(spec: dict[str, Any]) -> Layer:
    """The layer a ``spec()`` describes (old keys accepted).

    Raises:
        ValueError: naming the type and the valid ones for an unknown type, and naming the key
            and the valid keys for a missing or unknown key.
    """
    spec = current_spec(spec)
    if not isinstance(spec, dict):
        raise ValueError(f"a layer spec is a table with a 'type', not {spec!r}")
    kind = spec.get("type")
    cls = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"unknown layer type {kind!r}; the types are {', '.join(sorted(LAYER_TYPES))}"
        )
    args = {key: value for key, value in spec.items() if key != "type"}
    params = constructor_arguments(cls)
    valid = ", ".join(params) or "none"
    unknown = [key for key in args if key not in params]
    if unknown:
        raise ValueError(f"layer {kind}: unknown key {unknown[0]!r}; its keys are {valid}")
    missing = [k for k, p in params.items() if p.default is p.empty and k not in args]
    if missing:
        raise ValueError(f"layer {kind} lacks the key {missing[0]!r}; its keys are {valid}")
    if "layers" in args:
        inner = args["layers"]
        if not isinstance(inner, list):
            raise ValueError(f"layer {kind}: 'layers' must be a list of layer specs")
        args["layers"] = [build_layer(s) for s in inner]
    return cls(**args)
