"""Self-attention: the scores, the softmax of a row, and the chain through QKᵀ and V.

A row r of W_in makes one column of the queries, keys or values (PyTorch stacks them: rows
0…d−1 are Q, d…2d−1 are K, 2d…3d−1 are V), of one head. Its gradient is a sum over the
positions t: ∂L̄/∂W_in[r, i] = Σ_t ∂L̄/∂P_{t,j} x_{t,i}, P being Q, K or V. The way there: back
through the output projection to ∂L̄/∂O; for V through O = AV; for Q and K through the softmax of
each row, ∂L̄/∂S = A ⊙ (∂L̄/∂A − rowsum(A ⊙ ∂L̄/∂A)), and then S = QKᵀ/√d_h. Positions and
columns are numbered from 0, as arrays are; heads from 1 ("head 1 of 2"), as the app's attention
view numbers them.
"""

from __future__ import annotations

import sympy as sp

from derive.expr import add, div, mul, power, sub
from derive.layers import reference_seq
from derive.layers.derivations import LayerDerivation, register
from derive.layers.layer_context import (
    SHOW_TIME,
    LayerContext,
    Local,
    Terms,
    arrives,
    given,
    grad,
    sample_part,
    sum_spec,
)
from derive.layers.layer_rules import rule
from derive.layers.param import output_symbol
from derive.notation import partial, spelled, sym
from derive.steps import StepSpec
from engine.layers import Layer

PARTS = ("queries", "keys", "values")


def head_name(h: int, heads: int) -> str:
    """``head 1 of 2`` for the 0-based head ``h``: people count heads from 1."""
    return f"head {h + 1} of {heads}"


class Attn:
    """The shown sample's pass through the layer, one head, and symbols for its numbers."""

    def __init__(self, ctx: LayerContext, head: int) -> None:
        self.ctx, node = ctx, ctx.node
        self.label, self.h = node.sup, head
        _, self.cache, _, self.inner = ctx.reference(node, slice(ctx.s, ctx.s + 1))
        self.T = self.cache["A"].shape[2]
        self.dh = node.layer.d // node.layer.heads
        self.head = head_name(head, node.layer.heads)
        self.causal = node.layer.causal
        self.x_in = ctx.tape.inputs[node.path][ctx.s]

    def put(self, symbol: sp.Symbol, value: float) -> sp.Symbol:
        return self.ctx.numbers.put(symbol, value)

    def get(self, name: str, t: int, u: int) -> sp.Symbol:
        """Q, K, V, S, A (and ∂L̄/∂ of them with a "d" in front) of the head at (t, u)."""
        source = self.inner if name.startswith("d") else self.cache
        symbol = sym(name.lstrip("d"), None, t, u)
        return self.put(
            partial("Lbar", symbol) if name.startswith("d") else symbol,
            source[name][0, self.h, t, u],
        )

    def x(self, t: int, i: int) -> sp.Symbol:
        return self.put(sym("x", None, t, i), self.x_in[t, i])

    def root(self) -> sp.Basic:
        return power(self.put(sym("dh"), self.dh), sp.S.Half)

    def visible(self, t: int) -> list[int]:
        return list(range(t + 1)) if self.causal else list(range(self.T))

    def matrix(
        self, name: str, what: tuple[str, str], general: sp.Basic, cols: str = "u"
    ) -> StepSpec:
        """A whole (T × T or T × d_h) array of the head, read from the pass."""
        source = self.inner if name.startswith("d") else self.cache
        base = sym(name.lstrip("d"))
        lhs = partial("Lbar", base) if name.startswith("d") else base
        why = rule("attn_matrix", what=what, head=self.head, cols=cols)
        part = "backward" if name.startswith("d") else "forward"
        return given(part, lhs, why, general, source[name][0, self.h])

    @property
    def row(self) -> int:
        """The row whose scores are written out: the last one when causal (it sees them all)."""
        return self.T - 1 if self.causal else 0


