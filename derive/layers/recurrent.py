"""Recurrent layers unrolled in time: the gradient of a weight as a sum over the steps.

Time runs t = 1…T, h₀ = 0. A recurrent weight acts at every step, so its gradient is a sum over
time: ∂L̄/∂W_hh[j, i] = Σ_t δ_{t,j} h_{t−1,i}. The δ of a step comes from the layers above (e_t,
the engine's backward) and from the next step, so backprop runs from t = T back to 1; for a plain
RNN that carries the factor W_hhᵀ diag(1 − h²) at every step, whose product makes the gradient
of early steps vanish or explode. ``derive.layers.gated`` does the same for LSTM and GRU.

The numbers of the layer's own pass come from its reference pass on the shown sample
(``derive.layers.reference_seq``), fed with the engine's input and δ.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from derive.expr import add, mul, power, sub, total
from derive.layers import reference_seq
from derive.layers.derivations import LayerDerivation, register
from derive.layers.layer_context import (
    SHOW_TIME,
    LayerContext,
    Local,
    Terms,
    given,
    sample_part,
    sum_spec,
)
from derive.layers.layer_rules import rule
from derive.notation import partial, spelled, sym
from derive.printers import number_text
from derive.steps import StepSpec
from engine.activations import ACTIVATIONS
from engine.layers import Layer

R = sp.Symbol("r", integer=True)
GATES = {"RNN": "h", "LSTM": "ifgo", "GRU": "rzn"}
H_T = ("h_t = tanh(u_t)", r"$h_t = \tanh(u_t)$")
ROLE = {"W_hh": "h", "b_hh": "h", "W_ih": "x", "b_ih": "x"}


def _np_sigmoid(z: np.ndarray) -> np.ndarray:
    return ACTIVATIONS["sigmoid"].forward(z, 0.0)


class Rec:
    """The shown sample's pass through the recurrent layer, and symbols for its numbers."""

    def __init__(self, ctx: LayerContext) -> None:
        self.ctx, node = ctx, ctx.node
        self.kind, self.H, self.label = node.kind, node.layer.hidden, node.sup
        _, self.cache, _, self.inner = ctx.reference(node, slice(ctx.s, ctx.s + 1))
        self.T = self.cache["xt"].shape[0]
        self.row = ctx.ref.index[0]
        self.gate = GATES[self.kind][self.row // self.H] if self.kind != "RNN" else "h"
        self.j = self.row % self.H
        self.acts = self._activations()

    def _activations(self) -> dict[str, np.ndarray]:
        """Each gate's activation over (t − 1, unit)."""
        pre, H = self.cache["pre"][:, 0], self.H
        if self.kind == "LSTM":
            i, f, g, o = np.split(pre, 4, axis=-1)
            return {"i": _np_sigmoid(i), "f": _np_sigmoid(f), "g": np.tanh(g), "o": _np_sigmoid(o)}
        if self.kind == "GRU":
            r, z = _np_sigmoid(pre[:, :H]), _np_sigmoid(pre[:, H : 2 * H])
            return {"r": r, "z": z, "n": np.tanh(pre[:, 2 * H :] + r * self.cache["hn"][:, 0])}
        return {}

    def put(self, symbol: sp.Symbol, value: float) -> sp.Symbol:
        return self.ctx.numbers.put(symbol, value)

    def h(self, t: int, j: int) -> sp.Symbol:
        return self.put(sym("h", None, t, j), self.cache["hs"][t, 0, j])

    def c(self, t: int, j: int) -> sp.Symbol:
        return self.put(sym("c", None, t, j), self.cache["cs"][t, 0, j])

    def x(self, t: int, k: int) -> sp.Symbol:
        return self.put(sym("x", None, t, k), self.cache["xt"][t - 1, 0, k])

    def act(self, name: str, t: int, j: int) -> sp.Symbol:
        return self.put(sym(name, None, t, j), self.acts[name][t - 1, j])

    def hn(self, t: int, j: int) -> sp.Symbol:
        return self.put(sym("hn", None, t, j), self.cache["hn"][t - 1, 0, j])

    def w(self, name: str, *index: int) -> sp.Symbol:
        return self.put(sym(name, self.label, *index), self.ctx.param(self.ctx.node, name)[index])

    def e(self, t: int, j: int) -> sp.Symbol:
        """∂L̄/∂h_t from the layers above (the engine's backward)."""
        return self.put(sym("e", None, t, j), self.inner["dhs"][t - 1, 0, j])

    def delta_symbol(self, row: int, t: object, which: str = "dhp") -> sp.Symbol:
        """δ of row ``row`` at step t: what W_hh's row multiplies (``dhp``) or W_ih's (``dxp``)."""
        gate, j = (
            (GATES[self.kind][row // self.H], row % self.H) if self.kind != "RNN" else ("", row)
        )
        if self.kind == "GRU" and gate == "n" and which == "dhp":
            return partial("Lbar", sym("hn", None, t, j))
        return sym(f"delta_{gate}" if gate else "delta", None, t, j)

    def delta(self, row: int, t: int, which: str = "dhp") -> sp.Symbol:
        return self.put(self.delta_symbol(row, t, which), self.inner[which][t - 1, 0, row])

    def dh(self, t: int, j: int) -> sp.Symbol:
        return self.put(partial("Lbar", sym("h", None, t, j)), self.inner["dh"][t - 1, 0, j])

    def dc(self, t: int, j: int) -> sp.Symbol:
        return self.put(partial("Lbar", sym("c", None, t, j)), self.inner["dc"][t - 1, 0, j])

    def shown_times(self) -> range:
        """The steps whose backward formulas are written out: the last ``SHOW_TIME``."""
        return range(self.T, max(0, self.T - SHOW_TIME), -1)

    def recurrent_sum(self, t: int, j: int) -> tuple[sp.Basic, sp.Basic]:
        """Σ_r W_hh[r, j] δ_{t+1,r}: how h_t reaches the next step (full, as shown)."""
        rows = self.ctx.param(self.ctx.node, "W_hh").shape[0]
        terms = [mul(self.w("W_hh", r, j), self.delta(r, t + 1)) for r in range(rows)]
        return total(terms, R, mul(sym("W_hh", self.label, "r", j), sym("delta", None, t + 1, "r")))


def pre_activation(rec: Rec, t: int = 1) -> StepSpec:
    """u_{1,r} = Σ_k W_ih[r,k] x_{1,k} + b_ih[r] + Σ_i W_hh[r,i] h_{0,i} + b_hh[r]."""
    r = rec.row
    D = rec.cache["xt"].shape[2]
    parts = [mul(rec.w("W_ih", r, k), rec.x(t, k)) for k in range(D)] + [rec.w("b_ih", r)]
    gru_n = rec.kind == "GRU" and rec.gate == "n"
    if not gru_n:  # GRU's n gets its h part as r ⊙ ĥ
        parts += [mul(rec.w("W_hh", r, i), rec.h(t - 1, i)) for i in range(rec.H)]
        parts.append(rec.w("b_hh", r))
    cell = "; for n only the x part: the h part enters as r ⊙ ĥ" if gru_n else ""
    name = "the pre-activation" if rec.kind == "RNN" else f"the pre-activation of gate {rec.gate}"
    why = rule("rec_pre", gate=name, j=rec.j, r=r, cell=cell)
    return sum_spec(rec.ctx, "forward", sym("u", None, t, r), why, Terms(parts, len(parts)))


def above(rec: Rec) -> StepSpec:
    last = (
        ""
        if rec.ctx.node.layer.return_sequences
        else " (the layer returns only h_T: e_t = 0 before)"
    )
    value = rec.inner["dhs"][:, 0, :]
    return given(
        "backward", sym("e"), rule("rec_above", last=last), partial("Lbar", sym("h")), value
    )


def final(rec: Rec) -> StepSpec:
    """∂L̄/∂θ's part from the shown sample: Σ_t δ_t · (h_{t−1,i}, x_{t,k} or 1)."""
    kind, index = rec.ctx.ref.kind, rec.ctx.ref.index
    which = "dxp" if ROLE[kind] == "x" else "dhp"

    def term(t: int) -> sp.Basic:
        d = rec.delta(rec.row, t, which)
        if kind == "W_hh":
            return mul(d, rec.h(t - 1, index[1]))
        return mul(d, rec.x(t, index[1])) if kind == "W_ih" else d

    texts = {
        "W_hh": ("Σ_t δ_t h_{t−1}", r"\sum_t \delta_t h_{t-1}"),
        "W_ih": ("Σ_t δ_t x_t", r"\sum_t \delta_t x_t"),
    }
    what = texts.get(kind, ("Σ_t δ_t", r"\sum_t \delta_t"))
    why = rule("rec_grad", param=spelled(rec.ctx.theta), sum=what)
    terms = [term(t) for t in range(1, rec.T + 1)]
    return sum_spec(rec.ctx, "backward", sample_part(rec.ctx), why, Terms(terms, len(terms)))


def earlier(rec: Rec, what: tuple[str, str]) -> list[StepSpec]:
    """The values of the steps whose formulas are not written out, if any."""
    first = rec.shown_times()[-1]
    if first <= 1:
        return []
    which = "dxp" if ROLE[rec.ctx.ref.kind] == "x" else "dhp"
    values = rec.inner[which][: first - 1, 0, rec.row]
    lhs = rec.delta_symbol(rec.row, "t", which)
    recursion = sp.Function("BPTT")(sym("delta", None, "t+1"))
    return [given("backward", lhs, rule("rec_earlier", what=what, t=first), recursion, values)]


# --------------------------------------------------------------------------- plain RNN


def rnn(ctx: LayerContext) -> Local:
    rec = Rec(ctx)
    j = rec.j
    first = rule("rec_first", what=H_T, j=j)
    every = rule("rec_values", what=H_T, j=j, T=rec.T)
    forward = [
        pre_activation(rec),
        StepSpec("forward", sym("h", None, 1, j), first, sp.tanh(sym("u", None, 1, rec.row))),
        given(
            "forward",
            sym("h", None, "t", j),
            every,
            sp.tanh(sym("u", None, "t", rec.row)),
            rec.cache["hs"][1:, 0, j],
        ),
    ]
    backward = [above(rec)]
    for t in rec.shown_times():
        inner = rec.e(t, j)
        full = shown = inner
        if t < rec.T:
            f, sh = rec.recurrent_sum(t, j)
            full, shown = add(inner, *f.args), add(inner, sh)
        slope = sub(sp.S.One, power(rec.h(t, j), 2))
        backward.append(
            StepSpec(
                "backward",
                sym("delta", None, t, j),
                rule("rnn_delta"),
                mul(shown, slope),
                mul(full, slope),
            )
        )
    backward += earlier(rec, ("δ_t", r"$\delta_t$"))
    backward += vanishing(rec)
    backward.append(final(rec))
    return Local(forward, backward)


def vanishing(rec: Rec) -> list[StepSpec]:
    """‖δ_t‖ over time, and the norm of ∂h_T/∂h_{T−k} = ∏ diag(1 − h²) W_hh, with a verdict."""
    deltas = rec.inner["dxp"][:, 0, :]
    norms = np.linalg.norm(deltas, axis=1)[::-1]
    W = rec.ctx.param(rec.ctx.node, "W_hh")
    hs = rec.cache["hs"][:, 0, :]
    J, gains = np.eye(rec.H), []
    for t in range(rec.T, 1, -1):
        J = J @ (np.diag(1 - hs[t] ** 2) @ W)
        gains.append(float(np.linalg.norm(J, 2)))
    specs = [
        given(
            "backward",
            sym("normdelta"),
            rule("rnn_norms", T=rec.T),
            sp.Function("norm")(sym("delta", None, "t")),
            norms,
        )
    ]
    if not gains:
        return specs
    k = len(gains)
    factor = gains[-1] ** (1 / k) if gains[-1] > 0 else 0.0
    why = rule("rnn_gain", first=number_text(gains[0]), last=number_text(gains[-1]), k=k,
               factor=number_text(factor), verdict=_verdict(factor, k))  # fmt: skip
    specs.append(
        given("backward", sym("gain"), why, sp.Function("norm")(sym("jacobian")), np.array(gains))
    )
    return specs


def _verdict(factor: float, k: int) -> tuple[str, str]:
    if factor < 0.9:
        text = (f"the gradient vanishes — what happened {k} steps earlier barely moves the weights,"
                " so a plain RNN struggles to learn long-range dependencies")  # fmt: skip
    elif factor > 1.1:
        text = (f"the gradient explodes — early steps dominate the sum {k} steps back, and training"
                " needs gradient clipping or smaller weights")  # fmt: skip
    else:
        text = "the gradient keeps its size over these steps: neither vanishing nor exploding"
    return text, text.replace("—", "---")


_BPTT = "backprop through time inside the layer, then ∂L̄/∂x_t = δ_t W_ih"
_BPTT_TEX = (
    r"backprop through time inside the layer, then $\partial\bar L/\partial x_t = \delta_t W_{ih}$"
)


def describe(layer: Layer) -> str:
    """``LSTM(2→4)``, ``RNN(3→5, last step)``."""
    spec = layer.spec()
    last = "" if spec["return_sequences"] else ", last step"
    return f"{spec['type']}({spec['input_size']}→{spec['hidden_size']}{last})"


def recurrent_derivation(
    type_name: str, gates: str, local: Callable[..., Local]
) -> LayerDerivation:
    """A recurrent layer's derivation; ``gates`` says which gates its way back runs through."""
    return LayerDerivation(
        type_name,
        reference_seq.recurrent_forward,
        reference_seq.recurrent_backward,
        how=(_BPTT + gates, _BPTT_TEX + gates),
        back="BPTT",
        local=local,
        describe=describe,
    )


register(recurrent_derivation("RNN", "", rnn))
