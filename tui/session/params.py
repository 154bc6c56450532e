"""Names of parameter entries of any layer: ``"2.W[0,1]"``, ``"0.W[3,0,1,2]"``, ``"2.1.W_in[5,7]"``.

A network names its parameters like PyTorch's state dict (``"2.W"``, ``"0.W_ih"``, ``"2.1.W_in"``
inside a block); one number of one parameter is that name with its index in brackets. These pure
functions read, write, check and step through such names; the layer list and the training
session share them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from engine.naming import parse_param_name


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
