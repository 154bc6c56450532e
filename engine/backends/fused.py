"""The fused training step: a whole Dense/activation network in one kernel call.

``Sequential._loss_and_grad`` asks :class:`FusedSteps` for a step that fits the batch size and the
loss. A network qualifies when it is a row of ``Dense`` layers, each followed by at most one
element-wise activation (no dropout), and every activation buffer is at most the backend's
``fused_limit`` elements, or the batch is split into chunks, one per thread (``fused_chunks``;
then each thread runs forward, loss and the backward pass of δ on its chunk, its products on one
core, and after all the chunks each thread makes its share of the rows of every weight gradient:
one parallel region a step, where the layer-by-layer path hands each product to BLAS's threads
and waits for them; an Adam or SGD update goes into the same region, each thread updating the
rows it made). Other networks take the layer-by-layer path. Both paths compute the same
numbers (the tests hold them to float tolerance); the layer-by-layer path stays the reference,
and ``net.fuse = False`` selects it.

The fused kernel keeps its activations in its own workspace (feature-major, see
``engine.kernels.cpu.fused``): after a fused step the layers' own forward buffers are not
updated; ``net.last_output`` is, as after every step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.activations import IDENTITY
from engine.backends.base import Array, FusedWorkspace
from engine.layers.activations import Activation
from engine.layers.core import Dense, Layer
from engine.losses import LOSSES

LOSS_CODES = {"mse": 0, "huber": 1, "bce": 2, "bce_logits": 3, "cross_entropy": 4}
SMALL_PRODUCT = 1 << 15  # as ``cpu_fused.SMALL_PRODUCT``: below it, a layer skips BLAS
SYNC_SIZE = 40  # as ``cpu_chunks.SYNC_SIZE``: the split step's counters, a cache line each
MAX_STEPS = 8  # (batch size, loss) pairs kept; an epoch's last, smaller batch makes a second
MIN_CHUNK_WORK = 1 << 20
"""Multiply-adds of one sample's step times a chunk's samples below which a batch stays whole:
a small network's step takes microseconds, less than waking a second thread."""


def dense_groups(layers: list[Layer]) -> list[tuple[Dense, Activation | None]] | None:
    """The layers as (Dense, activation or None) pairs, or None if they are not such a row."""
    groups: list[tuple[Dense, Activation | None]] = []
    i = 0
    while i < len(layers):
        dense = layers[i]
        if not isinstance(dense, Dense):
            return None
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        act = nxt if isinstance(nxt, Activation) else None
        if act is not None and not act.definition.differentiable:
            return None  # the layer path raises the error that explains why
        groups.append((dense, act))
        i += 2 if act is not None else 1
    return groups


def activation_kinds(
    backend: Any, groups: list[tuple[Dense, Activation | None]], dtype: Any
) -> int:
    """The activation kinds the fused kernel meets in ``groups`` on ``dtype`` arrays, as the
    bitmask it is compiled for (``1 << kind`` each, the identity left out)."""
    kinds = {backend.kernel_activation(act.kind, dtype) for _, act in groups if act is not None}
    return sum(1 << int(kind) for kind in kinds - {IDENTITY})


def fused_chunks(net: Any, groups: list[tuple[Dense, Activation | None]], n: int) -> int:
    """How many chunks the fused step splits a batch of ``n`` into, one per thread
    (``backend.batch_chunks``): 1 where a chunk would have less than ``MIN_CHUNK_WORK``
    multiply-adds."""
    macs = sum(d.in_features * d.units for d, _ in groups)
    chunks = net.backend.batch_chunks(n)
    if n // chunks * macs < MIN_CHUNK_WORK:
        return 1
    return int(chunks)