def _part(ctx: LayerContext, at: Attn, r: int, part: int, j: int) -> StepSpec:
    """P_{0,j} = Σ_i x_{0,i} W_in[r, i] + b_in[r] for position 0."""
    W, b = ctx.param(ctx.node, "W_in"), ctx.param(ctx.node, "b_in")
    d = W.shape[1]
    terms = [mul(at.x(0, i), at.put(sym("W_in", at.label, r, i), W[r, i])) for i in range(d)]
    bias = at.put(sym("b_in", at.label, r), b[r])
    why = rule("attn_part", r=r, jj=j, part=PARTS[part], h=at.head, t=0)
    return sum_spec(
        ctx, "forward", sym("QKV"[part], None, 0, j), why, Terms(terms, d), extra=[bias]
    )


def _scores(at: Attn) -> list[StepSpec]:
    """One score with numbers, the softmax of its row, then the head's attention matrix."""
    t = at.row
    dot = add(*[mul(at.get("Q", t, j), at.get("K", 0, j)) for j in range(at.dh)])
    why = rule("attn_score", t=t, u=0, h=at.head)
    specs = [StepSpec("forward", sym("S", None, t, 0), why, div(dot, at.root()))]
    exps = [sp.exp(at.get("S", t, v), evaluate=False) for v in at.visible(t)]
    causal = " (causal: only the positions up to t)" if at.causal else ""
    general = div(sp.exp(sym("S", None, t, 0), evaluate=False), add(*exps))
    specs.append(
        StepSpec("forward", sym("A", None, t, 0), rule("attn_softmax", t=t, causal=causal), general)
    )
    what = (
        "the attention weights A = softmax(S)",
        r"the attention weights $A = \mathrm{softmax}(S)$",
    )
    specs.append(at.matrix("A", what, sp.Function("softmax")(sym("S"))))
    return specs


def _softmax_back(at: Attn) -> list[StepSpec]:
    """∂L̄/∂A, one entry of ∂L̄/∂S through the softmax with numbers, then all of ∂L̄/∂S."""
    t = at.row
    inner = add(*[mul(at.get("A", t, v), at.get("dA", t, v)) for v in at.visible(t)])
    general = mul(at.get("A", t, 0), sub(at.get("dA", t, 0), inner))
    A, dA = sym("A"), partial("Lbar", sym("A"))
    back = mul(A, sub(dA, sp.Function("rowsum")(mul(A, dA))))
    return [
        at.matrix(
            "dA", ("through O = AV", "through $O = AV$"), mul(partial("Lbar", sym("O")), sym("VT"))
        ),
        StepSpec("backward", partial("Lbar", sym("S", None, t, 0)), rule("attn_dS", t=t), general),
        at.matrix(
            "dS",
            ("back through the softmax, every row", "back through the softmax, every row"),
            back,
        ),
    ]


def _part_grad(at: Attn, part: int, t: int, j: int) -> StepSpec:
    """∂L̄/∂P_{t,j}, P = Q, K or V, in the numbers of the head."""
    readers = [s for s in range(at.T) if t in at.visible(s)]  # the rows that see position t
    if part == 2:  # V_t is read by every such row s with weight A_{s,t}
        general = add(*[mul(at.get("A", s, t), at.get("dO", s, j)) for s in readers])
        return StepSpec("backward", partial("Lbar", sym("V", None, t, j)), rule("attn_dV"), general)
    if part == 0:
        terms = [mul(at.get("dS", t, u), at.get("K", u, j)) for u in at.visible(t)]
    else:
        terms = [mul(at.get("dS", s, t), at.get("Q", s, j)) for s in readers]
    lhs = partial("Lbar", sym("QK"[part], None, t, j))
    return StepSpec(
        "backward", lhs, rule(("attn_dQ", "attn_dK")[part]), div(add(*terms), at.root())
    )


