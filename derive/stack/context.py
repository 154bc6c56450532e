"""What every builder of a Dense stack's steps needs to know about one derivation, in one place.

It belongs to ``derive.stack`` and sits beside ``derive.update``, which reads a derivation's
parameter through it (or through any object with ``theta`` and ``ref``, as the layer pipeline's).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.notation import partial, sym
from derive.stack.model import Model, ParamRef, Stage, Vec


@dataclass(frozen=True)
class Context:
    """One derivation's setting.

    Attributes:
        model: the network's stages; ref: the parameter.
        n: samples in the batch; s: the sample whose terms are shown.
        label: that sample's class (cross-entropy), else None.
        masks_on: positions of the dropout layers that have a mask for this batch.
        l1, l2: the penalty rates.
    """

    model: Model
    ref: ParamRef
    n: int
    s: int
    label: int | None
    masks_on: frozenset[int]
    l1: float = 0.0
    l2: float = 0.0

    @property
    def theta(self) -> sp.Symbol:
        """The parameter's symbol, W¹₀,₁."""
        return self.ref.symbol()

    @property
    def dense(self) -> Stage:
        return self.model.stage(self.ref.pos)

    @property
    def loss_symbol(self) -> sp.Symbol:
        return sym("L")

    def grad(self, v: Vec, i: int | str) -> sp.Symbol:
        """∂L/∂vᵢ; written δˡᵢ when v is a Dense layer's output zˡ (Nielsen's notation)."""
        if v.base == "z":
            return sym("delta", v.layer, i)
        return partial("L", v.at(i))

    def dL(self, of: str = "L") -> sp.Symbol:
        """∂L/∂θ (or ∂L̄/∂θ, ∂(L + R)/∂θ with ``of``)."""
        return partial(of, self.theta)

    def on_path(self) -> dict[tuple[str, int | None], list[int]]:
        """For each vector from the parameter's layer on: the units the parameter reaches."""
        stages = self.model.stages
        p = self.model.index(self.ref.pos)
        path = {key(stages[p].out): [self.ref.j]}
        for st in stages[p + 1 :]:
            units = list(range(st.out.width)) if st.kind == "dense" else path[key(st.inp)]
            path[key(st.out)] = units
        last = path[key(self.model.last)]
        if self.model.head == "softmax":
            path[key(self.model.yhat)] = list(range(self.model.yhat.width))
        else:
            path[key(self.model.yhat)] = last
        return path


def key(v: Vec) -> tuple[str, int | None]:
    """A vector's key in ``Context.on_path``."""
    return (v.base, v.layer)
