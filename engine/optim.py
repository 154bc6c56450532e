"""Optimisers over the network's flat parameter buffer, with PyTorch's update rules and defaults.

Each optimiser keeps its state (momentum buffers, moment estimates) as flat arrays the size of the
parameter buffer and updates everything with one kernel call per step. ``lr`` can be changed
between steps (the app's ``+``/``-`` keys do).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.network import Sequential


class Optimizer:
    """Common part: the network, the learning rate, the step count and the state buffers."""

    name = "optimizer"
    state_names: tuple[str, ...] = ()

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
        frozen = self.net.frozen_ranges
        kept = [self.net.data[a:b].copy() for a, b in frozen]
        self._update()
        for (a, b), values in zip(frozen, kept, strict=True):
            self.net.data[a:b] = values

    def _update(self) -> None:
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


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``."""

    name = "sgd"
    state_names = ("momentum_buffer",)

    def __init__(
        self,
        net: Sequential,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(net, lr, weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise UserError(
                "Nesterov momentum needs momentum > 0 and dampening = 0",
                "set momentum (e.g. 0.9) and leave dampening at 0",
            )
        self.momentum, self.dampening, self.nesterov = float(momentum), float(dampening), nesterov

    def _update(self) -> None:
        net = self.net
        net.backend.sgd_step(
            net.data,
            net.grad,
            self.state["momentum_buffer"],
            self.lr,
            self.momentum,
            self.dampening,
            self.nesterov,
            self.weight_decay,
            self.t == 1,
        )

    def hyper(self) -> dict[str, Any]:
        return {
            **super().hyper(),
            "momentum": self.momentum,
            "dampening": self.dampening,
            "nesterov": self.nesterov,
        }


class Adam(Optimizer):
    """Adam with bias correction (``torch.optim.Adam``; weight decay as an L2 term in g)."""

    name = "adam"
    state_names = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(
        self,
        net: Sequential,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(net, lr, weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)

    def _update(self) -> None:
        net, (b1, b2) = self.net, self.betas
        net.backend.adam_step(
            net.data,
            net.grad,
            self.state["exp_avg"],
            self.state["exp_avg_sq"],
            self.lr,
            b1,
            b2,
            self.eps,
            self.weight_decay,
            self.decoupled,
            float(self.t),
        )

    def hyper(self) -> dict[str, Any]:
        return {**super().hyper(), "betas": list(self.betas), "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``: p ← p(1 − lr·λ) before the step)."""

    name = "adamw"
    decoupled = True

    def __init__(
        self,
        net: Sequential,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(net, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``), optionally centred and with momentum."""

    name = "rmsprop"
    state_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(
        self,
        net: Sequential,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(net, lr, weight_decay)
        self.alpha, self.eps, self.momentum, self.centered = (
            float(alpha),
            float(eps),
            float(momentum),
            centered,
        )

    def _update(self) -> None:
        net, s = self.net, self.state
        net.backend.rmsprop_step(
            net.data,
            net.grad,
            s["square_avg"],
            s["grad_avg"],
            s["momentum_buffer"],
            self.lr,
            self.alpha,
            self.eps,
            self.weight_decay,
            self.momentum,
            self.centered,
        )

    def hyper(self) -> dict[str, Any]:
        return {
            **super().hyper(),
            "alpha": self.alpha,
            "eps": self.eps,
            "momentum": self.momentum,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``) with learning-rate decay and initial accumulator."""

    name = "adagrad"
    state_names = ("sum",)

    def __init__(
        self,
        net: Sequential,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(net, lr, weight_decay)
        self.lr_decay, self.eps = float(lr_decay), float(eps)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.state["sum"][...] = self.initial_accumulator_value

    def _update(self) -> None:
        clr = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        net = self.net
        net.backend.adagrad_step(
            net.data, net.grad, self.state["sum"], clr, self.eps, self.weight_decay
        )

    def hyper(self) -> dict[str, Any]:
        return {
            **super().hyper(),
            "lr_decay": self.lr_decay,
            "eps": self.eps,
            "initial_accumulator_value": self.initial_accumulator_value,
        }


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)
}


def create(name: str, net: Sequential, **hyper: Any) -> Optimizer:
    """The optimiser called ``name`` (sgd, adam, adamw, rmsprop, adagrad) for ``net``."""
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
