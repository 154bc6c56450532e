"""``derive`` itself: from a live network and a sample to a ``Derivation``, for any network.

One entry point for both pipelines: a stack of Dense, activation and Dropout layers is derived
unit by unit (``derive.stack``), any other network layer by layer (``derive.layers``); both end
with the optimiser's update (``derive.update``) on the gradient they derived.
"""

from __future__ import annotations

from typing import Any

from derive import update
from derive.batch import batch_gradient
from derive.layers.build import derive_layers
from derive.layers.param import is_plain_mlp
from derive.stack.pipeline import derive_stack
from derive.steps import Derivation, evaluate
from engine.errors import UserError
from engine.losses import check_loss
from engine.network import Sequential

VIEWS = ("index", "vector")


def derive(
    net: Sequential,
    x: Any,
    y: Any,
    loss: str = "mse",
    param: str = "0.W[0,0]",
    *,
    view: str = "index",
    sample: int = 0,
    l1: float = 0.0,
    l2: float = 0.0,
    optimizer: Any = None,
    lr: float = 0.01,
    batch: tuple[Any, Any] | None = None,
    direct: bool | None = None,
) -> Derivation:
    """Derives ∂L/∂``param`` for the batch ``x``, ``y``, every chain-rule factor shown.

    Args:
        net: the network, as it is now (its weights and last dropout masks are read, not changed).
        x, y: one sample or a batch; the gradient is the batch mean, as the engine's.
        loss: the loss name; ``l1``, ``l2``: penalty rates, as ``net.loss_and_grad`` takes them.
        param: which scalar, e.g. ``"2.W[0,1]"`` (``"2.b[0]"`` for a bias), ``"0.W[1,0,2,2]"``
            for a convolution's kernel, ``"1.0.W_hh[3,2]"`` inside a residual block.
        view: "index" (per weight, over its paths; a layer of more than eight units on them
            is one unit written out, then one step for all its units) or "vector" (layer by
            layer, δˡ vectors).
            Networks with other layers than Dense, activations and Dropout (convolutions,
            pooling, normalisation, recurrent layers, attention, residual blocks) have one view,
            "layer": the δ arriving at the parameter's layer as the engine's backward computes
            it, then the layer's own gradient in its own terms (``derive.layers``).
        sample: which sample of the batch has its terms shown.
        optimizer: an ``engine.optim`` optimiser whose next update is shown with its state;
            None shows plain gradient descent with ``lr``.
        batch: the mini-batch (x, y) the optimiser's step trains on, when it is not ``x``, ``y``
            (the sample shown lies in another batch): the update then steps along the engine's
            gradient over ``batch``. None: ``x``, ``y`` are that batch, and their mean is used.
        direct: also differentiate the whole loss with SymPy (default: for tiny networks).
    """
    check_loss(loss)
    if view not in VIEWS:
        raise UserError(f"unknown view {view!r}", "use 'index' or 'vector'")
    if is_plain_mlp(net):
        part = derive_stack(net, x, y, loss, param, view, sample, l1, l2, direct)
    else:
        part = derive_layers(net, x, y, loss, param, sample=sample, l1=l1, l2=l2)
    value = float(part.steps[-1].value)
    grad = None if batch is None else batch_gradient(net, batch, loss, l1, l2, part.ref.flat)
    update_specs, numbers = update.build(part, part.steps[-1].lhs, optimizer, lr, grad)
    part.numbers.update(numbers)
    steps = part.steps + evaluate(update_specs, part.numbers)
    return Derivation(
        param=part.ref,
        symbol=part.theta,
        loss=loss,
        view=part.view,
        network=part.network,
        sample=sample,
        n_samples=part.n,
        x=part.x,
        y=part.y,
        steps=tuple(steps),
        value=value,
        check=part.check,
        optimizer=repr(optimizer) if optimizer is not None else f"gradient descent (lr={lr:g})",
    )
