"""The optimiser base class and registry: what every optimiser shares.

Each optimiser keeps its state (momentum buffers, moment estimates) as flat arrays the size of the
parameter buffer and updates everything with one kernel call per step. ``lr`` can be changed
between steps (the app's ``+``/``-`` keys do).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from engine.errors import UserError
from engine.network import Sequential

__all__ = ["OPTIMIZERS", "Optimizer", "clip_grad_norm", "create"]


class Optimizer:
    """Common part: the network, the learning rate, the step count and the state buffers.

    A subclass is one optimiser, whole: its hyper-parameters, its state buffers, the name of its
    update kernel (``kernel``: a function of that name in ``engine.kernels.cpu.optim`` with a
    ``_par`` twin, and one in ``engine.kernels.cuda.optim``), the kernel's arguments after the
    parameters and gradients (``kernel_args``), and the same update written out symbolically for
    one entry (``derivation``, which ``derive.update`` runs). Defining the class registers it in
    ``OPTIMIZERS`` under ``name``.
    """

    name = "optimizer"
    kernel = ""
    state_names: tuple[str, ...] = ()
    state_symbols: ClassVar[dict[str, str]] = {}
    """How a derivation names each state buffer: {"exp_avg": "m"} prints mₜ₋₁."""
    decoupled = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            OPTIMIZERS[cls.name] = cls

    def __init__(self, net: Sequential, lr: float, weight_decay: float = 0.0) -> None:
        if not lr > 0 or not math.isfinite(lr):
            raise UserError(f"learning rate {lr} is not a positive number", "use e.g. lr=0.01")
        if weight_decay < 0:
            raise UserError(
                f"weight_decay {weight_decay} is negative", "use 0 or a small positive rate"
            )
        self.net = net
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.t = 0
        self.state = {k: net.backend.zeros(net.data.shape, net.dtype) for k in self.state_names}

    def step(self) -> None:
        """Applies one update from ``net.grad`` to ``net.data``; frozen layers keep their values."""
        self.t += 1
        net = self.net
        frozen = net.frozen_ranges
        kept = [net.data[a:b].copy() for a, b in frozen] if frozen else None
        args = self.kernel_args()
        net.backend.optimizer_step(self.kernel, net.data, net.grad, *args, threads=net.on_threads)
        if kept is not None:
            for (a, b), values in zip(frozen, kept, strict=True):
                net.data[a:b] = values

    def kernel_args(self) -> tuple[Any, ...]:
        """The update kernel's arguments after (parameters, gradients), for step ``self.t``."""
        raise NotImplementedError

    def fused_update(self, hyper: np.ndarray) -> tuple[Any, Any] | None:
        """Where a split fused step may take this optimiser's next update in its own call
        (``engine.kernels.cpu.chunks.update_rows``): fills ``hyper`` and returns the state
        buffers the kernel updates (m, v); None where it cannot (this optimiser's rule, frozen
        layers), and :meth:`step` then follows the gradient as usual. The step counts
        (``t``) once the call says it took it (:meth:`took_step`)."""
        return None

    def took_step(self) -> None:
        """A fused step took this optimiser's update (``fused_update``)."""
        self.t += 1

    def derivation(self, S: Any) -> None:
        """The update of one entry, written out with ``derive.update``'s vocabulary ``S``.

        ``S.theta`` is the parameter before the step, ``S.g`` its gradient (weight decay
        included), ``S.eta`` the learning rate, ``S.t`` the step; ``S.number(base, value, *sub)``
        a hyper-parameter, ``S.prev``/``S.now`` a state at t − 1 / t, ``S.symbol`` a plain one,
        ``S.count`` the step as an int; ``S.add``, ``S.sub``,
        ``S.mul``, ``S.div``, ``S.power``, ``S.sqrt`` keep terms in the order written;
        ``S.assign(lhs, expr, key, text, latex)`` adds a step and ``S.update(expr, key, text,
        latex)`` the final θₜ. SymPy stays out of ``engine``: only ``derive`` calls this.
        """
        raise NotImplementedError

    def zero_grad(self) -> None:
        self.net.zero_grad()

    def hyper(self) -> dict[str, Any]:
        """The hyper-parameters, as a config would spell them."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, **self.hyper()}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(self.net.backend.to_host(v)) for k, v in self.state.items()}

    def load_state_dict(self, arrays: dict[str, np.ndarray], t: int) -> None:
        for k, v in self.state.items():
            if k not in arrays or arrays[k].shape != v.shape:
                raise UserError(
                    f"optimiser state {k!r} is missing or has the wrong size",
                    "resume with the same network and optimiser as the run",
                )
            v[...] = arrays[k]
        self.t = int(t)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.hyper().items())
        return f"{type(self).__name__}({args})"


OPTIMIZERS: dict[str, type[Optimizer]] = {}
"""Every optimiser by its config name, filled as the classes below are defined."""


def create(name: str, net: Sequential, **hyper: Any) -> Optimizer:
    """The optimiser called ``name`` (one of ``OPTIMIZERS``) for ``net``."""
    cls = OPTIMIZERS.get(name.lower())
    if cls is None:
        raise UserError(f"unknown optimizer {name!r}", f"choose one of: {', '.join(OPTIMIZERS)}")
    try:
        return cls(net, **hyper)
    except TypeError as exc:
        raise UserError(f"optimizer {name!r}: {exc}", "check the optimizer's settings") from None


def clip_grad_norm(net: Sequential, max_norm: float) -> float:
    """Scales ``net.grad`` so its global L2 norm is at most ``max_norm`` (PyTorch's rule).

    Returns the norm before clipping.
    """
    norm = math.sqrt(net.backend.sum_squares(net.grad))
    coef = max_norm / (norm + 1e-6)
    if coef < 1.0:
        net.backend.scale(net.grad, coef)
    return norm
