"""Names of parameter entries of any layer: ``"2.W[0,1]"``, ``"0.W[3,0,1,2]"``, ``"2.1.W_in[5,7]"``.

A network names its parameters like PyTorch's state dict (``"2.W"``, ``"0.W_ih"``, ``"2.1.W_in"``
inside a block); one number of one parameter is that name with its index in brackets. These pure
functions read, write, check and step through such names; the layer list and the training
session share them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.naming import parse_param_name

if TYPE_CHECKING:
    from engine.network import Sequential

FIRST_BATCH = 64
"""Samples the default entry's gradient is measured on (the first rows of the training set)."""


def parse_entry(entry: str) -> tuple[str, tuple[int, ...]]:
    """Splits ``"2.1.W_in[5,7]"`` into ``("2.1.W_in", (5, 7))``.

    Raises:
        ValueError: when ``entry`` is not a parameter name followed by an index in brackets.
    """
    parsed = parse_param_name(entry)
    return parsed.name, parsed.index


def entry_name(name: str, index: Sequence[int]) -> str:
    """``entry_name("2.W", (0, 1)) == "2.W[0,1]"``."""
    return f"{name}[{','.join(str(int(i)) for i in index)}]"


def first_entry(names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> str:
    """The first number of the first parameter, e.g. ``"0.W[0,0]"``."""
    return entry_name(names[0], (0,) * len(shapes[0])) if names else ""


def is_entry(entry: str, names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> bool:
    """Whether ``entry`` names one number of one of these parameters."""
    try:
        name, index = parse_entry(entry)
    except ValueError:
        return False
    if name not in names:
        return False
    shape = shapes[list(names).index(name)]
    return len(index) == len(shape) and all(i < s for i, s in zip(index, shape))


def flat_position(
    entry: str, names: Sequence[str], shapes: Sequence[tuple[int, ...]]
) -> int | None:
    """Where ``entry`` lies when the parameters ``names`` are laid end to end (row-major)."""
    if not is_entry(entry, names, shapes):
        return None
    name, index = parse_entry(entry)
    offset = 0
    for other, shape in zip(names, shapes):
        if other == name:
            flat = 0
            for i, s in zip(index, shape):
                flat = flat * s + i
            return offset + flat
        offset += math.prod(shape)
    return None


def entry_at(position: int, names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> str:
    """The entry at ``position`` of the parameters laid end to end (wrapping around)."""
    total = sum(math.prod(s) for s in shapes)
    position %= max(total, 1)
    for name, shape in zip(names, shapes):
        size = math.prod(shape)
        if position < size:
            index = []
            for s in reversed(shape):
                index.append(position % s)
                position //= s
            return entry_name(name, tuple(reversed(index)))
        position -= size
    return first_entry(names, shapes)


def default_entry(
    net: Sequential, x: Any, y: Any, loss: str, l1: float = 0.0, l2: float = 0.0
) -> str:
    """The first entry whose gradient on the first batch of ``x``, ``y`` is not zero.

    The first entry of the first parameter is the natural default, but it may get no gradient
    at all: on digits, input pixel 0 is blank in every image, so ``0.W[0,0]`` multiplies 0 and
    its derivation is zeros throughout. Entries are tried in the order the parameters are laid
    out (row-major); "zero" is below 1e-6 of the largest gradient of any entry. The network is
    copied first, so its gradients and dropout masks stay as they are.
    """
    names, shapes = list(net.params), [tuple(v.shape) for v in net.params.values()]
    twin = net.copy()
    twin.loss_and_grad(x[:FIRST_BATCH], y[:FIRST_BATCH], loss, l1, l2)
    grads = [np.abs(np.asarray(twin.backend.to_host(twin.grads[n]))) for n in names]
    largest = max((float(g.max()) for g in grads if g.size), default=0.0)
    if not np.isfinite(largest) or largest == 0.0:
        return first_entry(names, shapes)
    for name, grad in zip(names, grads):
        hits = np.flatnonzero(grad.ravel() > 1e-6 * largest)
        if hits.size:
            index = np.unravel_index(int(hits[0]), grad.shape)
            return entry_name(name, [int(i) for i in index])
    return first_entry(names, shapes)
