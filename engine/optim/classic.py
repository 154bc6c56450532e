"""Gradient descent with momentum, RMSprop and Adagrad, as ``torch.optim`` defines them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from engine.errors import UserError
from engine.kernels.cpu.chunks import SGD as SGD_UPDATE
from engine.network import Sequential
from engine.optim.base import Optimizer

__all__ = ["SGD", "Adagrad", "RMSprop"]


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

    kernel = "sgd_step"
    state_symbols: ClassVar[dict[str, str]] = {"momentum_buffer": "b"}

    def kernel_args(self) -> tuple[Any, ...]:
        return (
            self.state["momentum_buffer"],
            self.lr,
            self.momentum,
            self.dampening,
            self.nesterov,
            self.weight_decay,
            self.t == 1,
        )

    def fused_update(self, hyper: np.ndarray) -> tuple[Any, Any] | None:
        """SGD's next update in a split fused step: ``sgd_step``'s arguments in ``hyper``."""
        if self.net.frozen_ranges:
            return None
        hyper[0] = SGD_UPDATE  # one by one: packing them into a tuple first would allocate it
        hyper[1] = self.lr
        hyper[2] = self.momentum
        hyper[3] = self.dampening
        hyper[4] = self.nesterov
        hyper[5] = self.weight_decay
        hyper[6] = self.t == 0  # the step about to be taken is the first
        buffer = self.state["momentum_buffer"]
        return buffer, buffer

    def derivation(self, S: Any) -> None:
        if not self.momentum:
            S.update(
                S.sub(S.theta, S.mul(S.eta, S.g)),
                "sgd",
                "gradient descent: θₜ = θₜ₋₁ − η gₜ",
                r"gradient descent: $\theta_t = \theta_{t-1} - \eta g_t$",
            )
            return
        mu, tau, b = S.number("mu", self.momentum), S.number("tau", self.dampening), S.now("b")
        fresh = S.g if not self.dampening else S.mul(S.sub(1, tau), S.g)
        S.assign(
            b,
            S.g if S.count == 1 else S.add(S.mul(mu, S.prev("b")), fresh),
            "sgd_buffer",
            "momentum buffer: bₜ = μ bₜ₋₁ + (1 − τ) gₜ (b₁ = g₁ at the first step)",
            r"momentum buffer: $b_t = \mu b_{t-1} + (1-\tau) g_t$ ($b_1 = g_1$ at the first step)",
        )
        if not self.nesterov:
            S.update(
                S.sub(S.theta, S.mul(S.eta, b)),
                "sgd_step",
                "a step along the momentum buffer: θₜ = θₜ₋₁ − η bₜ",
                r"a step along the momentum buffer: $\theta_t = \theta_{t-1} - \eta b_t$",
            )
            return
        direction = S.now("Delta")
        S.assign(
            direction,
            S.add(S.g, S.mul(mu, b)),
            "sgd_direction",
            "the step direction: bₜ (momentum) or gₜ + μ bₜ (Nesterov)",
            r"the step direction: $b_t$ (momentum) or $g_t + \mu b_t$ (Nesterov)",
        )
        S.update(
            S.sub(S.theta, S.mul(S.eta, direction)),
            "sgd_step_nesterov",
            "a step along the Nesterov direction: θₜ = θₜ₋₁ − η Δₜ",
            r"a step along the Nesterov direction: $\theta_t = \theta_{t-1} - \eta \Delta_t$",
        )

    def hyper(self) -> dict[str, Any]:
        return {
            **super().hyper(),
            "momentum": self.momentum,
            "dampening": self.dampening,
            "nesterov": self.nesterov,
        }


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

    kernel = "rmsprop_step"
    state_symbols: ClassVar[dict[str, str]] = {
        "square_avg": "s",
        "grad_avg": "gbar",
        "momentum_buffer": "b",
    }

    def kernel_args(self) -> tuple[Any, ...]:
        s = self.state
        sq, gavg, buf = s["square_avg"], s["grad_avg"], s["momentum_buffer"]
        hyper = (self.lr, self.alpha, self.eps, self.weight_decay, self.momentum, self.centered)
        return sq, gavg, buf, *hyper

    def derivation(self, S: Any) -> None:
        alpha, eps, s = S.number("alpha", self.alpha), S.number("epsilon", self.eps), S.now("s")
        S.assign(
            s,
            S.add(S.mul(alpha, S.prev("s")), S.mul(S.sub(1, alpha), S.power(S.g, 2))),
            "rms_s",
            "running mean of g²: sₜ = αsₜ₋₁ + (1 − α)gₜ²",
            r"running mean of $g^2$: $s_t = \alpha s_{t-1} + (1-\alpha) g_t^2$",
        )
        radicand = s
        if self.centered:
            gbar = S.now("gbar")
            S.assign(
                gbar,
                S.add(S.mul(alpha, S.prev("gbar")), S.mul(S.sub(1, alpha), S.g)),
                "rms_gbar",
                "centred: running mean of g, ḡₜ = αḡₜ₋₁ + (1 − α)gₜ",
                r"centred: running mean of $g$, $\bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t$",
            )
            radicand = S.sub(s, S.power(gbar, 2))
        direction = S.div(S.g, S.add(S.sqrt(radicand), eps))
        if self.momentum:
            mu, b = S.number("mu", self.momentum), S.now("b")
            S.assign(
                b,
                S.add(S.mul(mu, S.prev("b")), direction),
                "rms_buffer",
                "momentum buffer of the scaled gradient: bₜ = μbₜ₋₁ + gₜ/(√sₜ + ε)",
                r"momentum buffer of the scaled gradient: $b_t = \mu b_{t-1} + g_t/(\sqrt{s_t}"
                r" + \varepsilon)$",
            )
            direction = b
        S.update(
            S.sub(S.theta, S.mul(S.eta, direction)),
            "rms_step",
            "θₜ = θₜ₋₁ − η gₜ/(√sₜ + ε) (centred: √(sₜ − ḡₜ²); momentum: − η bₜ)",
            r"$\theta_t = \theta_{t-1} - \eta g_t/(\sqrt{s_t} + \varepsilon)$ (centred: "
            r"$\sqrt{s_t - \bar g_t^2}$; momentum: $-\eta b_t$)",
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

    kernel = "adagrad_step"
    state_symbols: ClassVar[dict[str, str]] = {"sum": "G"}

    def kernel_args(self) -> tuple[Any, ...]:
        clr = self.lr / (1.0 + (self.t - 1) * self.lr_decay)
        return self.state["sum"], clr, self.eps, self.weight_decay

    def derivation(self, S: Any) -> None:
        eps, rate = S.number("epsilon", self.eps), S.eta
        if self.lr_decay:
            decay, rate = S.number("decay", self.lr_decay), S.symbol("etatilde")
            S.assign(
                rate,
                S.div(S.eta, S.add(1, S.mul(S.sub(S.t, 1), decay))),
                "adagrad_lr",
                "learning-rate decay: η̃ = η/(1 + (t − 1)·decay)",
                r"learning-rate decay: $\tilde\eta = \eta/(1 + (t-1)\,\mathrm{decay})$",
            )
        G = S.now("G")
        S.assign(
            G,
            S.add(S.prev("G"), S.power(S.g, 2)),
            "adagrad_G",
            "sum of every squared gradient so far: Gₜ = Gₜ₋₁ + gₜ²",
            r"sum of every squared gradient so far: $G_t = G_{t-1} + g_t^2$",
        )
        S.update(
            S.sub(S.theta, S.mul(rate, S.div(S.g, S.add(S.sqrt(G), eps)))),
            "adagrad_step",
            "θₜ = θₜ₋₁ − η̃ gₜ/(√Gₜ + ε)",
            r"$\theta_t = \theta_{t-1} - \tilde\eta\, g_t/(\sqrt{G_t} + \varepsilon)$",
        )

    def hyper(self) -> dict[str, Any]:
        return {
            **super().hyper(),
            "lr_decay": self.lr_decay,
            "eps": self.eps,
            "initial_accumulator_value": self.initial_accumulator_value,
        }
