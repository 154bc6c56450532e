"""One entry of ∂L̄/∂(a layer's input), written out with numbers, on the way back to a parameter.

The entry is the largest of the shown sample's; the whole array follows as the engine's backward
computes it. An activation shows σ′ and the product; a Dense layer Σ_j W_ji δ_j; max-pooling the
winner of each of the first windows of the channel the parameter acts on, and the gradient map it
routes to them; the normalisations their three-term formula (``derive.layers.norm``). Each layer
type's derivation names its function here (``LayerDerivation.through``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from derive.activations import prime as slope_of
from derive.activations import prime_rule
from derive.expr import mul
from derive.functions import window_max
from derive.layers.derivations import derivation
from derive.layers.layer_context import LayerContext, collect, entry, given, grad, sum_spec
from derive.layers.layer_rules import rule
from derive.layers.param import Node, input_symbol, output_symbol
from derive.notation import prime, sym
from derive.printers import latex, number_text, text
from derive.rules import Rule
from derive.rules import rule as base_rule
from derive.steps import StepSpec

At = Callable[..., sp.Symbol]  # the name of one entry of the array a step computes
WINDOWS = 4  # max-pooling windows written out


def entry_steps(ctx: LayerContext, node: Node, e: tuple[int, ...], target: At) -> list[StepSpec]:
    """Entry ``e`` of ∂L̄/∂(input), named ``target(*e)``, where the layer has a formula worth it
    (its derivation's ``through``)."""
    through = derivation(node.kind).through
    return through(ctx, node, e, target) if through is not None else []


def example(node: Node, why: Rule) -> Rule:
    """A rule said of one entry: "layer 3, at its largest entry (an example): …"."""
    head = f"layer {node.sup}, at its largest entry (an example): "
    return Rule(why.key, head + why.text, head + why.latex)


def _put(ctx: LayerContext, array: sp.Symbol, values: np.ndarray, *index: int) -> sp.Symbol:
    return ctx.numbers.put(entry(array, *index), values[(ctx.s, *index)])


def _put_grad(ctx: LayerContext, array: sp.Symbol, values: np.ndarray, *index: int) -> sp.Symbol:
    return ctx.numbers.put(grad(array, *index), values[(ctx.s, *index)])


def activation_entry(
    ctx: LayerContext, node: Node, e: tuple[int, ...], target: At
) -> list[StepSpec]:
    """σ′ at the entry, then the chain rule through the activation."""
    inp, out = input_symbol(node.path), output_symbol(node.path)
    act, t = node.layer.function, ctx.tape
    z, a = _put(ctx, inp, t.inputs[node.path], *e), _put(ctx, out, t.outputs[node.path], *e)
    slope = prime(act, z)
    upstream = _put_grad(ctx, out, t.grad_out[node.path], *e)
    general = slope_of(act, z, a, node.layer.alpha)
    why = example(node, base_rule("chain_act"))
    return [
        StepSpec("backward", slope, prime_rule(act), general),
        StepSpec("backward", target(*e), why, mul(upstream, slope)),
    ]


def dense_entry(ctx: LayerContext, node: Node, e: tuple[int, ...], target: At) -> list[StepSpec]:
    """Σ_j W_ji δ_j for one input i."""
    out = output_symbol(node.path)
    W, g = ctx.param(node, "W"), ctx.tape.grad_out[node.path]
    i, rows = e[-1], e[:-1]

    def term(j: int) -> sp.Basic:
        w = ctx.numbers.put(sym("W", node.sup, j, i), W[j, i])
        return mul(w, _put_grad(ctx, out, g, *rows, j))

    terms = collect(W.shape[0], term, lambda j: W[j, i] * g[(ctx.s, *rows, j)])
    why = example(node, base_rule("chain_dense"))
    return [sum_spec(ctx, "backward", target(*e), why, terms)]


def maxpool_entry(ctx: LayerContext, node: Node, e: tuple[int, ...], target: At) -> list[StepSpec]:
    """Which input won each window of the channel, and where the window's gradient goes."""
    t, s = ctx.tape, ctx.s
    inp, out = input_symbol(node.path), output_symbol(node.path)
    c = ctx.focus_channel if ctx.focus_channel is not None else e[0]
    g = t.grad_out[node.path]
    count = g.shape[2] * g.shape[3]
    specs = [_window(ctx, node, c, *divmod(w, g.shape[3])) for w in range(min(WINDOWS, count))]
    why = rule("maxpool_route", c=c, shown=min(WINDOWS, count), count=count)
    gx = t.grad_in[node.path]
    assert gx is not None
    routed = gx[s, c]
    specs.append(given("backward", grad(inp, c), why, sp.Function("route")(grad(out, c)), routed))
    return specs


def _window(ctx: LayerContext, node: Node, c: int, py: int, px: int) -> StepSpec:
    """p = max over the window (py, px) of channel c, naming the winner."""
    layer, s = node.layer, ctx.s
    x, g = ctx.tape.inputs[node.path], ctx.tape.grad_out[node.path]
    cells = [
        (py * layer.stride + dy, px * layer.stride + dx)
        for dy in range(layer.k)
        for dx in range(layer.k)
    ]
    args = [_put(ctx, input_symbol(node.path), x, c, iy, ix) for iy, ix in cells]
    win = args[int(np.argmax([x[s, c, iy, ix] for iy, ix in cells]))]
    why = rule(
        "maxpool_window",
        py=py,
        px=px,
        c=c,
        others=len(cells) - 1,
        winner=(text(win), latex(win)),
        g=number_text(float(g[s, c, py, px])),
    )
    return StepSpec("backward", entry(output_symbol(node.path), c, py, px), why, window_max(*args))
