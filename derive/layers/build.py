"""``derive`` for networks with more than Dense stacks: one parameter's gradient, layer by layer.

The steps: every layer's output for the shown sample; the batch's loss; ∂L̄/∂ŷ; the way back down
to the parameter's layer (the δ the engine's backward computes, with the worthwhile layers —
max-pooling, activations, normalisation, residual blocks — written out for one entry); the
layer's own gradient in its own terms, with numbers (its derivation's ``local``); the other
samples and the penalty. ``derive.derive`` adds the optimiser's update. The last value is the
engine's gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from derive.activations import no_gradient
from derive.layers import chain
from derive.layers.derivations import derivation
from derive.layers.layer_context import LayerContext, Local, tail
from derive.layers.layer_tape import LayerTape, run_layer_tape
from derive.layers.param import describe_network, parse_layer_param
from derive.steps import Derived, evaluate
from engine.errors import UserError
from engine.network import Sequential


def derive_layers(
    net: Sequential,
    x: Any,
    y: Any,
    loss: str,
    param: str,
    *,
    sample: int = 0,
    l1: float = 0.0,
    l2: float = 0.0,
) -> Derived:
    """Forward, loss and backward steps of ∂L̄/∂``param`` of any network the engine builds
    (see ``derive.derive``, which adds the update)."""
    ref = parse_layer_param(net, param)
    tape = _tape(net, x, y, loss, l1, l2, sample)
    if ref.path not in tape.grad_out and tape.stopped is not None:
        where = f" (layer {tape.stopped.sup}, between {ref.text} and the loss)"
        raise no_gradient(tape.stopped.layer.function, where)
    ctx = LayerContext(tape, ref, sample, loss, float(l1), float(l2))
    local = _local(ctx)
    specs = chain.forward(ctx, local.forward) + chain.loss_steps(ctx)
    specs += [chain.output_grad(ctx), *chain.backward(ctx), *local.backward]
    specs += tail(ctx, local.batch_done)
    steps = evaluate(specs, ctx.numbers)
    ctx.numbers.put(ctx.theta, float(ctx.tape.net.params[ref.name][ref.index]))
    return Derived(
        ref=ref,
        theta=ctx.theta,
        steps=steps,
        numbers=ctx.numbers,
        view="layer",
        network=describe_network(net),
        n=tape.n,
        x=tape.x[sample],
        y=np.asarray(tape.targets).reshape(tape.n, -1)[sample],
    )


def _tape(
    net: Sequential, x: Any, y: Any, loss: str, l1: float, l2: float, sample: int
) -> LayerTape:
    """The engine's pass, or a message that names the input that does not fit."""
    try:
        tape = run_layer_tape(net, x, y, loss, l1, l2)
    except ValueError as exc:
        shape = "×".join(str(s) for s in net.input_shape)
        raise UserError(
            f"the input or targets do not fit: {exc}",
            f"give samples of shape {shape} (or flat rows of {net.in_features}), one target each",
        ) from None
    if not 0 <= sample < tape.n:
        raise UserError(
            f"sample {sample} is outside the batch of {tape.n}", f"use 0 to {tape.n - 1}"
        )
    return tape


def _local(ctx: LayerContext) -> Local:
    """The steps of the parameter's own gradient, from its layer type's derivation."""
    build = derivation(ctx.ref.layer_type).local
    if build is None:
        raise ValueError(f"layer type {ctx.ref.layer_type} has no parameters to derive")
    return build(ctx)
