"""The rules a derivation's steps cite, each in plain Unicode text and in LaTeX.

A step says *why* it holds by naming its rule: "derivative of σ: σ(1 − σ)". Rules are data, kept
apart from the code that builds steps and from the printers, like the rule objects of SymPy's
step-by-step integrator. ``<name>`` placeholders are filled with the step's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """Why a step holds: a key, and its statement in Unicode text and in LaTeX (text mode)."""

    key: str
    text: str
    latex: str

    def __str__(self) -> str:
        return self.text


_RULES: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- forward pass
    "dense": (
        "a unit adds up its weighted inputs: z_j = Σ_k W_jk a_k + b_j",
        r"a unit adds up its weighted inputs: $z_j = \sum_k W_{jk} a_k + b_j$",
    ),
    "dropout": (
        "dropout (p = <p>): the mask of the last training pass, m = 0 (dropped)"
        " or 1/(1 − p) (kept)",
        r"dropout ($p = <p>$): the mask of the last training pass, $m = 0$ (dropped) "
        r"or $1/(1-p)$ (kept)",
    ),
    "dropout_off": (
        "dropout (p = <p>) is off: no training pass left a mask for this batch, so values pass as"
        " they are (inference)",
        r"dropout ($p = <p>$) is off: no training pass left a mask for this batch, so values pass"
        r" as they are (inference)",
    ),
    "off_path": (
        "not on a path from <param> to L: the same formula, needed here only for its value",
        r"not on a path from $<param>$ to $L$: the same formula, needed here only for its value",
    ),
    "off_path_many": (
        "the units m ≠ <j> are not on a path from <param> to L: their values only, in order",
        r"the units $m \ne <j>$ are not on a path from $<param>$ to $L$: their values only",
    ),
    "softmax": (
        "softmax turns the logits into probabilities: ŷ_i = e^{z_i} / Σ_m e^{z_m}",
        r"softmax turns the logits into probabilities: $\hat y_i = e^{z_i} / \sum_m e^{z_m}$",
    ),
    "sigmoid_head": (
        "the loss reads the logit through σ: ŷ = σ(z)",
        r"the loss reads the logit through $\sigma$: $\hat y = \sigma(z)$",
    ),
    # ---------------------------------------------------------------- loss
    "loss_mse": (
        "mean squared error over <N>",
        r"mean squared error over <N>",
    ),
    "loss_huber": (
        "Huber loss (δ = <delta>), h(d) = ½d² if |d| ≤ δ else δ(|d| − ½δ), mean over <N>",
        r"Huber loss ($\delta = <delta>$), $h(d) = \frac12 d^2$ if $|d| \le \delta$ else "
        r"$\delta(|d| - \frac12\delta)$, mean over <N>",
    ),
    "loss_bce": (
        "binary cross-entropy, mean over <N>",
        r"binary cross-entropy, mean over <N>",
    ),
    "loss_cross_entropy": (
        "cross-entropy with a one-hot y: −Σ_i y_i log ŷ_i = −log ŷ_c for the label c = <label>",
        r"cross-entropy with a one-hot $y$: $-\sum_i y_i \log \hat y_i = -\log \hat y_c$ "
        r"for the label $c = <label>$",
    ),
    "batch_loss": (
        "the batch's loss is the mean over its <n> samples; L is the shown sample's (s = <s>)",
        r"the batch's loss is the mean over its $<n>$ samples; $L$ is the shown sample's "
        r"($s = <s>$)",
    ),
    "penalty": (
        "penalty over the weight matrices (not the biases): R = λ₁Σ|W| + ½λ₂ΣW²",
        r"penalty over the weight matrices (not the biases): "
        r"$R = \lambda_1 \sum |W| + \frac12 \lambda_2 \sum W^2$",
    ),
    # ---------------------------------------------------------------- backward pass
    "grad_mse": (
        "derivative of the squared error (ŷ_i − y_i)²/N: 2(ŷ_i − y_i)/N",
        r"derivative of the squared error $(\hat y_i - y_i)^2/N$: $2(\hat y_i - y_i)/N$",
    ),
    "grad_huber": (
        "derivative of h: d where |d| ≤ δ, else ±δ, i.e. clip(d, −δ, δ); then /N",
        r"derivative of $h$: $d$ where $|d| \le \delta$, else $\pm\delta$, i.e. "
        r"$\operatorname{clip}(d, -\delta, \delta)$; then $/N$",
    ),
    "grad_bce": (
        "derivative of −[y log ŷ + (1 − y) log(1 − ŷ)]/N: (−y/ŷ + (1 − y)/(1 − ŷ))/N"
        " = (ŷ − y)/(ŷ(1 − ŷ))/N, the denominator kept ≥ 10⁻¹² as in PyTorch",
        r"derivative of $-[y \log \hat y + (1-y)\log(1-\hat y)]/N$: "
        r"$(-y/\hat y + (1-y)/(1-\hat y))/N = (\hat y - y)/(\hat y(1-\hat y))/N$, "
        r"the denominator kept $\ge 10^{-12}$ as in PyTorch",
    ),
    "grad_bce_logits": (
        "σ + binary cross-entropy: (−y/ŷ + (1 − y)/(1 − ŷ))·σ′(z) = ŷ − y, as σ′ = ŷ(1 − ŷ);"
        " then /N",
        r"$\sigma$ + binary cross-entropy: $(-y/\hat y + (1-y)/(1-\hat y))\,\sigma'(z) = "
        r"\hat y - y$, as $\sigma' = \hat y(1-\hat y)$; then $/N$",
    ),
    "grad_cross_entropy": (
        "softmax + cross-entropy: ∂L/∂z_i = Σ_m (−y_m/ŷ_m)·ŷ_m([m = i] − ŷ_i) = ŷ_i − y_i",
        r"softmax + cross-entropy: $\partial L/\partial z_i = \sum_m (-y_m/\hat y_m)\,"
        r"\hat y_m([m = i] - \hat y_i) = \hat y_i - y_i$",
    ),
    "chain_act": (
        "chain rule through the activation: ∂L/∂z = ∂L/∂a · σ′(z)",
        r"chain rule through the activation: $\partial L/\partial z = \partial L/\partial a "
        r"\cdot \sigma'(z)$",
    ),
    "chain_dropout": (
        "chain rule through dropout: the same mask, ∂L/∂a = ∂L/∂ã · m",
        r"chain rule through dropout: the same mask, $\partial L/\partial a = "
        r"\partial L/\partial \tilde a \cdot m$",
    ),
    "chain_dropout_off": (
        "dropout is off: the gradient passes unchanged",
        r"dropout is off: the gradient passes unchanged",
    ),
    "chain_dense": (
        "chain rule over the paths through the next layer: a_i feeds every unit r there,"
        " so ∂L/∂a_i = Σ_r W_ri δ_r",
        r"chain rule over the paths through the next layer: $a_i$ feeds every unit $r$ there, "
        r"so $\partial L/\partial a_i = \sum_r W_{ri}\delta_r$",
    ),
    "grad_W": (
        "∂z_j/∂W_jk = a_k (the input the weight multiplies), so ∂L/∂W_jk = δ_j a_k",
        r"$\partial z_j/\partial W_{jk} = a_k$ (the input the weight multiplies), so "
        r"$\partial L/\partial W_{jk} = \delta_j a_k$",
    ),
    "grad_b": (
        "∂z_j/∂b_j = 1, so ∂L/∂b_j = δ_j",
        r"$\partial z_j/\partial b_j = 1$, so $\partial L/\partial b_j = \delta_j$",
    ),
    "paths": (
        "the same number, summed over all <count> paths from the parameter to L: each path"
        " multiplies the local derivatives along it",
        r"the same number, summed over all $<count>$ paths from the parameter to $L$: each path "
        r"multiplies the local derivatives along it",
    ),
    "path": (
        "the same number, as the product of the local derivatives along the only path from"
        " the parameter to L",
        r"the same number, as the product of the local derivatives along the only path from "
        r"the parameter to $L$",
    ),
    "batch_mean": (
        "the batch's gradient is the mean of its <n> samples' gradients g_s (g_<s> is the one"
        " above)",
        r"the batch's gradient is the mean of its $<n>$ samples' gradients $g_s$ "
        r"($g_{<s>}$ is the one above)",
    ),
    "penalty_grad": (
        "derivative of the penalty: λ₁ sign(W) + λ₂ W",
        r"derivative of the penalty: $\lambda_1 \operatorname{sign}(W) + \lambda_2 W$",
    ),
    # ---------------------------------------------------------------- vector form
    "vec_dense": (
        "the layer at once: z = W a + b, one row of W per unit (a batch as rows: z = x Wᵀ + b)",
        r"the layer at once: $z = W a + b$, one row of $W$ per unit (a batch as rows: "
        r"$z = x W^\top + b$)",
    ),
    "vec_act": ("element-wise: a_i = σ(z_i)", r"element-wise: $a_i = \sigma(z_i)$"),
    "vec_dropout": ("element-wise product with the mask", r"element-wise product with the mask"),
    "vec_prime": ("σ′ element-wise, from the activations", r"$\sigma'$ element-wise"),
    "vec_back_dense": (
        "the next layer's errors sent back through its weights: ∂L/∂aˡ = Wˡ⁺¹ᵀ δˡ⁺¹",
        r"the next layer's errors sent back through its weights: "
        r"$\partial L/\partial a^{l} = (W^{l+1})^\top \delta^{l+1}$",
    ),
    "vec_chain_act": (
        "δˡ = ∂L/∂aˡ ⊙ σ′(zˡ), ⊙ the element-wise product",
        r"$\delta^{l} = \partial L/\partial a^{l} \odot \sigma'(z^{l})$, $\odot$ the "
        r"element-wise product",
    ),
    "vec_chain_dropout": (
        "through dropout: ⊙ the same mask",
        r"through dropout: $\odot$ the same mask",
    ),
    "vec_grad_W": (
        "∂L/∂Wˡ = δˡ aˡ⁻¹ᵀ: an outer product, one row per unit",
        r"$\partial L/\partial W^{l} = \delta^{l} (a^{l-1})^\top$: an outer product",
    ),
    "vec_grad_b": ("∂L/∂bˡ = δˡ", r"$\partial L/\partial b^{l} = \delta^{l}$"),
    "vec_entry": ("the entry asked for", r"the entry asked for"),
    # ---------------------------------------------------------------- optimiser update
    "upd_grad": (
        "the gradient gₜ the optimiser uses at step t = <t>",
        r"the gradient $g_t$ the optimiser uses at step $t = <t>$",
    ),
    "upd_batch": (
        "the optimiser steps along its mini-batch's gradient, not one sample's: the mean of the"
        " gradients g_s of the <n> samples of the batch it trains on (the sample above is not"
        " among them), from the engine's backward pass",
        r"the optimiser steps along its mini-batch's gradient, not one sample's: the mean of the "
        r"gradients $g_s$ of the $<n>$ samples of the batch it trains on (the sample above is not "
        r"among them), from the engine's backward pass",
    ),
    "upd_batch_penalty": (
        "the optimiser steps along its mini-batch's gradient, not one sample's: the mean of the"
        " gradients g_s of the <n> samples of the batch it trains on (the sample above is not"
        " among them), plus the penalty's derivative, from the engine's backward pass",
        r"the optimiser steps along its mini-batch's gradient, not one sample's: the mean of the "
        r"gradients $g_s$ of the $<n>$ samples of the batch it trains on (the sample above is not "
        r"among them), plus the penalty's derivative, from the engine's backward pass",
    ),
    "upd_grad_wd": (
        "weight decay (λ = <wd>) adds λθ to the gradient",
        r"weight decay ($\lambda = <wd>$) adds $\lambda\theta$ to the gradient",
    ),
    "upd_theta": ("the parameter before the step", r"the parameter before the step"),
    "upd_plain": (
        "no optimiser given: plain gradient descent with η = <lr>",
        r"no optimiser given: plain gradient descent with $\eta = <lr>$",
    ),
    # the optimisers write their own rules (engine.optim); these two are derive's:
    "sgd": (
        "gradient descent: θₜ = θₜ₋₁ − η gₜ",
        r"gradient descent: $\theta_t = \theta_{t-1} - \eta g_t$",
    ),
    "adamw_decay": (
        "AdamW decays the weight first, apart from the gradient: θ ← θ(1 − ηλ)",
        r"AdamW decays the weight first, apart from the gradient: "
        r"$\theta \leftarrow \theta(1 - \eta\lambda)$",
    ),
}


def rule(key: str, **values: object) -> Rule:
    """The rule ``key`` with its ``<name>`` placeholders filled in.

    A value is a number or text used in both forms, or a pair (Unicode text, LaTeX).
    """
    text, latex = _RULES[key]
    return fill(key, text, latex, **values)


def fill(key: str, text: str, latex: str, **values: object) -> Rule:
    """A rule from its two forms, ``<name>`` placeholders replaced (see ``rule``)."""
    for name, value in values.items():
        if isinstance(value, tuple):
            as_text, as_latex = value
        else:
            as_text = as_latex = f"{value:g}" if isinstance(value, float) else str(value)
        text = text.replace(f"<{name}>", str(as_text))
        latex = latex.replace(f"<{name}>", str(as_latex))
    return Rule(key, text, latex)


RULE_KEYS = tuple(_RULES)
