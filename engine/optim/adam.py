"""Adam and its family (AdamW, NAdam), as ``torch.optim`` defines them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from engine.kernels.cpu.chunks import ADAM
from engine.network import Sequential
from engine.optim.base import Optimizer

__all__ = ["Adam", "AdamW", "NAdam"]


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
        self._moments = (self.state["exp_avg"], self.state["exp_avg_sq"])  # kept in place

    kernel = "adam_step"
    state_symbols: ClassVar[dict[str, str]] = {"exp_avg": "m", "exp_avg_sq": "v"}

    def kernel_args(self) -> tuple[Any, ...]:
        b1, b2 = self.betas
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        wd = self.weight_decay
        return m, v, self.lr, b1, b2, self.eps, wd, self.decoupled, float(self.t)

    def fused_update(self, hyper: np.ndarray) -> tuple[Any, Any] | None:
        """Adam's next update in a split fused step: ``adam_step``'s arguments in ``hyper``."""
        if self.net.frozen_ranges:
            return None
        hyper[0] = ADAM  # one by one: packing them into a tuple first would allocate it
        hyper[1] = self.lr
        hyper[2] = self.betas[0]
        hyper[3] = self.betas[1]
        hyper[4] = self.eps
        hyper[5] = self.weight_decay
        hyper[6] = self.decoupled
        hyper[7] = self.t + 1
        return self._moments

    def derivation(self, S: Any) -> None:
        b1, b2 = S.number("beta", self.betas[0], 1), S.number("beta", self.betas[1], 2)
        eps = S.number("epsilon", self.eps)
        _, _, mhat, vhat = _moments(S, b1, b2)
        S.update(
            S.sub(S.theta, S.mul(S.eta, S.div(mhat, S.add(S.sqrt(vhat), eps)))),
            "adam_step",
            "θₜ = θₜ₋₁ − η m̂ₜ/(√v̂ₜ + ε)",
            r"$\theta_t = \theta_{t-1} - \eta\,\hat m_t/(\sqrt{\hat v_t} + \varepsilon)$",
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


class NAdam(Optimizer):
    """Adam with Nesterov momentum (``torch.optim.NAdam``, weight decay as an L2 term in g).

    The momentum coefficient follows a schedule, μₜ = β₁(1 − ½·0.96^(tψ)) with ψ the
    ``momentum_decay``; the step mixes the new gradient and the first moment, each with its own
    bias correction from the running product Πₜ = μ₁⋯μₜ.
    """

    name = "nadam"
    kernel = "nadam_step"
    state_names = ("exp_avg", "exp_avg_sq")
    state_symbols: ClassVar[dict[str, str]] = {"exp_avg": "m", "exp_avg_sq": "v"}

    def __init__(
        self,
        net: Sequential,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
    ) -> None:
        super().__init__(net, lr, weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps, self.momentum_decay = float(eps), float(momentum_decay)
        self._product = (0, 1.0)  # (t, μ₁⋯μₜ), kept so a step costs one product

    def mu(self, t: int) -> float:
        """μₜ = β₁(1 − ½·0.96^(tψ)), the momentum coefficient at step t."""
        return self.betas[0] * (1.0 - 0.5 * 0.96 ** (t * self.momentum_decay))

    def mu_product(self, t: int) -> float:
        """Πₜ = μ₁⋯μₜ (computed afresh when t is not the next step, e.g. after a resume)."""
        done, value = self._product
        if done > t:
            done, value = 0, 1.0
        for i in range(done + 1, t + 1):
            value *= self.mu(i)
        self._product = (t, value)
        return value

    def kernel_args(self) -> tuple[Any, ...]:
        t, (b1, b2) = self.t, self.betas
        mu, mu_next, product = self.mu(t), self.mu(t + 1), self.mu_product(t)
        coef_g = self.lr * (1.0 - mu) / (1.0 - product)
        coef_m = self.lr * mu_next / (1.0 - product * mu_next)
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        return m, v, self.weight_decay, b1, b2, self.eps, coef_g, coef_m, 1.0 - b2**t

    def derivation(self, S: Any) -> None:
        b1, b2 = S.number("beta", self.betas[0], 1), S.number("beta", self.betas[1], 2)
        eps, t = S.number("epsilon", self.eps), S.count
        mu, mu_next = S.number("mu", self.mu(t), "t"), S.number("mu", self.mu(t + 1), "t+1")
        product = S.number("Pi", self.mu_product(t), "t")
        m, _, _, vhat = _moments(S, b1, b2, corrected_m=False)
        den = S.add(S.sqrt(vhat), eps)
        step_g = S.mul(S.div(S.mul(S.eta, S.sub(1, mu)), S.sub(1, product)), S.div(S.g, den))
        step_m = S.mul(
            S.div(S.mul(S.eta, mu_next), S.sub(1, S.mul(product, mu_next))), S.div(m, den)
        )
        S.update(
            S.sub(S.theta, S.add(step_g, step_m)),
            "nadam_step",
            "θₜ = θₜ₋₁ − η(1 − μₜ)/(1 − Πₜ) · gₜ/(√v̂ₜ + ε) − ημₜ₊₁/(1 − Πₜμₜ₊₁) · mₜ/(√v̂ₜ + ε),"
            " with μₜ = β₁(1 − ½·0.96^(tψ)) and Πₜ = μ₁⋯μₜ",
            r"$\theta_t = \theta_{t-1} - \frac{\eta(1-\mu_t)}{1-\Pi_t}\frac{g_t}{\sqrt{\hat v_t}"
            r" + \varepsilon} - \frac{\eta\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\frac{m_t}{\sqrt{\hat v_t}"
            r" + \varepsilon}$, with $\mu_t = \beta_1(1 - \frac12 0.96^{t\psi})$ and"
            r" $\Pi_t = \mu_1\cdots\mu_t$",
        )

    def hyper(self) -> dict[str, Any]:
        return {
            **super().hyper(),
            "betas": list(self.betas),
            "eps": self.eps,
            "momentum_decay": self.momentum_decay,
        }


def _moments(S: Any, b1: Any, b2: Any, corrected_m: bool = True) -> tuple[Any, Any, Any, Any]:
    """Adam's moment steps (m, v and their bias corrections), shared by Adam and NAdam."""
    m, v, mhat, vhat = S.now("m"), S.now("v"), S.now("mhat"), S.now("vhat")
    S.assign(
        m,
        S.add(S.mul(b1, S.prev("m")), S.mul(S.sub(1, b1), S.g)),
        "adam_m",
        "first moment, a running mean of g: mₜ = β₁mₜ₋₁ + (1 − β₁)gₜ",
        r"first moment, a running mean of $g$: $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$",
    )
    S.assign(
        v,
        S.add(S.mul(b2, S.prev("v")), S.mul(S.sub(1, b2), S.power(S.g, 2))),
        "adam_v",
        "second moment, a running mean of g²: vₜ = β₂vₜ₋₁ + (1 − β₂)gₜ²",
        r"second moment, a running mean of $g^2$: $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$",
    )
    if corrected_m:
        S.assign(
            mhat,
            S.div(m, S.sub(1, S.power(b1, S.t))),
            "adam_mhat",
            "bias correction: m starts at 0, so divide by 1 − β₁ᵗ",
            r"bias correction: $m$ starts at 0, so divide by $1 - \beta_1^t$",
        )
    S.assign(
        vhat,
        S.div(v, S.sub(1, S.power(b2, S.t))),
        "adam_vhat",
        "bias correction: divide by 1 − β₂ᵗ",
        r"bias correction: divide by $1 - \beta_2^t$",
    )
    return m, v, mhat, vhat
