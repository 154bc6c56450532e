"""The network as the derivation names it: a chain of stages from x to ŷ, and the parameter asked.

The engine's layers become *stages*; each stage's output is a named vector in the notation
students meet in textbooks: Dense layer ℓ gives zˡ, its activation aˡ, a dropout after it ãˡ.
The last vector is ŷ when the loss reads the outputs directly (MSE, Huber, BCE); for the losses
that take logits (BCE-with-logits, cross-entropy) the last vector keeps its name (zᴸ) and
ŷ = σ(zᴸ) or softmax(zᴸ) is one more step the loss owns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import sympy as sp

from derive.notation import sym, vec
from engine.errors import UserError
from engine.layers import Activation, Dense, Dropout
from engine.losses import check_loss
from engine.naming import ParamName, parse_param_name
from engine.network import Sequential

HEADS = {"cross_entropy": "softmax", "bce_logits": "sigmoid"}


@dataclass(frozen=True)
class Vec:
    """A named vector of the forward pass: ``base`` with superscript ``layer`` (None: none)."""

    base: str
    layer: int | None
    width: int

    def at(self, i: int | str) -> sp.Symbol:
        return sym(self.base, self.layer, i)

    def column(self) -> sp.MatrixSymbol:
        return vec(self.base, self.layer, self.width)


@dataclass(frozen=True)
class Stage:
    """One engine layer: ``out = f(inp)``.

    Attributes:
        pos: the layer's index in ``net.layers`` (the ``2`` of ``"2.W"``).
        kind: "dense", "activation" or "dropout".
        layer: ℓ, the number of Dense layers up to and including this stage.
        act: the activation's name (``engine.layers.core.Activation.function``).
        alpha: LeakyReLU's slope; p: dropout's rate.
        mask: the dropout mask's base name ("m").
    """

    pos: int
    kind: str
    layer: int
    inp: Vec
    out: Vec
    act: str = ""
    alpha: float = 0.0
    p: float = 0.0
    mask: str = "m"

    def mask_at(self, i: int | str) -> sp.Symbol:
        return sym(self.mask, self.layer, i)


@dataclass(frozen=True)
class Model:
    """The stages, the loss and the names of x, y and ŷ."""

    stages: tuple[Stage, ...]
    loss: str
    head: str  # how ŷ comes from the last vector: "identity", "sigmoid" or "softmax"
    x: Vec
    y: Vec
    yhat: Vec

    @property
    def last(self) -> Vec:
        return self.stages[-1].out

    def stage(self, pos: int) -> Stage:
        return next(s for s in self.stages if s.pos == pos)

    def index(self, pos: int) -> int:
        """The stage's place in ``stages``."""
        return next(i for i, s in enumerate(self.stages) if s.pos == pos)


def _fresh(base: str, layer: int | None, used: set[tuple[str, int | None]]) -> str:
    while (base, layer) in used:
        base += "'"
    used.add((base, layer))
    return base


def build_model(net: Sequential, loss: str) -> Model:
    """Names every vector of ``net``'s forward pass (see the module docstring)."""
    check_loss(loss)
    head = HEADS.get(loss, "identity")
    x = Vec("x", None, net.in_features)
    used: set[tuple[str, int | None]] = {("x", None)}
    cur, layer = x, 0
    stages: list[Stage] = []
    for pos, lay in enumerate(net.layers):
        if isinstance(lay, Dense):
            layer += 1
            out = Vec(_fresh("z", layer, used), layer, lay.units)
            stages.append(Stage(pos, "dense", layer, cur, out))
        elif isinstance(lay, Activation):
            out = Vec(_fresh("a", layer, used), layer, cur.width)
            stages.append(
                Stage(pos, "activation", layer, cur, out, act=lay.function, alpha=lay.alpha)
            )
        elif isinstance(lay, Dropout):
            out_layer = cur.layer
            base = cur.base.rstrip("'") + "~" if "~" not in cur.base else cur.base
            out = Vec(_fresh(base, out_layer, used), out_layer, cur.width)
            mask = _fresh("m", layer, used)
            stages.append(Stage(pos, "dropout", layer, cur, out, p=lay.p, mask=mask))
        else:
            raise UserError(
                f"derive cannot follow layer {pos} ({lay.type_name}) yet",
                "derive works on networks of Dense, activation and Dropout layers",
            )
        cur = stages[-1].out
    yhat = Vec("yhat", None, cur.width)
    if head == "identity":
        stages[-1] = replace(stages[-1], out=yhat)
    return Model(tuple(stages), loss, head, x, Vec("y", None, cur.width), yhat)


# --------------------------------------------------------------------------- the parameter


@dataclass(frozen=True)
class ParamRef:
    """One scalar parameter: ``"2.W[0,1]"`` is layer position 2, matrix W, row 0, column 1.

    Attributes:
        pos: index in ``net.layers``; layer: ℓ, the Dense layer's number (W¹ is ``"0.W"``).
        kind: "W" or "b"; j: the unit (row); k: the input (column), None for a bias.
        flat: the index in the network's flat ``data`` / ``grad`` buffers.
    """

    pos: int
    kind: str
    j: int
    k: int | None
    layer: int
    flat: int

    @property
    def name(self) -> str:
        """The engine's name of the whole array: ``"2.W"``."""
        return f"{self.pos}.{self.kind}"

    @property
    def text(self) -> str:
        idx = f"{self.j},{self.k}" if self.k is not None else f"{self.j}"
        return f"{self.name}[{idx}]"

    @property
    def index(self) -> tuple[int, ...]:
        return (self.j,) if self.k is None else (self.j, self.k)

    def symbol(self) -> sp.Symbol:
        return sym(self.kind, self.layer, *self.index)


def valid_names(net: Sequential) -> list[str]:
    """Every parameter array with its index ranges: ``0.W[0..1,0..1]``, ``0.b[0..1]``."""
    out = []
    for name, view in net.params.items():
        ranges = ",".join(f"0..{n - 1}" for n in view.shape)
        out.append(f"{name}[{ranges}]")
    return out


def locate(net: Sequential, text: str) -> tuple[ParamName, int]:
    """Reads a parameter entry with ``engine.naming`` (never ``eval``) and checks it on ``net``:
    the entry, and its place in the flat ``data`` / ``grad`` buffers."""
    hint = "valid parameters: " + ", ".join(valid_names(net))
    try:
        entry = parse_param_name(text)
    except ValueError as exc:
        raise UserError(f"cannot read the parameter: {exc}", hint) from None
    if entry.name not in net.params:
        raise UserError(f"the network has no parameter {entry.name!r} (in {text!r})", hint)
    shape, index = net.params[entry.name].shape, entry.index
    if len(index) != len(shape) or any(i >= n for i, n in zip(index, shape)):
        raise UserError(f"{text!r} is outside {entry.name}, whose shape is {shape}", hint)
    return entry, net.offsets[entry.name] + int(np.ravel_multi_index(index, shape))


def parse_param(net: Sequential, text: str) -> ParamRef:
    """Reads ``"2.W[0,1]"`` of a Dense stack (see ``locate``)."""
    entry, flat = locate(net, text)
    pos, kind, j = entry.layer, entry.array, entry.index[0]
    k = entry.index[1] if len(entry.index) > 1 else None
    layer = sum(isinstance(lay, Dense) for lay in net.layers[: pos + 1])
    return ParamRef(pos, kind, j, k, layer, flat)
