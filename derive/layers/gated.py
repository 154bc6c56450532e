"""LSTM and GRU: the gates of the weight's unit, the gate-wise δ step by step, c_t's path.

A weight row belongs to one gate of one unit (PyTorch's order: LSTM i, f, g, o; GRU r, z, n).
Backprop through time runs from t = T back to 1: first all of ∂L̄/∂h_t (from the layers above
and through the next step), for an LSTM then ∂L̄/∂c_t — the cell state's path, where one step
passes the gradient on multiplied by the forget gate alone — then the δ of the weight's gate.
"""

from __future__ import annotations

import sympy as sp

from derive.activations import sigmoid
from derive.expr import add, mul, power, sub
from derive.layers.derivations import register
from derive.layers.layer_context import SHOW_TIME, LayerContext, Local, given
from derive.layers.layer_rules import rule
from derive.layers.phrases import GATE_DELTAS as DELTA
from derive.layers.phrases import GATES as WHAT
from derive.layers.recurrent import (
    Rec,
    above,
    earlier,
    final,
    pre_activation,
    recurrent_derivation,
)
from derive.notation import partial, sym
from derive.steps import StepSpec


def _slope(a: sp.Symbol) -> sp.Basic:
    """σ′ written with the gate's value: a(1 − a)."""
    return mul(a, sub(sp.S.One, a))


def _gates(rec: Rec) -> list[StepSpec]:
    """The weight's gate at t = 1, then every gate of the unit over time."""
    j, q = rec.j, rec.gate
    u = sym("u", None, 1, rec.row)
    specs = [pre_activation(rec)]
    if not (rec.kind == "GRU" and q == "n"):
        fn = sp.tanh(u) if q == "g" else sigmoid(u)
        specs.append(
            StepSpec("forward", sym(q, None, 1, j), rule("rec_first", what=WHAT[q], j=j), fn)
        )
    H = rec.H
    for k, g in enumerate("ifgo" if rec.kind == "LSTM" else "rzn"):
        values = rec.acts[g][:, j]
        why = rule("rec_values", what=WHAT[g], j=j, T=rec.T)
        u_t = sym("u", None, "t", k * H + j)
        fn = sp.tanh(u_t) if g in "gn" else sigmoid(u_t)
        specs.append(given("forward", sym(g, None, "t", j), why, fn, values))
    return specs


def lstm(ctx: LayerContext) -> Local:
    rec = Rec(ctx)
    j, T = rec.j, rec.T
    forward = _gates(rec)
    rec.c(0, j)
    for t in range(1, min(T, SHOW_TIME) + 1):
        general = add(
            mul(rec.act("f", t, j), sym("c", None, t - 1, j)),
            mul(rec.act("i", t, j), rec.act("g", t, j)),
        )
        forward.append(StepSpec("forward", sym("c", None, t, j), rule("lstm_c"), general))
    h_t = mul(sym("o", None, "t", j), sp.tanh(sym("c", None, "t", j)))
    why = rule("rec_values", what=("h_t = o_t tanh c_t", r"$h_t = o_t \tanh c_t$"), j=j, T=T)
    forward.append(given("forward", sym("h", None, "t", j), why, h_t, rec.cache["hs"][1:, 0, j]))
    backward = [above(rec)]
    for t in rec.shown_times():
        backward += _lstm_step(rec, t)
    backward += earlier(rec, ("δ of the gate", r"$\delta$ of the gate"))
    return Local(forward, [*backward, final(rec)])


def _dh(rec: Rec, t: int, extra: list[sp.Basic]) -> StepSpec:
    """All of ∂L̄/∂h_{t,j}: from above, plus what reaches it through step t + 1."""
    j = rec.j
    full = shown = rec.e(t, j)
    if t < rec.T:
        f, sh = rec.recurrent_sum(t, j)
        full, shown = add(full, *extra, *f.args), add(shown, *extra, sh)
    key = "lstm_dh" if rec.kind == "LSTM" else "gru_dh"
    return StepSpec("backward", partial("Lbar", sym("h", None, t, j)), rule(key), shown, full)


