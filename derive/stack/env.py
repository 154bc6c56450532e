"""The numbers a derivation starts from, looked up by symbol as the steps ask for them.

Steps name symbols (W¹₀,₁, a¹₁, m²₀, L₂ …); ``Env`` finds each one's number in the tape — for
the shown sample — only when a step needs it, so a derivation of one weight of a large network
never copies the whole network into a dictionary. Values the steps compute are stored over
these and read by the steps after them.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import numpy as np
import sympy as sp

from derive.notation import decode
from derive.stack.context import Context
from derive.stack.model import Vec
from derive.stack.tape import Tape

Value = float | np.ndarray


class Env(MutableMapping[sp.Basic, Value]):
    """Computed values first, then the tape's numbers for the shown sample."""

    def __init__(self, ctx: Context, tape: Tape) -> None:
        self.ctx, self.tape = ctx, tape
        self._own: dict[sp.Basic, Value] = {}
        self._read: dict[sp.Basic, Value | None] = {}  # tape lookups, remembered
        self._vecs = {(v.base, v.layer): v for v in tape.values}
        self._dense = {st.layer: st.pos for st in ctx.model.stages if st.kind == "dense"}
        self._masks: dict[tuple[str, int | None], int] = {
            (st.mask, st.layer): st.pos for st in ctx.model.stages if st.kind == "dropout"
        }
        weights = [w for k, w in tape.params.items() if k.endswith(".W")]
        self._sums = {
            "sumabsW": float(sum(np.abs(w).sum() for w in weights)),
            "sumsqW": float(sum(np.square(w).sum() for w in weights)),
        }

    def __getitem__(self, key: sp.Basic) -> Value:
        if key in self._own:
            return self._own[key]
        if key not in self._read:
            self._read[key] = self._lookup(key)
        value = self._read[key]
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        try:
            self[key]
        except (KeyError, IndexError, TypeError, ValueError):
            return False
        return True

    def __setitem__(self, key: sp.Basic, value: Value) -> None:
        self._own[key] = value

    def __delitem__(self, key: sp.Basic) -> None:
        del self._own[key]

    def __iter__(self) -> Iterator[sp.Basic]:
        return iter(self._own)

    def __len__(self) -> int:
        return len(self._own)

    def _lookup(self, key: sp.Basic) -> Value | None:
        name = getattr(key, "name", None)
        if name is None:
            return None
        n = decode(name)
        if n.wrt is not None or n.arg is not None:
            return None
        s, tape = self.ctx.s, self.tape
        layer = int(n.sup) if n.sup.isdigit() else None
        idx = tuple(int(i) for i in n.sub if i.isdigit())
        if len(idx) != len(n.sub):
            return None
        if isinstance(key, sp.MatrixSymbol):
            return self._matrix(n.base, layer)
        if n.base in ("W", "b") and layer in self._dense:
            return float(tape.params[f"{self._dense[layer]}.{n.base}"][idx])
        if n.base == "y" and idx:
            return float(tape.targets[s, idx[0]])
        if (n.base, layer) in self._masks and idx:
            mask = tape.masks.get(self._masks[(n.base, layer)])
            return None if mask is None else float(mask[s, idx[0]])
        if (n.base, layer) in self._vecs and idx:
            return float(tape.values[self._vecs[(n.base, layer)]][s, idx[0]])
        return self._scalars(n.base, n.sub)

    def _scalars(self, base: str, sub: tuple[str, ...]) -> Value | None:
        ctx, tape = self.ctx, self.tape
        if base == "L" and len(sub) == 1:
            return float(tape.losses[int(sub[0])])
        if base == "g" and len(sub) == 1:
            return float(tape.sample_grads(ctx.ref)[int(sub[0])])
        if base == "lambda" and sub in (("1",), ("2",)):
            return ctx.l1 if sub == ("1",) else ctx.l2
        return self._sums.get(base) if not sub else None

    def _matrix(self, base: str, layer: int | None) -> Value | None:
        """Whole vectors (as columns) and matrices, for the vector form."""
        s, tape = self.ctx.s, self.tape
        if base in ("W", "b") and layer in self._dense:
            value = tape.params[f"{self._dense[layer]}.{base}"]
            return value if base == "W" else value.reshape(-1, 1)
        if base == "y":
            return tape.targets[s].reshape(-1, 1)
        if (base, layer) in self._masks:
            mask = tape.masks.get(self._masks[(base, layer)])
            return None if mask is None else mask[s].reshape(-1, 1)
        vec: Vec | None = self._vecs.get((base, layer))
        return None if vec is None else tape.values[vec][s].reshape(-1, 1)
