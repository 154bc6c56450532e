"""The parts of a layer derivation around the parameter's own layer.

The forward pass, one line per layer with the shown sample's output; the loss; then the way back
from ∂L̄/∂ŷ down to the parameter's layer, one layer at a time, as the engine's backward computes
it. Where a layer does something worth seeing, a step writes it out for its largest entry with
numbers (``derive.layers.entries``); a residual block shows its inner layers, then its identity
term plus its block term.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.activations import apply, sigmoid
from derive.expr import add, div, mul, sub
from derive.functions import huber_grad
from derive.layers import entries
from derive.layers.derivations import derivation
from derive.layers.layer_context import LayerContext, entry, given, grad
from derive.layers.layer_rules import rule
from derive.layers.param import Node, describe_layer, input_symbol, nodes, output_symbol
from derive.layers.phrases import LOSS_GRADS, LOSS_NAMES
from derive.notation import prime, sym
from derive.steps import StepSpec
from engine.losses import LOSSES


def forward(ctx: LayerContext, local: list[StepSpec]) -> list[StepSpec]:
    """Every layer's output for the shown sample; the parameter's layer followed by ``local``."""
    return _forward(ctx, nodes(ctx.tape.net), local)


def _forward(ctx: LayerContext, items: list[Node], local: list[StepSpec]) -> list[StepSpec]:
    specs: list[StepSpec] = []
    for node in items:
        if node.children:
            specs += _forward(ctx, node.children, local)
            general = add(input_symbol(node.path), output_symbol(node.children[-1].path))
            why = rule("residual_forward")
        else:
            general = formula(ctx, node)
            why = rule("layer_forward", label=node.sup, what=describe_layer(node.layer))
        value = ctx.tape.outputs[node.path][ctx.s]
        specs.append(given("forward", output_symbol(node.path), why, general, value))
        if node.path == ctx.ref.path:
            specs += local
    return specs


def formula(ctx: LayerContext, node: Node) -> sp.Basic:
    """A layer's output in symbols, as a function of its input (and its parameter arrays)."""
    inp, layer = input_symbol(node.path), node.layer
    if hasattr(layer, "function"):
        return apply(layer.function, inp, layer.alpha)
    if node.kind == "Dropout":
        masked = ctx.tape.masks.get(node.path) is not None
        return mul(sym("m", node.sup), inp) if masked else inp
    args = [sym(k, node.sup) for k in node.param_names(ctx.tape.net)]
    return sp.Function(derivation(node.kind).name or node.kind)(inp, *args)


# --------------------------------------------------------------------------- the loss


def loss_steps(ctx: LayerContext) -> list[StepSpec]:
    """L̄, the batch's mean loss, with the engine's value."""
    out = ctx.tape.output
    i = sp.Symbol("i", integer=True)
    yh, y = sym("yhat", None, "i"), sym("y", None, "i")
    if ctx.loss == "cross_entropy":
        count, what = out.size // out.shape[-1], "positions" if out.ndim > 2 else "samples"
        log_p = sp.log(sym("p", None, "i"), evaluate=False)
        general = mul(sp.Rational(-1, count), sp.Sum(log_p, (i, 0, count - 1)))
    else:
        count, what = out.size, "outputs"
        bce = -(y * sp.log(yh) + (1 - y) * sp.log(1 - yh))
        terms = {"mse": (yh - y) ** 2, "huber": sp.Function("h")(yh - y), "bce": bce}
        term = terms.get(ctx.loss, bce)
        general = mul(sp.Rational(1, count), sp.Sum(term, (i, 0, count - 1)))
    why = rule("loss_mean", name=LOSS_NAMES[ctx.loss], count=count, what=what)
    return [given("loss", sym("Lbar"), why, general, ctx.tape.loss_value)]