def _lstm_step(rec: Rec, t: int) -> list[StepSpec]:
    j, q = rec.j, rec.gate
    dh, dc = partial("Lbar", sym("h", None, t, j)), partial("Lbar", sym("c", None, t, j))
    c = rec.c(t, j)
    general = mul(dh, rec.act("o", t, j), sub(sp.S.One, power(sp.tanh(c), 2)))
    if t < rec.T:
        general = add(general, mul(rec.dc(t + 1, j), rec.act("f", t + 1, j)))
    specs = [_dh(rec, t, []), StepSpec("backward", dc, rule("lstm_dc"), general)]
    a = rec.act(q, t, j)
    formula = {
        "i": lambda: mul(dc, rec.act("g", t, j), _slope(a)),
        "f": lambda: mul(dc, rec.c(t - 1, j), _slope(a)),
        "g": lambda: mul(dc, rec.act("i", t, j), sub(sp.S.One, power(a, 2))),
        "o": lambda: mul(dh, sp.tanh(c), _slope(a)),
    }[q]()
    why = rule("gate_delta", gate=q, formula=DELTA[q])
    return [*specs, StepSpec("backward", sym(f"delta_{q}", None, t, j), why, formula)]


def gru(ctx: LayerContext) -> Local:
    rec = Rec(ctx)
    j, T = rec.j, rec.T
    forward = _gates(rec)
    what = ("ĥ_t = W_hn h_{t−1} + b_hn", r"$\hat h_t = W_{hn} h_{t-1} + b_{hn}$")
    hn_t = add(mul(sym("W_hn"), sym("h", None, "t-1")), sym("b_hn"))
    why = rule("rec_values", what=what, j=j, T=T)
    forward.append(given("forward", sym("hn", None, "t", j), why, hn_t, rec.cache["hn"][:, 0, j]))
    rec.h(0, j)
    for t in range(1, min(T, SHOW_TIME) + 1):
        z = rec.act("z", t, j)
        general = add(mul(sub(sp.S.One, z), rec.act("n", t, j)), mul(z, sym("h", None, t - 1, j)))
        forward.append(StepSpec("forward", sym("h", None, t, j), rule("gru_h"), general))
    backward = [above(rec)]
    for t in rec.shown_times():
        backward += _gru_step(rec, t)
    backward += earlier(rec, ("δ of the gate", r"$\delta$ of the gate"))
    return Local(forward, [*backward, final(rec)])


def _gru_step(rec: Rec, t: int) -> list[StepSpec]:
    j, q = rec.j, rec.gate
    dh = partial("Lbar", sym("h", None, t, j))
    direct = [mul(rec.dh(t + 1, j), rec.act("z", t + 1, j))] if t < rec.T else []
    z, n = rec.act("z", t, j), rec.act("n", t, j)
    dn = sym("delta_n", None, t, j)
    why = rule("gate_delta", gate="n", formula=DELTA["n"])
    n_delta = mul(dh, sub(sp.S.One, z), sub(sp.S.One, power(n, 2)))
    specs = [_dh(rec, t, direct), StepSpec("backward", dn, why, n_delta)]
    r = rec.act("r", t, j)
    if q == "r":
        lhs, key, general = sym("delta_r", None, t, j), "r", mul(dn, rec.hn(t, j), _slope(r))
    elif q == "z":
        lhs, key = sym("delta_z", None, t, j), "z"
        general = mul(dh, sub(rec.h(t - 1, j), n), _slope(z))
    elif rec.ctx.ref.kind in ("W_hh", "b_hh"):
        lhs, key, general = partial("Lbar", sym("hn", None, t, j)), "hn", mul(dn, r)
    else:
        return specs
    gate = "n (through ĥ)" if key == "hn" else key
    return [
        *specs,
        StepSpec("backward", lhs, rule("gate_delta", gate=gate, formula=DELTA[key]), general),
    ]


register(
    recurrent_derivation("LSTM", " (all four gates)", lstm),
    recurrent_derivation("GRU", " (all three gates)", gru),
)
