"""Weights that act at many positions: a convolution's kernel, a Dense layer on a sequence, an
embedding's rows. Each one's gradient is a sum over the positions it touches, term by term.

A convolution weight W[o, c, dy, dx] multiplies one input pixel at every output position (y, x)
of channel o — weight sharing — so ∂L̄/∂W[o, c, dy, dx] = Σ_{y,x} δ[o, y, x] · x[c, y·s + dy − p,
x·s + dx − p]; the positions where the kernel lies over the zero padding add nothing and are left
out.

Registers the layer derivations of Dense, Conv2D and Embedding.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.expr import mul
from derive.layers import reference, reference_seq
from derive.layers.derivations import LayerDerivation, register
from derive.layers.entries import dense_entry
from derive.layers.layer_context import (
    LayerContext,
    Local,
    Terms,
    arrives,
    collect,
    entry,
    given,
    grad,
    sample_part,
    sum_spec,
)
from derive.layers.layer_rules import rule
from derive.layers.param import input_symbol, output_symbol
from derive.notation import sym
from derive.steps import StepSpec
from engine.layers import Layer


def _delta(ctx: LayerContext, *index: int) -> sp.Symbol:
    value = ctx.tape.grad_out[ctx.node.path][(ctx.s, *index)]
    return ctx.numbers.put(sym("delta", ctx.node.sup, *index), value)


def _x(ctx: LayerContext, *index: int) -> sp.Symbol:
    value = ctx.tape.inputs[ctx.node.path][(ctx.s, *index)]
    return ctx.numbers.put(entry(input_symbol(ctx.node.path), *index), value)


def _w(ctx: LayerContext, name: str, *index: int) -> sp.Symbol:
    value = ctx.param(ctx.node, name)[index]
    return ctx.numbers.put(sym(name, ctx.node.sup, *index), value)


# --------------------------------------------------------------------------- Dense


def dense(ctx: LayerContext) -> Local:
    """A Dense layer's weight or bias: one term per position (one, or one per time step)."""
    node, ref = ctx.node, ctx.ref
    x, g = ctx.tape.inputs[node.path], ctx.tape.grad_out[node.path]
    rows = list(np.ndindex(*x.shape[1:-1])) if x.ndim > 2 else [()]
    j, first = ref.index[0], rows[0]
    W = ctx.param(node, "W")
    unit = collect(
        W.shape[1],
        lambda i: mul(_w(ctx, "W", j, i), _x(ctx, *first, i)),
        lambda i: W[j, i] * x[(ctx.s, *first, i)],
    )
    where = f" (position {first})" if first else ""
    lhs = entry(output_symbol(node.path), *first, j)
    why = rule("dense_unit", j=j, where=where)
    unit_step = sum_spec(ctx, "forward", lhs, why, unit, extra=[_w(ctx, "b", j)])
    one = "" if len(rows) > 1 else "_one"
    if ref.kind == "W":
        i = ref.index[1]
        terms = collect(
            len(rows),
            lambda r: mul(_delta(ctx, *rows[r], j), _x(ctx, *rows[r], i)),
            lambda r: g[(ctx.s, *rows[r], j)] * x[(ctx.s, *rows[r], i)],
        )
    else:
        terms = collect(
            len(rows), lambda r: _delta(ctx, *rows[r], j), lambda r: g[(ctx.s, *rows[r], j)]
        )
    why = rule(f"dense_grad_{ref.kind}{one}", count=len(rows))
    final = sum_spec(ctx, "backward", sample_part(ctx), why, terms)
    return Local([unit_step], [arrives(ctx, g[ctx.s]), final])


# --------------------------------------------------------------------------- Conv2D


def _valid(ctx: LayerContext, c: int, dy: int, dx: int) -> list[tuple[int, int, int, int]]:
    """The output positions (y, x) whose input pixel under W[·, c, dy, dx] lies inside the image,
    with that pixel's row and column."""
    layer = ctx.node.layer
    h, w = ctx.tape.inputs[ctx.node.path].shape[2:]
    oh, ow = ctx.tape.outputs[ctx.node.path].shape[2:]
    out = []
    for y in range(oh):
        for x in range(ow):
            iy, ix = y * layer.stride + dy - layer.padding, x * layer.stride + dx - layer.padding
            if 0 <= iy < h and 0 <= ix < w:
                out.append((y, x, iy, ix))
    return out