class FusedStep:
    """Forward, loss and backward for one batch size and loss, as one backend call.

    Args:
        net: the network (a ``Sequential`` whose layers ``dense_groups`` accepts).
        groups: its layers as (Dense, activation) pairs.
        n: the batch size.
        loss: the loss name.
        chunks: how many chunks the batch splits into (one per thread; a divisor of ``n``);
            by default ``fused_chunks``'s choice.
    """

    def __init__(
        self,
        net: Any,
        groups: list[tuple[Dense, Activation | None]],
        n: int,
        loss: str,
        chunks: int | None = None,
    ) -> None:
        self.net, self.n, self.loss = net, n, loss
        self.loss_code = LOSS_CODES[loss]
        self.huber_delta = LOSSES[loss].delta
        backend, dtype = net.backend, net.dtype
        self.chunks = chunks = fused_chunks(net, groups, n) if chunks is None else chunks
        if chunks < 1 or n % chunks:
            raise ValueError(f"a batch of {n} does not split into {chunks} equal chunks")
        nc = n // chunks  # every chunk runs the same plan on nc samples, in a workspace of its own
        plan = np.zeros((len(groups), 8), dtype=np.int64)
        alphas = np.zeros(len(groups), dtype=np.float64)
        offset = 0
        for l, (dense, act) in enumerate(groups):
            i = net.layers.index(dense)
            size = nc * dense.units
            a_off = offset + size if act is not None else offset
            kind = backend.kernel_activation(act.kind, dtype) if act else IDENTITY
            W, b = net.offsets[f"{i}.W"], net.offsets[f"{i}.b"]
            plan[l, :7] = (dense.in_features, dense.units, W, b, offset, a_off, kind)
            alphas[l] = act.alpha if act is not None else 0.0
            offset = a_off + size
        if chunks > 1:  # each layer's δ kept for the weight gradients, made after every chunk
            for l, (dense, _) in enumerate(groups):
                plan[l, 7] = offset
                offset += nc * dense.units
        widest = max(d.units for d, _ in groups)
        width = groups[-1][0].units
        x_t = net.in_features * nc if nc * plan[0, 0] * plan[0, 1] < SMALL_PRODUCT else 0
        sizes = (nc * widest, nc * widest, nc * widest, x_t, nc * width, nc * width)  # SPOT_*
        spots = np.cumsum((offset, *sizes[:-1]), dtype=np.int64)
        self.plan = backend.from_host(plan, np.dtype(np.int64))
        self.alphas = backend.from_host(alphas, np.dtype(np.float64))
        self.spots = backend.from_host(spots, np.dtype(np.int64))
        out = coefs = hyper = no_state = sync = losses = None
        if chunks == 1:
            self.ws = backend.zeros((offset + sum(sizes),), dtype)
            self.output = self.ws[spots[4] : spots[4] + n * width].reshape(n, width)
        else:  # α = 1/C for every chunk's product; β = 0 for the first, 1 to add the others
            self.ws = backend.zeros((chunks, offset + sum(sizes)), dtype)
            self.output = out = backend.zeros((n, width), dtype)
            both = np.array([[1.0 / chunks, 0.0]] + [[1.0 / chunks, 1.0]] * (chunks - 1))
            coefs = backend.from_host(both, dtype)
            hyper = np.zeros(8, dtype=np.float64)  # no update until an optimiser fills it
            no_state = backend.zeros((1,), dtype)  # what m and v are then: never read
            sync = backend.zeros((SYNC_SIZE,), np.dtype(np.int64))
            losses = backend.zeros((chunks,), np.dtype(np.float64))
        self.updated = False
        """Whether the last ``run`` also took the optimiser's update (see ``run``)."""
        self._no_update = (no_state, no_state)  # m and v of a step without an update
        self._no_y = backend.zeros((1, width), dtype)  # placeholders the kernel never reads
        self._no_labels = backend.zeros((1,), np.dtype(np.int64))
        kinds = activation_kinds(backend, groups, dtype)
        self.workspace = FusedWorkspace(
            net.data, net.grad, self.ws, self.plan, self.alphas, self.spots,
            self.loss_code, self.huber_delta, out, coefs, kinds, no_state, no_state, hyper,
            sync, losses,
        )  # fmt: skip

    def run(self, x: Array, y: Array, then: Any = None) -> float:
        """The mean loss of the batch; fills the network's gradient buffer and ``output``.

        ``then``: an optimiser whose next update a batch split into chunks takes in the same
        call where the optimiser allows it (``Optimizer.fused_update``), each thread updating
        the rows of the gradient it just made; ``updated`` says whether it did. A loss that is
        not finite takes no update: the step is then not taken, as ``Trainer`` would not.
        """
        net, w = self.net, self.workspace
        if self.loss_code == LOSS_CODES["cross_entropy"]:
            y_float, labels = self._no_y, y
        else:
            y_float, labels = y, self._no_labels
        state = None
        if w.hyper is not None:
            w.hyper[0] = 0.0
            state = then.fused_update(w.hyper) if then is not None else None
        if state is not None:
            w.m, w.v = state
        value = net.backend.fused_loss_and_grad(x, y_float, labels, w)
        if state is not None:  # an optimiser replaced later must not be kept alive by this step
            w.m, w.v = self._no_update
        self.updated = state is not None and math.isfinite(value)
        if self.updated:
            then.took_step()
        return value


class FusedSteps:
    """The fused steps of one network, made on first use per (batch size, loss)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.groups = dense_groups(net.layers)
        self.widest = max([d.units for d, _ in self.groups or []], default=0)
        self._steps: dict[tuple[int, str], FusedStep | None] = {}

    def get(self, n: int, loss: str) -> FusedStep | None:
        """The step for a batch of ``n`` rows and ``loss``, or None where fusion does not apply."""
        key = (n, loss)
        if key in self._steps:
            return self._steps[key]
        made = None
        if self.groups is not None and (
            n * self.widest <= self.net.backend.fused_limit
            or fused_chunks(self.net, self.groups, n) > 1  # split: whatever the size
        ):
            made = FusedStep(self.net, self.groups, n, loss)
        if len(self._steps) >= MAX_STEPS:
            self._steps.clear()
        self._steps[key] = made
        return made
