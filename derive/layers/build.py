"""``derive`` for networks with more than Dense stacks: one parameter's gradient, layer by layer.

The steps: every layer's output for the shown sample; the batch's loss; ∂L̄/∂ŷ; the way back down
to the parameter's layer (the δ the engine's backward computes, with the worthwhile layers —
max-pooling, activations, normalisation, residual blocks — written out for one entry); the
layer's own gradient in its own terms, with numbers (its derivation's ``local``); the other
samples and the penalty; the optimiser's update. The value at the end is the engine's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from derive import update
from derive.batch import BatchGradient, batch_gradient
from derive.layers import chain
from derive.layers.common import LayerContext, Local, tail
from derive.layers.derivations import derivation
from derive.layers.param import LayerParam, describe_network, parse_layer_param
from derive.layers.tape import LayerTape, run_layer_tape
from derive.steps import Derivation, Step, evaluate
from engine.errors import UserError
from engine.network import Sequential


@dataclass(frozen=True)
class _Target:
    """What the optimiser's update steps need to know about the parameter."""

    theta: sp.Symbol
    ref: LayerParam


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
    optimizer: Any = None,
    lr: float = 0.01,
    batch: tuple[Any, Any] | None = None,
) -> Derivation:
    """∂L̄/∂``param`` of any network the engine builds (see ``derive.derive``)."""
    ref = parse_layer_param(net, param)
    tape = _tape(net, x, y, loss, l1, l2, sample)
    ctx = LayerContext(tape, ref, sample, loss, float(l1), float(l2))
    grad = None if batch is None else batch_gradient(net, batch, loss, l1, l2, ref.flat)
    steps = _steps(ctx, optimizer, lr, grad)
    targets = np.asarray(tape.targets).reshape(tape.n, -1)[sample]
    return Derivation(
        param=ref,
        symbol=ctx.theta,
        loss=loss,
        view="layer",
        network=describe_network(net),
        sample=sample,
        n_samples=tape.n,
        x=tape.x[sample],
        y=targets,
        steps=tuple(steps),
        value=_value(steps),
        check=None,
        optimizer=repr(optimizer) if optimizer is not None else f"gradient descent (lr={lr:g})",
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


def _steps(ctx: LayerContext, optimizer: Any, lr: float, batch: BatchGradient | None) -> list[Step]:
    """Build the steps (symbols, rules), then evaluate them in order with the numbers."""
    local = _local(ctx)
    specs = chain.forward(ctx, local.forward) + chain.loss_steps(ctx)
    specs += [chain.output_grad(ctx), *chain.backward(ctx), *local.backward]
    specs += tail(ctx, local.batch_done)
    steps = evaluate(specs, ctx.numbers)
    ctx.numbers.put(ctx.theta, float(ctx.tape.net.params[ctx.ref.name][ctx.ref.index]))
    target = _Target(ctx.theta, ctx.ref)
    update_specs, numbers = update.build(target, steps[-1].lhs, optimizer, lr, batch)
    ctx.numbers.update(numbers)
    return steps + evaluate(update_specs, ctx.numbers)


def _local(ctx: LayerContext) -> Local:
    """The steps of the parameter's own gradient, from its layer type's derivation."""
    build = derivation(ctx.ref.layer_type).local
    if build is None:
        raise ValueError(f"layer type {ctx.ref.layer_type} has no parameters to derive")
    return build(ctx)


def _value(steps: list[Step]) -> float:
    """The gradient: the last step of the backward pass."""
    return float([s for s in steps if s.part == "backward"][-1].value)