def output_grad(ctx: LayerContext) -> StepSpec:
    """∂L̄/∂ŷ (∂L̄/∂z for the losses that take logits) of the shown sample."""
    out = ctx.tape.output
    last = output_symbol((len(ctx.tape.net.layers) - 1,))
    y = sym("y")
    count = out.size // out.shape[-1] if ctx.loss == "cross_entropy" else out.size
    c = sp.Rational(1, count)
    delta = sp.Float(LOSSES["huber"].delta)
    forms = {
        "mse": lambda: div(mul(sp.Integer(2), sub(last, y)), sp.Integer(count)),
        "huber": lambda: mul(c, huber_grad(sub(last, y), delta, evaluate=False)),
        "bce": lambda: mul(c, div(sub(last, y), mul(last, sub(1, last)))),
        "bce_logits": lambda: mul(c, sub(sigmoid(last), y)),
        "cross_entropy": lambda: mul(c, sub(sp.Function("softmax")(last), y)),
    }
    text, tex = LOSS_GRADS[ctx.loss]
    why = rule("loss_grad", formula=(f"{text}, M = {count}", f"{tex}, $M = {count}$"))
    return given("backward", grad(last), why, forms[ctx.loss](), ctx.tape.loss_grad[ctx.s])


# --------------------------------------------------------------------------- back down the layers


def backward(ctx: LayerContext) -> list[StepSpec]:
    """From the network's output down to the parameter's layer."""
    return _down(ctx, nodes(ctx.tape.net), ctx.ref.path)


def _down(ctx: LayerContext, items: list[Node], target: tuple[int, ...]) -> list[StepSpec]:
    k = target[len(items[0].path) - 1]
    specs: list[StepSpec] = []
    for node in reversed(items[k + 1 :]):
        specs += through(ctx, node)
    block = items[k]
    if block.path == target:
        return specs
    last = block.children[-1]
    why = rule("into_residual", label=block.sup)
    value = ctx.tape.grad_out[last.path][ctx.s]
    lhs, general = grad(output_symbol(last.path)), grad(output_symbol(block.path))
    specs.append(given("backward", lhs, why, general, value))
    return specs + _down(ctx, block.children, target)


def through(ctx: LayerContext, node: Node, lhs: sp.Symbol | None = None) -> list[StepSpec]:
    """∂L̄/∂(the layer's input) from ∂L̄/∂(its output): its largest entry written out, then the
    whole array (named ``lhs`` when given: a residual block's inner layers end in its block
    term)."""
    inp, out = input_symbol(node.path), output_symbol(node.path)
    value = ctx.tape.grad_in[node.path]
    assert value is not None
    e = tuple(int(i) for i in np.unravel_index(np.abs(value[ctx.s]).argmax(), value[ctx.s].shape))

    def target(*i: int) -> sp.Symbol:
        return entry(lhs, *i) if lhs is not None else grad(inp, *i)

    if node.kind == "Residual":
        specs = _residual(ctx, node, e, target)
    else:
        specs = entries.entry_steps(ctx, node, e, target)
    how = derivation(node.kind).how
    why = rule("through", label=node.sup, what=describe_layer(node.layer), how=how)
    general = _through_general(ctx, node, inp, out)
    return [*specs, given("backward", lhs or grad(inp), why, general, value[ctx.s])]


def _through_general(ctx: LayerContext, node: Node, inp: sp.Symbol, out: sp.Symbol) -> sp.Basic:
    if node.kind == "Residual":
        return add(grad(out), sym("blockterm"))
    if hasattr(node.layer, "function"):
        return mul(grad(out), prime(node.layer.function, inp))
    if node.kind == "Dropout" and ctx.tape.masks.get(node.path) is not None:
        return mul(grad(out), sym("m", node.sup))
    if node.kind == "Dense":
        return mul(grad(out), sym("W", node.sup))
    back = derivation(node.kind).back
    if back is not None:
        return sp.Function(back)(grad(out))
    return grad(out)


def _residual(
    ctx: LayerContext, node: Node, e: tuple[int, ...], target: entries.At
) -> list[StepSpec]:
    """The block term through the inner layers, then identity term + block term for one entry."""
    out = output_symbol(node.path)
    g = ctx.tape.grad_out[node.path]
    identity = ctx.numbers.put(grad(out, *e), g[(ctx.s, *e)])
    inner = ctx.tape.grad_in[node.children[0].path]
    assert inner is not None
    block = ctx.numbers.put(entry(sym("blockterm"), *e), inner[(ctx.s, *e)])
    last = grad(output_symbol(node.children[-1].path))
    specs = [given("backward", last, rule("residual_block"), grad(out), g[ctx.s])]
    first = node.children[0].path
    for child in reversed(node.children):
        specs += through(ctx, child, sym("blockterm") if child.path == first else None)
    why = entries.example(node, rule("residual_sum"))
    return [*specs, StepSpec("backward", target(*e), why, add(identity, block))]
