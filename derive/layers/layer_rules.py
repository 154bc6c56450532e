"""The rules the steps of layer derivations cite, in Unicode text and in LaTeX (text mode).

Data, like ``derive.rules``: a key, its statement in both forms, ``<name>`` placeholders that the
builders fill with the step's numbers. δ is always a derivative of the batch's loss L̄.
"""

from __future__ import annotations

from derive.notation import latex_text
from derive.rules import Rule, fill

_RULES: dict[str, tuple[str, str]] = {
    # ---------------------------------------------------------------- forward pass, loss
    "layer_forward": (
        "layer <label>, <what>: its output for the shown sample (the engine's forward pass)",
        r"layer <label>, <what>: its output for the shown sample (the engine's forward pass)",
    ),
    "residual_forward": (
        "the residual block adds its input to its inner layers' output: y = x + f(x)",
        r"the residual block adds its input to its inner layers' output: $y = x + f(x)$",
    ),
    "loss_mean": (
        "<name>, the mean over the batch's <count> <what> (the engine's value)",
        r"<name>, the mean over the batch's <count> <what> (the engine's value)",
    ),
    "loss_grad": (
        "∂L̄/∂ŷ for the shown sample, <formula>; every δ below is a derivative of this batch loss L̄",
        r"$\partial\bar L/\partial\hat y$ for the shown sample, <formula>; every $\delta$ below "
        r"is a derivative of this batch loss $\bar L$",
    ),
    # ---------------------------------------------------------------- through the layers above
    "through": (
        "back through layer <label>, <what>: <how>",
        r"back through layer <label>, <what>: <how>",
    ),
    "maxpool_window": (
        "max-pooling window (<py>, <px>) of channel <c>: the largest input wins, here <winner>;"
        " ∂L̄/∂p = <g> goes back to it alone, the other <others> inputs of the window get 0",
        r"max-pooling window $(<py>, <px>)$ of channel $<c>$: the largest input wins, here "
        r"$<winner>$; $\partial\bar L/\partial p = <g>$ goes back to it alone, the other "
        r"$<others>$ inputs of the window get 0",
    ),
    "maxpool_route": (
        "max-pooling's routing, channel <c>: each window's gradient lands on its winner (<shown> of"
        " <count> windows written out above); inputs that won no window get 0",
        r"max-pooling's routing, channel $<c>$: each window's gradient lands on its winner "
        r"($<shown>$ of $<count>$ windows written out above); inputs that won no window get 0",
    ),
    "residual_block": (
        "the block's own path, f: its last layer receives ∂L̄/∂f = ∂L̄/∂y; back through its inner"
        " layers this gives the block term (∂f/∂x)ᵀ ∂L̄/∂y",
        r"the block's own path, $f$: its last layer receives $\partial\bar L/\partial f = "
        r"\partial\bar L/\partial y$; back through its inner layers this gives the block term "
        r"$(\partial f/\partial x)^\top \partial\bar L/\partial y$",
    ),
    "residual_sum": (
        "∂L̄/∂x = identity term + block term: the skip path of y = x + f(x) hands ∂L̄/∂y to x"
        " unchanged, which is why gradients survive many stacked blocks, however small the block"
        " term gets",
        r"$\partial\bar L/\partial x$ = identity term + block term: the skip path of "
        r"$y = x + f(x)$ hands $\partial\bar L/\partial y$ to $x$ unchanged, which is why "
        r"gradients survive many stacked blocks, however small the block term gets",
    ),
    "into_residual": (
        "the parameter sits inside the residual block <label>: y = x + f(x), so the block's last"
        " layer receives ∂L̄/∂f = ∂L̄/∂y",
        r"the parameter sits inside the residual block <label>: $y = x + f(x)$, so the block's "
        r"last layer receives $\partial\bar L/\partial f = \partial\bar L/\partial y$",
    ),
    "delta_arrives": (
        "δ arriving at layer <label> (<kind>) from the layers above, as the engine's backward"
        " computes it: ∂L̄/∂ of the layer's output, shown sample",
        r"$\delta$ arriving at layer <label> (<kind>) from the layers above, as the engine's "
        r"backward computes it: $\partial\bar L/\partial$ of the layer's output, shown sample",
    ),
    # ---------------------------------------------------------------- Dense, convolution
    "dense_unit": (
        "unit <j> adds up its weighted inputs: z_j = Σ_i W_ji x_i + b_j<where>",
        r"unit $<j>$ adds up its weighted inputs: $z_j = \sum_i W_{ji} x_i + b_j$<where>",
    ),
    "dense_grad_W": (
        "∂z_j/∂W_ji = x_i at each of the <count> positions the layer sees, so ∂L̄/∂W_ji ="
        " Σ_r δ_rj x_ri",
        r"$\partial z_j/\partial W_{ji} = x_i$ at each of the $<count>$ positions the layer sees, "
        r"so $\partial\bar L/\partial W_{ji} = \sum_r \delta_{rj} x_{ri}$",
    ),
    "dense_grad_W_one": (
        "∂z_j/∂W_ji = x_i (the input the weight multiplies), so ∂L̄/∂W_ji = δ_j x_i",
        r"$\partial z_j/\partial W_{ji} = x_i$ (the input the weight multiplies), so "
        r"$\partial\bar L/\partial W_{ji} = \delta_j x_i$",
    ),
    "dense_grad_b_one": (
        "∂z_j/∂b_j = 1, so ∂L̄/∂b_j = δ_j",
        r"$\partial z_j/\partial b_j = 1$, so $\partial\bar L/\partial b_j = \delta_j$",
    ),
    "dense_grad_b": (
        "∂z_j/∂b_j = 1 at each of the <count> positions, so ∂L̄/∂b_j = Σ_r δ_rj",
        r"$\partial z_j/\partial b_j = 1$ at each of the $<count>$ positions, so "
        r"$\partial\bar L/\partial b_j = \sum_r \delta_{rj}$",
    ),
    "conv_unit": (
        "output (<o>, 0, 0): out[o,y,x] = Σ_{c,dy,dx} W[o,c,dy,dx] x[c, y·s+dy−p, x·s+dx−p] + b[o]"
        " (cross-correlation, as PyTorch; s = <s>, p = <p>)<padnote>",
        r"output $(<o>, 0, 0)$: $\mathrm{out}_{o,y,x} = \sum_{c,dy,dx} W_{o,c,dy,dx}\, "
        r"x_{c,\,ys+dy-p,\,xs+dx-p} + b_o$ (cross-correlation, as PyTorch; $s = <s>$, "
        r"$p = <p>$)<padnote>",
    ),
    "conv_delta": (
        "δ at output channel <o>: one number per output position (y, x)",
        r"$\delta$ at output channel $<o>$: one number per output position $(y, x)$",
    ),
    "conv_grad_W": (
        "weight sharing: W[<idx>] multiplies one input at every output position of channel <o>,"
        " so ∂L̄/∂W = Σ_{y,x} δ[o,y,x] x[c, y·s+dy−p, x·s+dx−p]: <count> terms<padnote>",
        r"weight sharing: $W_{<idx>}$ multiplies one input at every output position of channel "
        r"$<o>$, so $\partial\bar L/\partial W = \sum_{y,x} \delta_{o,y,x}\, x_{c,\,ys+dy-p,\,"
        r"xs+dx-p}$: $<count>$ terms<padnote>",
    ),
    "conv_grad_b": (
        "b[<o>] is added at every output position of channel <o>: ∂L̄/∂b = Σ_{y,x} δ[o,y,x]",
        r"$b_{<o>}$ is added at every output position of channel $<o>$: "
        r"$\partial\bar L/\partial b = \sum_{y,x} \delta_{o,y,x}$",
    ),
    "emb_lookup": (
        "the embedding's output at position t is row x_t of W: the shown sample's tokens",
        r"the embedding's output at position $t$ is row $x_t$ of $W$: the shown sample's tokens",
    ),
    "emb_grad": (
        "W[<v>, <j>] is the output at every position holding token <v> (<count> here):"
        " ∂L̄/∂W[v, j] = Σ_{t: x_t = v} ∂L̄/∂a_tj",
        r"$W_{<v>,<j>}$ is the output at every position holding token $<v>$ ($<count>$ here): "
        r"$\partial\bar L/\partial W_{v,j} = \sum_{t:\,x_t = v} \partial\bar L/\partial a_{tj}$",
    ),
    # ---------------------------------------------------------------- normalisation
    "norm_mean": (
        "<what> normalises <over>: μ = (1/m) Σ x over its m = <m> values",
        r"<what> normalises <over>: $\mu = \frac1m \sum x$ over its $m = <m>$ values",
    ),
    "norm_var": (
        "σ² = (1/m) Σ (x − μ)², the biased variance (as in training)",
        r"$\sigma^2 = \frac1m \sum (x - \mu)^2$, the biased variance (as in training)",
    ),
    "norm_xhat": (
        "x̂ = (x − μ)/√(σ² + ε), ε = <eps>",
        r"$\hat x = (x - \mu)/\sqrt{\sigma^2 + \varepsilon}$, $\varepsilon = <eps>$",
    ),
    "norm_out": ("y = γ x̂ + β", r"$y = \gamma \hat x + \beta$"),
    "norm_sum_delta": (
        "Σ <g> over the <m> values<of>",
        r"$\sum <g>$ over the $<m>$ values<of>",
    ),
    "bn_three_term": (
        "what batch norm passes down, in three terms (the direct path, through μ, through σ²):"
        " ∂L̄/∂x = γ/(m√(σ² + ε)) · (m δ − Σδ − x̂ Σδx̂)",
        r"what batch norm passes down, in three terms (the direct path, through $\mu$, through "
        r"$\sigma^2$): $\partial\bar L/\partial x = \frac{\gamma}{m\sqrt{\sigma^2+\varepsilon}}"
        r"(m\delta - \sum\delta - \hat x \sum\delta\hat x)$",
    ),
    "ln_three_term": (
        "what layer norm passes down, in three terms, with g = δγ: ∂L̄/∂x_j = (g_j − Σg/d −"
        " x̂_j Σgx̂/d)/√(σ² + ε)",
        r"what layer norm passes down, in three terms, with $g = \delta\gamma$: "
        r"$\partial\bar L/\partial x_j = (g_j - \sum g/d - \hat x_j \sum g\hat x/d)"
        r"/\sqrt{\sigma^2+\varepsilon}$",
    ),
    "norm_grad": (
        "<param> acts on every value it normalises, so ∂L̄/∂<param> = <sum>",
        r"$<param>$ acts on every value it normalises, so "
        r"$\partial\bar L/\partial <param> = <sum>$",
    ),
    # ---------------------------------------------------------------- recurrent layers
    "rec_pre": (
        "<gate> of unit <j> (row <r> of W_ih and W_hh) at step t = 1: W_ih x₁ + b_ih + W_hh h₀"
        " + b_hh, h₀ = 0<cell>",
        r"<gate> of unit $<j>$ (row $<r>$ of $W_{ih}$ and $W_{hh}$) at step $t = 1$: "
        r"$W_{ih} x_1 + b_{ih} + W_{hh} h_0 + b_{hh}$, "
        r"$h_0 = 0$<cell>",
    ),
    "rec_first": (
        "<what> of unit <j> at step t = 1 (every step the same)",
        r"<what> of unit $<j>$ at step $t = 1$ (every step the same)",
    ),
    "rec_values": (
        "<what> of unit <j> at every step t = 1…<T> (the same formula at each step)",
        r"<what> of unit $<j>$ at every step $t = 1\ldots<T>$ (the same formula at each step)",
    ),
    "rec_above": (
        "∂L̄/∂h_t arriving from the layers above, every step and unit<last>",
        r"$\partial\bar L/\partial h_t$ arriving from the layers above, every step and unit<last>",
    ),
    "rnn_delta": (
        "backprop through time: h_t feeds the layer above and the next step, so δ_t = (∂L̄/∂h_t"
        " from above + Σ_r W_hh[r, j] δ_{t+1,r}) · (1 − h_t²)",
        r"backprop through time: $h_t$ feeds the layer above and the next step, so "
        r"$\delta_t = (\partial\bar L/\partial h_t + \sum_r W_{hh,rj}\,\delta_{t+1,r})(1 - h_t^2)$",
    ),
    "lstm_c": (
        "the cell state: c_t = f_t c_{t−1} + i_t g_t",
        r"the cell state: $c_t = f_t c_{t-1} + i_t g_t$",
    ),
    "gru_h": (
        "h_t = (1 − z_t) n_t + z_t h_{t−1}, ĥ_t = W_hn h_{t−1} + b_hn inside"
        " n_t = tanh(… + r_t ĥ_t)",
        r"$h_t = (1 - z_t) n_t + z_t h_{t-1}$, $\hat h_t = W_{hn} h_{t-1} + b_{hn}$ inside "
        r"$n_t = \tanh(\ldots + r_t \hat h_t)$",
    ),
    "lstm_dh": (
        "all of ∂L̄/∂h_t: from the layers above, plus through the next step's four gates,"
        " Σ_r W_hh[r, j] δ_{t+1,r}",
        r"all of $\partial\bar L/\partial h_t$: from the layers above, plus through the next "
        r"step's four gates, $\sum_r W_{hh,rj}\,\delta_{t+1,r}$",
    ),
    "gru_dh": (
        "all of ∂L̄/∂h_t: from above, the direct path ∂L̄/∂h_{t+1} z_{t+1}, and through the next"
        " step's gates, Σ_r W_hh[r, j] δʰ_{t+1,r}",
        r"all of $\partial\bar L/\partial h_t$: from above, the direct path "
        r"$\partial\bar L/\partial h_{t+1} z_{t+1}$, and through the next step's gates, "
        r"$\sum_r W_{hh,rj}\,\delta^h_{t+1,r}$",
    ),
    "lstm_dc": (
        "c_t's gradient path: ∂L̄/∂c_t = ∂L̄/∂h_t o_t (1 − tanh² c_t) + ∂L̄/∂c_{t+1} f_{t+1};"
        " from step to step only a product with f, no squashing: why an LSTM can remember",
        r"$c_t$'s gradient path: $\partial\bar L/\partial c_t = \partial\bar L/\partial h_t\, o_t"
        r"(1 - \tanh^2 c_t) + \partial\bar L/\partial c_{t+1} f_{t+1}$; from step to step only a "
        r"product with $f$, no squashing: why an LSTM can remember",
    ),
    "gate_delta": ("δ of the <gate> gate: <formula>", r"$\delta$ of the <gate> gate: <formula>"),
    "rec_grad": (
        "<param> acts at every step, so its gradient is a sum over time: ∂L̄/∂<param> = <sum>",
        r"$<param>$ acts at every step, so its gradient is a sum over time: "
        r"$\partial\bar L/\partial <param> = <sum>$",
    ),
    "rec_earlier": (
        "<what> for the steps before t = <t>: the same recursion, computed in float64",
        r"<what> for the steps before $t = <t>$: the same recursion, computed in float64",
    ),
    "rnn_norms": (
        "‖δ_t‖ over time, t = <T> back to 1: how large the error is that each step contributes",
        r"$\|\delta_t\|$ over time, $t = <T>$ back to 1: how large the error is that each step "
        r"contributes",
    ),
    "rnn_gain": (
        "going k steps back multiplies the gradient by ∏ W_hhᵀ diag(1 − h²); its norm is <first>"
        " after one step and <last> after <k> (about <factor> per step): <verdict>",
        r"going $k$ steps back multiplies the gradient by $\prod W_{hh}^\top "
        r"\operatorname{diag}(1 - h^2)$; its norm is $<first>$ after one step and $<last>$ after "
        r"$<k>$ (about $<factor>$ per step): <verdict>",
    ),
    # ---------------------------------------------------------------- attention
    "attn_part": (
        "row <r> of W_in makes column <jj> of the <part> of <h>: P_tj = Σ_i x_ti W_in[r, i]"
        " + b_in[r] (position t = <t>)",
        r"row $<r>$ of $W_{in}$ makes column $<jj>$ of the <part> of <h>: "
        r"$P_{tj} = \sum_i x_{ti} W_{in,ri} + b_{in,r}$ (position $t = <t>$)",
    ),
    "attn_score": (
        "score of position <t> for position <u>, <h>: S_tu = Σ_j Q_tj K_uj / √d_h",
        r"score of position $<t>$ for position $<u>$, <h>: "
        r"$S_{tu} = \sum_j Q_{tj} K_{uj}/\sqrt{d_h}$",
    ),
    "attn_softmax": (
        "softmax of the scores along row <t>: A_tu = e^{S_tu} / Σ_v e^{S_tv}<causal>",
        r"softmax of the scores along row $<t>$: $A_{tu} = e^{S_{tu}}/\sum_v e^{S_{tv}}$<causal>",
    ),
    "attn_matrix": (
        "<what>, <head> (rows t, columns <cols>)",
        r"<what>, <head> (rows $t$, columns <cols>)",
    ),
    "attn_dO": (
        "back through the output projection: ∂L̄/∂O = ∂L̄/∂out W_out, the columns of <h>",
        r"back through the output projection: $\partial\bar L/\partial O = "
        r"\partial\bar L/\partial\mathrm{out}\, W_{out}$, the columns of <h>",
    ),
    "attn_dV": (
        "V_u is read by every row t with weight A_tu: ∂L̄/∂V_uj = Σ_t A_tu ∂L̄/∂O_tj",
        r"$V_u$ is read by every row $t$ with weight $A_{tu}$: "
        r"$\partial\bar L/\partial V_{uj} = \sum_t A_{tu}\,\partial\bar L/\partial O_{tj}$",
    ),
    "attn_dA": (
        "through O = AV: ∂L̄/∂A_tu = Σ_j ∂L̄/∂O_tj V_uj",
        r"through $O = AV$: $\partial\bar L/\partial A_{tu} = \sum_j "
        r"\partial\bar L/\partial O_{tj} V_{uj}$",
    ),
    "attn_dS": (
        "back through the softmax of row <t>: ∂L̄/∂S_tu = A_tu (∂L̄/∂A_tu − Σ_v A_tv ∂L̄/∂A_tv)",
        r"back through the softmax of row $<t>$: $\partial\bar L/\partial S_{tu} = A_{tu}"
        r"(\partial\bar L/\partial A_{tu} - \sum_v A_{tv}\,\partial\bar L/\partial A_{tv})$",
    ),
    "attn_dQ": (
        "through S = QKᵀ/√d_h: ∂L̄/∂Q_tj = Σ_u ∂L̄/∂S_tu K_uj / √d_h",
        r"through $S = QK^\top/\sqrt{d_h}$: $\partial\bar L/\partial Q_{tj} = \sum_u "
        r"\partial\bar L/\partial S_{tu} K_{uj}/\sqrt{d_h}$",
    ),
    "attn_dK": (
        "through S = QKᵀ/√d_h: ∂L̄/∂K_uj = Σ_t ∂L̄/∂S_tu Q_tj / √d_h",
        r"through $S = QK^\top/\sqrt{d_h}$: $\partial\bar L/\partial K_{uj} = \sum_t "
        r"\partial\bar L/\partial S_{tu} Q_{tj}/\sqrt{d_h}$",
    ),
    "attn_grad": (
        "<param> acts at every position t, so ∂L̄/∂<param> = <sum>",
        r"$<param>$ acts at every position $t$, so $\partial\bar L/\partial <param> = <sum>$",
    ),
    # ---------------------------------------------------------------- the batch and the penalty
    "batch_sum": (
        "every δ above is of the batch's loss L̄, so the gradient is the sum of the <n> samples'"
        " parts g_s (g_<s> is the one above; the others by the same formula)",
        r"every $\delta$ above is of the batch's loss $\bar L$, so the gradient is the sum of the "
        r"$<n>$ samples' parts $g_s$ ($g_{<s>}$ is the one above; the others by the same formula)",
    ),
    "penalty_grad": (
        "derivative of the penalty: λ₁ sign(W) + λ₂ W",
        r"derivative of the penalty: $\lambda_1 \operatorname{sign}(W) + \lambda_2 W$",
    ),
}


def rule(key: str, **values: object) -> Rule:
    """The layer rule ``key`` with its ``<name>`` placeholders filled (see ``derive.rules``).

    A plain-text value is made LaTeX-safe for the LaTeX form (``latex_text``); a pair gives
    both forms.
    """
    pairs = {k: (v, latex_text(v)) if isinstance(v, str) else v for k, v in values.items()}
    text, latex = _RULES[key]
    return fill(key, text, latex, **pairs)


RULE_KEYS = tuple(_RULES)