def _in_proj(ctx: LayerContext) -> Local:
    """W_in[r, i] and b_in[r]: through the part (Q, K or V) that row r makes, to the positions."""
    node, (r, *rest) = ctx.node, ctx.ref.index
    d, dh = node.layer.d, node.layer.d // node.layer.heads
    part, j = r // d, (r % d) % dh
    at = Attn(ctx, (r % d) // dh)
    out = partial("Lbar", output_symbol(node.path))
    what = ("back through the output projection",) * 2
    backward = [
        arrives(ctx, ctx.tape.grad_out[node.path][ctx.s]),
        at.matrix("dO", what, mul(out, sym("W_out", at.label)), "j"),
    ]
    if part < 2:
        backward += _softmax_back(at)
    backward += [_part_grad(at, part, t, j) for t in range(min(at.T, SHOW_TIME))]
    name, P = ("dQ", "dK", "dV")[part], "QKV"[part]
    weight = ctx.ref.kind == "W_in"
    terms = [
        mul(at.get(name, t, j), at.x(t, rest[0])) if weight else at.get(name, t, j)
        for t in range(at.T)
    ]
    what = (f"Σ_t ∂L̄/∂{P}_tj", rf"\sum_t \partial\bar L/\partial {P}_{{tj}}")
    if weight:
        what = (what[0] + " x_ti", what[1] + " x_{ti}")
    why = rule("attn_grad", param=spelled(ctx.theta), sum=what)
    final = sum_spec(ctx, "backward", sample_part(ctx), why, Terms(terms, at.T))
    return Local([_part(ctx, at, r, part, j), *_scores(at)], [*backward, final])


def _out_proj(ctx: LayerContext) -> Local:
    """W_out[j, i] and b_out[j]: Σ_t ∂L̄/∂out_{t,j} O_{t,i} and Σ_t ∂L̄/∂out_{t,j}."""
    node, index = ctx.node, ctx.ref.index
    _, cache, _, _ = ctx.reference(node, slice(ctx.s, ctx.s + 1))
    O2, g = cache["O2"], ctx.tape.grad_out[node.path][ctx.s]
    heads = ("the heads' outputs O = AV side by side", r"the heads' outputs $O = AV$ side by side")
    why = rule("attn_matrix", what=heads, head="all heads", cols="the features")
    O = given("forward", sym("O"), why, sp.Function("concat")(mul(sym("A"), sym("V"))), O2)
    out = output_symbol(node.path)

    def term(t: int) -> sp.Basic:
        d = ctx.numbers.put(grad(out, t, index[0]), g[t, index[0]])
        if len(index) == 1:
            return d
        return mul(d, ctx.numbers.put(sym("O", None, t, index[1]), O2[t, index[1]]))

    what = ("Σ_t ∂L̄/∂out_tj", r"\sum_t \partial\bar L/\partial \mathrm{out}_{tj}")
    if len(index) > 1:
        what = (what[0] + " O_ti", what[1] + " O_{ti}")
    why = rule("attn_grad", param=spelled(ctx.theta), sum=what)
    terms = [term(t) for t in range(g.shape[0])]
    final = sum_spec(ctx, "backward", sample_part(ctx), why, Terms(terms, g.shape[0]))
    return Local([O], [arrives(ctx, g), final])


def local(ctx: LayerContext) -> Local:
    return _in_proj(ctx) if ctx.ref.kind in ("W_in", "b_in") else _out_proj(ctx)


def _describe(layer: Layer) -> str:
    spec = layer.spec()
    causal = ", causal" if spec["causal"] else ""
    return f"MultiHeadSelfAttention(d {spec['d']}, {spec['heads']} heads{causal})"


register(
    LayerDerivation(
        "MultiHeadSelfAttention",
        reference_seq.attention_forward,
        reference_seq.attention_backward,
        how=(
            "through W_out, AV, the softmax and QKᵀ to ∂L̄/∂x = ∂L̄/∂[Q K V] W_in",
            r"through $W_{out}$, $AV$, the softmax and $QK^\top$ to $\partial\bar L/\partial x = "
            r"\partial\bar L/\partial [Q\,K\,V]\, W_{in}$",
        ),
        name="attention",
        back="attention_back",
        local=local,
        describe=_describe,
    )
)
