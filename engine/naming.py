"""Names of single parameter entries, ``"2.W[0,1]"``, ``"1.0.W_hh[3,2]"``, ``"0.b[2]"``: one parser.

A network names its parameter arrays like PyTorch's state dict: the layer's position (``"2"``,
``"1.0"`` for layer 0 inside the block at position 1), a dot, the array's name (``W``, ``b``,
``W_hh``, ``gamma`` …). One number of an array is that name with its index in brackets. The
engine, ``derive`` and the app all read such names here, never with a regex of their own and
never with ``eval``. Whitespace is ignored; numbers have at most :data:`MAX_DIGITS` digits, so a
pasted run of digits is refused with a message rather than converted at length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_DIGITS = 9  # larger than any layer count or array dimension
_NAME = re.compile(r"^(\d+(?:\.\d+)*)\.([A-Za-z_][A-Za-z0-9_]*)\[(\d+(?:,\d+)*)\]$")
EXAMPLE = "2.W[0,1], 0.b[3] or 1.0.W_hh[3,2]"


@dataclass(frozen=True)
class ParamName:
    """One parameter entry, read from its name.

    Attributes:
        path: the layer's place, (2,) for ``"2.W"``, (1, 0) inside the block at position 1.
        array: the array's own name, ``"W"``, ``"b"``, ``"W_hh"``.
        index: the entry, (0, 1) for ``[0,1]``.
    """

    path: tuple[int, ...]
    array: str
    index: tuple[int, ...]

    @property
    def layer(self) -> int:
        """The top-level layer the entry belongs to: 2 for ``"2.W"`` and ``"2.1.W_in"``."""
        return self.path[0]

    @property
    def name(self) -> str:
        """The array's name in the network: ``"1.0.W_hh"``."""
        return ".".join(str(p) for p in self.path) + f".{self.array}"

    @property
    def text(self) -> str:
        """The entry's name: ``"1.0.W_hh[3,2]"``."""
        return f"{self.name}[{','.join(str(i) for i in self.index)}]"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:40] + "…" + text[-10:])


def parse_param_name(text: str) -> ParamName:
    """Reads ``"2.W[0,1]"`` into ``ParamName((2,), "W", (0, 1))``.

    Raises:
        ValueError: naming the text and the form expected, when it is not a parameter entry or a
            number in it has more than ``MAX_DIGITS`` digits.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a parameter entry: {text!r} (expected e.g. {EXAMPLE})")
    compact = "".join(text.split())
    match = _NAME.match(compact)
    if match is None:
        raise ValueError(f"not a parameter entry: {_shown(text)} (expected e.g. {EXAMPLE})")
    path_text, array, index_text = match.groups()
    numbers = path_text.split(".") + index_text.split(",")
    longest = max(numbers, key=len)
    if len(longest) > MAX_DIGITS:
        raise ValueError(
            f"not a parameter entry: {_shown(text)} has a number of {len(longest)} digits; "
            f"positions and indices have at most {MAX_DIGITS}"
        )
    path = tuple(int(p) for p in path_text.split("."))
    return ParamName(path, array, tuple(int(i) for i in index_text.split(",")))