def conv(ctx: LayerContext) -> Local:
    """A convolution's weight or bias, summed over every output position it touches."""
    node, ref = ctx.node, ctx.ref
    o = ref.index[0]
    ctx.focus_channel = o
    g, x = ctx.tape.grad_out[node.path], ctx.tape.inputs[node.path]
    why = rule("conv_delta", o=o)
    delta_map = given(
        "backward", sym("delta", node.sup, o), why, grad(output_symbol(node.path), o), g[ctx.s, o]
    )
    if ref.kind == "W":
        _, c, dy, dx = ref.index
        places = _valid(ctx, c, dy, dx)
        terms = collect(
            len(places),
            lambda i: mul(_delta(ctx, o, *places[i][:2]), _x(ctx, c, *places[i][2:])),
            lambda i: g[(ctx.s, o, *places[i][:2])] * x[(ctx.s, c, *places[i][2:])],
        )
        skipped = g.shape[2] * g.shape[3] - len(places)
        note = f" ({skipped} more lie over the zero padding and add 0)" if skipped else ""
        idx = ",".join(str(i) for i in ref.index)
        why = rule("conv_grad_W", idx=idx, o=o, count=len(places), padnote=note)
    else:
        ow = g.shape[3]
        terms = collect(
            g.shape[2] * ow,
            lambda i: _delta(ctx, o, *divmod(i, ow)),
            lambda i: g[(ctx.s, o, *divmod(i, ow))],
        )
        why = rule("conv_grad_b", o=o)
    final = sum_spec(ctx, "backward", sample_part(ctx), why, terms)
    return Local([_conv_unit(ctx, o)], [arrives(ctx, g[ctx.s]), delta_map, final])


def _conv_unit(ctx: LayerContext, o: int) -> StepSpec:
    """The first output of channel o, out[o, 0, 0], in its weights and inputs."""
    layer, node = ctx.node.layer, ctx.node
    x, W = ctx.tape.inputs[node.path], ctx.param(node, "W")
    cells = [
        (c, dy, dx, dy - layer.padding, dx - layer.padding)
        for c in range(W.shape[1])
        for dy in range(layer.k)
        for dx in range(layer.k)
        if 0 <= dy - layer.padding < x.shape[2] and 0 <= dx - layer.padding < x.shape[3]
    ]
    terms = collect(
        len(cells),
        lambda i: mul(_w(ctx, "W", o, *cells[i][:3]), _x(ctx, cells[i][0], *cells[i][3:])),
        lambda i: W[(o, *cells[i][:3])] * x[(ctx.s, cells[i][0], *cells[i][3:])],
    )
    skipped = W.shape[1] * layer.k * layer.k - len(cells)
    note = f"; {skipped} kernel entries lie over the zero padding here" if skipped else ""
    why = rule("conv_unit", o=o, s=layer.stride, p=layer.padding, padnote=note)
    lhs = entry(output_symbol(node.path), o, 0, 0)
    return sum_spec(ctx, "forward", lhs, why, terms, extra=[_w(ctx, "b", o)])


# --------------------------------------------------------------------------- Embedding


def embedding(ctx: LayerContext) -> Local:
    """A row of the embedding table: the sum of ∂L̄/∂a over the positions holding its token."""
    node, (v, j) = ctx.node, ctx.ref.index
    ids = np.rint(ctx.tape.inputs[node.path][ctx.s]).astype(np.int64)
    tokens = given("forward", sym("x"), rule("emb_lookup"), sym("x", None, "t"), ids)
    g = ctx.tape.grad_out[node.path]
    where = [t for t in np.ndindex(*ids.shape) if ids[t] == v]
    out = output_symbol(node.path)

    def term(i: int) -> sp.Basic:
        return ctx.numbers.put(grad(out, *where[i], j), g[(ctx.s, *where[i], j)])

    terms = collect(len(where), term, lambda i: g[(ctx.s, *where[i], j)])
    why = rule("emb_grad", v=v, j=j, count=len(where))
    final = sum_spec(
        ctx, "backward", sample_part(ctx), why, Terms(terms.exprs, terms.total, terms.rest)
    )
    return Local([tokens], [arrives(ctx, g[ctx.s]), final])


def _describe_dense(layer: Layer) -> str:
    spec = layer.spec()
    return f"Dense({spec['in_features']}→{spec['out_features']})"


def _describe_conv(layer: Layer) -> str:
    spec = layer.spec()
    defaults = {"stride": 1, "padding": 0}
    extra = "".join(f", {k} {spec[k]}" for k, default in defaults.items() if spec[k] != default)
    k = spec["kernel_size"]
    return f"Conv2D({spec['in_channels']}→{spec['out_channels']}, {k}×{k}{extra})"


register(
    LayerDerivation(
        "Dense",
        reference.dense_forward,
        reference.dense_backward,
        how=("∂L̄/∂x = δ W", r"$\partial\bar L/\partial x = \delta W$"),
        local=dense,
        through=dense_entry,
        describe=_describe_dense,
    ),
    LayerDerivation(
        "Conv2D",
        reference.conv_forward,
        reference.conv_backward,
        how=(
            "∂L̄/∂x[c,iy,ix] = Σ W[o,c,dy,dx] δ[o,y,x] over the outputs that read the pixel",
            r"$\partial\bar L/\partial x_{c,iy,ix} = \sum W_{o,c,dy,dx}\,\delta_{o,y,x}$ over "
            r"the outputs that read the pixel",
        ),
        back="conv_transpose",
        local=conv,
        describe=_describe_conv,
    ),
    LayerDerivation(
        "Embedding",
        reference_seq.embedding_forward,
        reference_seq.embedding_backward,
        local=embedding,
    ),
)
