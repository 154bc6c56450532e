"""Phrases the layer derivations' rules are filled with, in Unicode text and in LaTeX.

Each gate of a recurrent cell and its δ, each loss's derivative: data, like
``derive.layers.layer_rules``. (How each layer type passes the gradient down is its derivation's
``how``, in ``derive.layers.derivations``.)
"""

from __future__ import annotations

GATES: dict[str, tuple[str, str]] = {
    "i": ("the input gate i_t = σ(u_i)", r"the input gate $i_t = \sigma(u_i)$"),
    "f": ("the forget gate f_t = σ(u_f)", r"the forget gate $f_t = \sigma(u_f)$"),
    "g": ("the candidate g_t = tanh(u_g)", r"the candidate $g_t = \tanh(u_g)$"),
    "o": ("the output gate o_t = σ(u_o)", r"the output gate $o_t = \sigma(u_o)$"),
    "r": ("the reset gate r_t = σ(u_r)", r"the reset gate $r_t = \sigma(u_r)$"),
    "z": ("the update gate z_t = σ(u_z)", r"the update gate $z_t = \sigma(u_z)$"),
    "n": (
        "the candidate n_t = tanh(u_n + r_t ĥ_t)",
        r"the candidate $n_t = \tanh(u_n + r_t\hat h_t)$",
    ),
}
_DC = r"$\partial\bar L/\partial c_t\,"
_DH = r"$\partial\bar L/\partial h_t\,"
GATE_DELTAS: dict[str, tuple[str, str]] = {
    "i": ("∂L̄/∂c_t · g_t · i_t(1 − i_t)", _DC + r"g_t\, i_t(1 - i_t)$"),
    "f": ("∂L̄/∂c_t · c_{t−1} · f_t(1 − f_t)", _DC + r"c_{t-1}\, f_t(1 - f_t)$"),
    "g": ("∂L̄/∂c_t · i_t · (1 − g_t²)", _DC + r"i_t (1 - g_t^2)$"),
    "o": ("∂L̄/∂h_t · tanh c_t · o_t(1 − o_t)", _DH + r"\tanh c_t\, o_t(1 - o_t)$"),
    "n": ("∂L̄/∂h_t (1 − z_t)(1 − n_t²)", _DH + r"(1 - z_t)(1 - n_t^2)$"),
    "r": ("δⁿ_t ĥ_t r_t(1 − r_t)", r"$\delta^n_t \hat h_t\, r_t(1 - r_t)$"),
    "z": ("∂L̄/∂h_t (h_{t−1} − n_t) z_t(1 − z_t)", _DH + r"(h_{t-1} - n_t) z_t(1 - z_t)$"),
    "hn": (
        "ĥ enters n_t as r_t ĥ_t, so ∂L̄/∂ĥ_t = δⁿ_t r_t — what W_hn's rows multiply",
        r"$\hat h$ enters $n_t$ as $r_t \hat h_t$, so $\partial\bar L/\partial\hat h_t = "
        r"\delta^n_t r_t$ --- what $W_{hn}$'s rows multiply",
    ),
}
LOSS_GRADS: dict[str, tuple[str, str]] = {
    "mse": ("2(ŷ − y)/M", r"$2(\hat y - y)/M$"),
    "huber": ("clip(ŷ − y, −δ, δ)/M", r"$\operatorname{clip}(\hat y - y, -\delta, \delta)/M$"),
    "bce": ("(ŷ − y)/(ŷ(1 − ŷ))/M", r"$(\hat y - y)/(\hat y(1 - \hat y))/M$"),
    "bce_logits": ("(σ(z) − y)/M", r"$(\sigma(z) - y)/M$"),
    "cross_entropy": (
        "(softmax(z) − y)/M, y one-hot",
        r"$(\mathrm{softmax}(z) - y)/M$, $y$ one-hot",
    ),
}
LOSS_NAMES = {
    "mse": "mean squared error",
    "huber": "Huber loss",
    "bce": "binary cross-entropy",
    "bce_logits": "binary cross-entropy of σ(z)",
    "cross_entropy": "cross-entropy, p_i = softmax(z_i) at position i's label",
}
