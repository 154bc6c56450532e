"""Derivations and ``verify`` for the layers beyond Dense stacks: convolution, pooling, batch and
layer norm, RNN, LSTM, GRU, attention, embeddings and residual blocks.

Each derivation's value is the engine's float64 gradient; its steps hold the parts that explain
the layer (a convolution's output positions, max-pooling's winners, one term per time step …),
their numbers agree with the engine's pass, and every format renders.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from derive import derive, verify, verify_report
from derive.layers.layer_tape import float64_twin, run_layer_tape
from derive.layers.param import parse_layer_param
from derive.steps import Derivation, Step
from engine import Dense, Dropout, ReLU, Sequential, Tanh, UserError, optim
from engine.layers.blocks import Residual, transformer_block
from engine.layers.image import AvgPool2D, BatchNorm, Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.sequence import (
    GRU,
    LSTM,
    RNN,
    Embedding,
    MultiHeadSelfAttention,
    PositionalEncoding,
)

FORMATS = ("text", "unicode", "latex", "markdown")


def _images(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(3, 72))  # flat rows of (2, 6, 6) images, as data sets store them


def _sequences(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=(3, 5, 2))


def _tokens(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 7, (3, 6)).astype(float)


# name: (layers, input shape, inputs, loss)
NETS: dict[str, tuple[Callable[[], list], tuple[int, ...], Callable, str]] = {
    "conv-maxpool": (
        lambda: [Conv2D(2, 3, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(27, 2)],
        (2, 6, 6), _images, "mse",
    ),
    "conv-bn-avgpool": (
        lambda: [Conv2D(2, 3, 3, stride=2), BatchNorm(3), Tanh(), AvgPool2D(2, 1), Flatten(),
                 Dense(3, 2)],
        (2, 6, 6), _images, "cross_entropy",
    ),
    "batchnorm-dense": (
        lambda: [Dense(72, 5), BatchNorm(5), Tanh(), Dense(5, 2)], (72,), _images, "mse",
    ),
    "layernorm-residual": (
        lambda: [Dense(2, 6), Residual([LayerNorm(6), Dense(6, 6), Tanh()]), Dense(6, 1)],
        (5, 2), _sequences, "mse",
    ),
    "rnn": (lambda: [RNN(2, 3), Dense(3, 1)], (5, 2), _sequences, "mse"),
    "lstm": (lambda: [LSTM(2, 3, return_sequences=False), Dense(3, 1)], (5, 2), _sequences, "mse"),
    "gru": (lambda: [GRU(2, 3), Tanh(), Dense(3, 1)], (5, 2), _sequences, "huber"),
    "attention": (
        lambda: [Dense(2, 4), PositionalEncoding(4), MultiHeadSelfAttention(4, 2, causal=True),
                 Dense(4, 1)],
        (5, 2), _sequences, "mse",
    ),
    "embedding-lstm": (
        lambda: [Embedding(7, 4), LSTM(4, 3), Dense(3, 7)], (6,), _tokens, "cross_entropy",
    ),
    "transformer": (
        lambda: [Dense(2, 4), *transformer_block(4, 2, 8), Dense(4, 1)],
        (5, 2), _sequences, "bce_logits",
    ),
}  # fmt: skip


def _targets(net: Sequential, loss: str, rng: np.random.Generator, n: int) -> np.ndarray:
    shape = (n, *net.output_shape)
    if loss == "cross_entropy":
        return rng.integers(0, net.out_features, shape[:-1])
    if loss == "bce_logits":
        return rng.integers(0, 2, shape).astype(float)
    return rng.normal(size=shape)


def setting(name: str, dtype: str = "float64") -> tuple[Sequential, np.ndarray, np.ndarray, str]:
    layers, shape, inputs, loss = NETS[name]
    rng = np.random.default_rng(7)
    net = Sequential(layers(), seed=2, dtype=dtype, input_shape=shape)
    x = inputs(rng)
    return net, x, _targets(net, loss, rng, x.shape[0]), loss


def engine_grad(net: Sequential, x, y, loss: str, param: str, l1=0.0, l2=0.0) -> float:
    net.loss_and_grad(x, y, loss, l1, l2)
    ref = parse_layer_param(net, param)
    return float(net.grads[ref.name][ref.index])


def keys(d: Derivation) -> list[str]:
    return [s.rule.key for s in d.steps]


def steps_of(d: Derivation, key: str) -> list[Step]:
    return [s for s in d.steps if s.rule.key == key]


# (net, parameter, rule keys its derivation must show)
CASES = [
    ("conv-maxpool", "0.W[1,0,2,1]", ["conv_unit", "maxpool_window", "maxpool_route"]),
    ("conv-maxpool", "0.b[2]", ["conv_grad_b", "maxpool_route", "prime_relu"]),
    ("conv-maxpool", "4.W[1,5]", ["dense_grad_W_one", "batch_sum"]),
    ("conv-bn-avgpool", "0.W[2,1,0,2]", ["bn_three_term", "conv_grad_W"]),
    ("conv-bn-avgpool", "1.gamma[1]", ["norm_mean", "norm_var", "norm_xhat", "bn_three_term"]),
    ("conv-bn-avgpool", "1.beta[2]", ["norm_sum_delta", "norm_grad"]),
    ("batchnorm-dense", "1.gamma[3]", ["norm_mean", "bn_three_term", "norm_grad"]),
    ("batchnorm-dense", "0.W[2,40]", ["bn_three_term", "dense_grad_W_one"]),
    ("layernorm-residual", "1.0.gamma[2]", ["into_residual", "ln_three_term", "norm_grad"]),
    ("layernorm-residual", "1.1.W[3,4]", ["into_residual", "dense_grad_W"]),
    ("layernorm-residual", "0.W[4,1]", ["residual_block", "residual_sum", "dense_grad_W"]),
    ("rnn", "0.W_hh[1,2]", ["rec_pre", "rnn_delta", "rnn_norms", "rnn_gain", "rec_grad"]),
    ("rnn", "0.W_ih[2,0]", ["rnn_delta", "rec_grad"]),
    ("rnn", "0.b_hh[0]", ["rnn_delta", "rec_grad"]),
    ("lstm", "0.W_hh[1,2]", ["lstm_c", "lstm_dh", "lstm_dc", "gate_delta", "rec_grad"]),
    ("lstm", "0.W_hh[4,0]", ["lstm_dc", "gate_delta"]),
    ("lstm", "0.W_ih[8,1]", ["lstm_dc", "gate_delta"]),
    ("lstm", "0.b_ih[11]", ["lstm_dc", "gate_delta"]),
    ("gru", "0.W_hh[0,1]", ["gru_h", "gru_dh", "gate_delta"]),
    ("gru", "0.W_hh[4,2]", ["gru_dh", "gate_delta"]),
    ("gru", "0.W_hh[7,0]", ["gru_dh", "gate_delta"]),
    ("gru", "0.W_ih[8,1]", ["gate_delta"]),
    ("attention", "2.W_in[1,3]", ["attn_part", "attn_score", "attn_softmax", "attn_dS", "attn_dQ"]),
    ("attention", "2.W_in[6,0]", ["attn_softmax", "attn_dS", "attn_dK"]),
    ("attention", "2.W_in[11,2]", ["attn_softmax", "attn_dV"]),
    ("attention", "2.b_in[9]", ["attn_dV", "attn_grad"]),
    ("attention", "2.W_out[2,3]", ["attn_grad"]),
    ("embedding-lstm", "0.W[3,1]", ["emb_lookup", "emb_grad"]),
    ("embedding-lstm", "1.W_hh[5,2]", ["lstm_dc", "gate_delta"]),
    ("transformer", "1.1.W_in[9,2]", ["into_residual", "attn_dV"]),
    ("transformer", "0.W[1,0]", ["residual_sum", "ln_three_term"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "param", "parts"), CASES)
def test_the_value_is_the_engines_gradient_and_the_steps_explain_it(name, param, parts) -> None:
    net, x, y, loss = setting(name)
    d = derive(net, x, y, loss, param, sample=1)
    assert d.view == "layer" and d.n_samples == 3
    assert d.value == pytest.approx(engine_grad(net, x, y, loss, param), abs=1e-9, rel=1e-9)
    for key in parts:
        assert key in keys(d), f"{param}: no {key!r} step"
    assert d.part("backward")[-1].value == d.value
    assert d.part("update")[-1].label == "θₜ"


@pytest.mark.parametrize(("name", "param"), [(c[0], c[1]) for c in CASES[::3]])
def test_every_format_renders(name: str, param: str) -> None:
    net, x, y, loss = setting(name)
    d = derive(net, x, y, loss, param)
    for fmt in FORMATS:
        assert param in d.render(fmt)
    latex = d.to_latex()
    assert latex.isascii()
    assert latex.count("{") == latex.count("}")
    assert latex.count(r"\begin{align*}") == latex.count(r"\end{align*}") == len(d.steps)
    for line in d.to_markdown().splitlines():
        assert line.replace(r"\$", "").count("$") % 2 == 0, line
    assert f"{d.value:.10g}" in d.to_text() and f"{d.value:.10g}" in d.to_unicode()


def test_a_convolution_weight_is_a_sum_over_the_output_positions_it_touches() -> None:
    net, x, y, loss = setting("conv-maxpool")
    d = derive(net, x, y, loss, "0.W[1,0,2,1]")
    (local,) = steps_of(d, "conv_grad_W")
    # 6×6 outputs; kernel row 2 reads input row y + 1: the last output row lies over the padding
    assert "30 terms" in local.rule.text and "6 more lie over the zero padding" in local.rule.text
    assert "… 18 more terms" in d.to_text()  # 12 written out
    tape = run_layer_tape(net, x, y, loss)
    delta, inp = tape.grad_out[(0,)][0, 1], tape.inputs[(0,)][0, 0]
    padded = np.pad(inp, 1)
    expected = sum(delta[yy, xx] * padded[yy + 2, xx + 1] for yy in range(6) for xx in range(6))
    assert local.value == pytest.approx(expected, abs=1e-14)


def test_max_pooling_shows_each_windows_winner_and_routes_the_gradient_to_it() -> None:
    net, x, y, loss = setting("conv-maxpool")
    d = derive(net, x, y, loss, "0.W[1,0,2,1]")
    tape = run_layer_tape(net, x, y, loss)
    a, g = tape.inputs[(2,)][0, 1], tape.grad_out[(2,)][0, 1]  # channel 1: the weight's
    windows = steps_of(d, "maxpool_window")
    assert len(windows) == 4
    for step, (py, px) in zip(windows, [(0, 0), (0, 1), (0, 2), (1, 0)]):
        block = a[2 * py : 2 * py + 2, 2 * px : 2 * px + 2]
        assert step.value == pytest.approx(block.max(), abs=1e-15)
        assert f"{g[py, px]:.4g}" in step.rule.text
    (route,) = steps_of(d, "maxpool_route")
    np.testing.assert_allclose(route.value, tape.grad_in[(2,)][0, 1], atol=0)
    assert route.value.sum() == pytest.approx(g.sum(), abs=1e-15)  # every window's δ lands once


def test_an_rnn_weight_is_a_sum_over_time_and_the_vanishing_factor_is_explained() -> None:
    net, x, y, loss = setting("rnn")
    d = derive(net, x, y, loss, "0.W_hh[1,2]")
    deltas = steps_of(d, "rnn_delta")
    assert [s.label for s in deltas] == ["δ₅,₁", "δ₄,₁", "δ₃,₁", "δ₂,₁", "δ₁,₁"]  # from t = T back
    (local,) = steps_of(d, "rec_grad")
    assert len(local.substituted.args) == 5  # one term per time step
    assert all(str(a).startswith("delta|") for a in local.general.args[0].args[:1])
    norms, gain = steps_of(d, "rnn_norms")[0], steps_of(d, "rnn_gain")[0]
    assert norms.value.shape == (5,) and gain.value.shape == (4,)
    assert any(word in gain.rule.text for word in ("vanishes", "explodes", "keeps its size"))


def test_long_sequences_write_out_the_last_steps_and_read_the_earlier_ones() -> None:
    net = Sequential([RNN(2, 3, return_sequences=False), Dense(3, 1)], seed=1, dtype="float64",
                     input_shape=(12, 2))  # fmt: skip
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 12, 2)), rng.normal(size=(2, 1))
    d = derive(net, x, y, "mse", "0.W_hh[0,1]")
    assert len(steps_of(d, "rnn_delta")) == 6 and len(steps_of(d, "rec_earlier")) == 1
    assert d.value == pytest.approx(engine_grad(net, x, y, "mse", "0.W_hh[0,1]"), abs=1e-12)
    assert "vanishes" in steps_of(d, "rnn_gain")[0].rule.text  # small weights, 11 steps back


@pytest.mark.parametrize(("row", "gate"), [(0, "i"), (4, "f"), (7, "g"), (10, "o")])
def test_lstm_gates_and_the_cell_states_path(row: int, gate: str) -> None:
    net, x, y, loss = setting("lstm")
    d = derive(net, x, y, loss, f"0.W_hh[{row},1]")
    deltas = steps_of(d, "gate_delta")
    assert len(deltas) == 5 and all(
        s.label.startswith(f"δ{'ⁱᶠᵍᵒ'['ifgo'.index(gate)]}") for s in deltas
    )
    assert (
        len(steps_of(d, "lstm_dc")) == 5 and "no squashing" in steps_of(d, "lstm_dc")[0].rule.text
    )
    cells = steps_of(d, "lstm_c")
    tape = run_layer_tape(net, x, y, loss)
    h_last = tape.outputs[(0,)][0]
    assert len(cells) == 5 and h_last.shape == (3,)
    assert d.value == pytest.approx(engine_grad(net, x, y, loss, f"0.W_hh[{row},1]"), abs=1e-12)


@pytest.mark.parametrize(("row", "gate"), [(1, "r"), (4, "z"), (8, "n")])
def test_gru_gates(row: int, gate: str) -> None:
    net, x, y, loss = setting("gru")
    d = derive(net, x, y, loss, f"0.W_hh[{row},0]")
    texts = " ".join(s.rule.text for s in steps_of(d, "gate_delta"))
    assert f"of the {gate}" in texts
    assert len(steps_of(d, "gru_dh")) == 5


def test_batch_norm_shows_its_statistics_and_the_three_term_formula() -> None:
    net, x, y, loss = setting("conv-bn-avgpool")
    d = derive(net, x, y, loss, "1.gamma[1]")
    tape = run_layer_tape(net, x, y, loss)
    z = tape.inputs[(1,)][:, 1]  # channel 1 over the batch and the pixels
    (mu,), (var,) = steps_of(d, "norm_mean"), steps_of(d, "norm_var")
    assert mu.value == pytest.approx(z.mean(), abs=1e-14)
    assert var.value == pytest.approx(z.var(), abs=1e-14)
    (three,) = steps_of(d, "bn_three_term")
    assert three.value == pytest.approx(tape.grad_in[(1,)][0, 1, 0, 0], abs=1e-14)
    assert "batch_sum" not in keys(d)  # batch norm's γ sums over the batch itself


def test_layer_norm_and_the_residual_identity_term() -> None:
    net, x, y, loss = setting("layernorm-residual")
    tape = run_layer_tape(net, x, y, loss)
    d = derive(net, x, y, loss, "0.W[4,1]")
    assert steps_of(d, "residual_block")[0].value.shape == (5, 6)  # ∂L̄/∂f = ∂L̄/∂y
    (block,) = [s for s in d.steps if s.label == "[(∂f/∂x)ᵀ∂L̄/∂y]"]  # after the inner layers
    (total,) = steps_of(d, "residual_sum")
    np.testing.assert_allclose(block.value, tape.grad_in[(1, 0)][0], atol=1e-15)
    entry = np.unravel_index(np.abs(tape.grad_in[(1,)][0]).argmax(), (5, 6))
    assert total.value == pytest.approx(tape.grad_in[(1,)][0][entry], abs=1e-14)
    identity = tape.grad_out[(1,)][0][entry]
    assert total.value == pytest.approx(identity + block.value[entry], abs=1e-14)
    d = derive(net, x, y, loss, "1.0.gamma[2]")
    (three,) = steps_of(d, "ln_three_term")
    assert three.value == pytest.approx(tape.grad_in[(1, 0)][0, 0, 2], abs=1e-14)


def test_attention_scores_softmax_and_the_part_of_w_in() -> None:
    net, x, y, loss = setting("attention")
    d = derive(net, x, y, loss, "2.W_in[1,3]")
    assert "of the queries of head 1 of 2:" in steps_of(d, "attn_part")[0].rule.text
    net.forward(x)
    layer = net.layers[2]
    layer.forward(np.asarray(run_layer_tape(net, x, y, loss).inputs[(2,)]), False, False)
    weights = layer.A[0, 0]
    (A,) = [s for s in d.steps if s.label == "A"]
    np.testing.assert_allclose(A.value, weights, atol=1e-14)
    (one,) = steps_of(d, "attn_softmax")
    assert one.value == pytest.approx(weights[4, 0], abs=1e-14)  # causal: the last row sees all
    assert len(steps_of(d, "attn_dQ")) == 5
    assert "of the keys of head 2 of 2" in derive(net, x, y, loss, "2.W_in[6,0]").to_text()


def test_dropout_uses_the_last_training_passs_mask() -> None:
    layers = [Conv2D(1, 2, 3), ReLU(), Dropout(0.4), Flatten(), Dense(8, 2)]
    net = Sequential(layers, seed=3, dtype="float64", input_shape=(1, 4, 4))
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 16)), rng.integers(0, 2, 3)
    net.loss_and_grad(x, y, "cross_entropy")  # draws the masks derive reads
    expected = float(net.grads["0.W"][1, 0, 2, 1])
    d = derive(net, x, y, "cross_entropy", "0.W[1,0,2,1]")
    assert d.value == pytest.approx(expected, abs=1e-12)
    assert verify(net, x, y, "cross_entropy") < 1e-12


def test_a_float32_network_penalties_and_an_optimiser() -> None:
    net, x, y, loss = setting("lstm", dtype="float32")
    opt = optim.Adam(net, lr=0.01)
    for _ in range(2):
        net.loss_and_grad(x, y, loss, 0.01, 0.02)
        opt.step()
    d = derive(net, x, y, loss, "0.W_hh[5,2]", l1=0.01, l2=0.02, optimizer=opt)
    twin, seen = float64_twin(net), np.asarray(net.as_input(x), dtype=np.float64)
    assert d.value == pytest.approx(
        engine_grad(twin, seen, y, loss, "0.W_hh[5,2]", 0.01, 0.02), rel=1e-10
    )
    assert "penalty_grad" in keys(d) and [s.label for s in d.part("update")][-1] == "θₜ"
    net.loss_and_grad(x, y, loss, 0.01, 0.02)
    opt.step()
    flat = parse_layer_param(net, "0.W_hh[5,2]").flat
    assert d.part("update")[-1].value == pytest.approx(float(net.data[flat]), abs=1e-6)


@pytest.mark.parametrize(
    ("name", "param"),
    [
        ("lstm", "0.W_ih[8,1]"),
        ("gru", "0.W_hh[0,1]"),
        ("conv-maxpool", "0.W[1,0,2,1]"),
        ("attention", "2.W_in[5,1]"),
        ("layernorm-residual", "1.1.W[3,4]"),
    ],
)
def test_a_float32_network_is_derived_on_the_inputs_it_sees(name: str, param: str) -> None:
    """The network rounds its inputs to float32; the derivation works from those numbers."""
    net, x, y, loss = setting(name, dtype="float32")
    seen = np.asarray(net.as_input(x), dtype=np.float64)
    assert np.abs(seen.reshape(x.shape) - x).max() > 0  # not the float64 inputs of the data
    expected = engine_grad(float64_twin(net), seen, y, loss, param)
    d = derive(net, x, y, loss, param)
    assert d.value == pytest.approx(expected, rel=1e-10, abs=1e-15)


def test_one_sample_needs_no_batch_sum() -> None:
    net, x, y, loss = setting("conv-maxpool")
    d = derive(net, x[:1], y[:1], loss, "0.W[0,1,1,1]")
    assert "batch_sum" not in keys(d) and d.n_samples == 1
    assert d.value == pytest.approx(engine_grad(net, x[:1], y[:1], loss, "0.W[0,1,1,1]"), abs=1e-12)


@pytest.mark.parametrize(
    "text", ["0.W[0,0]", "0.W[3,0,0,0]", "5.W[0,0]", "1.0.W[0]", "0.W_hh[0,0]"]
)
def test_bad_parameters_list_the_valid_names(text: str) -> None:
    net, x, y, loss = setting("conv-maxpool")
    with pytest.raises(UserError) as err:
        derive(net, x, y, loss, text)
    assert "0.W[0..2,0..1,0..2,0..2]" in err.value.hint


@pytest.mark.parametrize("name", sorted(NETS))
def test_verify_covers_every_layer(name: str) -> None:
    net, x, y, loss = setting(name)
    report = verify_report(net, x, y, loss, l1=0.001, l2=0.01, finite_differences=True)
    assert report.method == "reference" and report.passed(), report.summary()
    assert report.n_params == net.n_params and set(report.per_param) == set(net.params)
    assert report.fd_rel_diff is not None and report.fd_rel_diff < 1e-6, report.summary()


def test_verify_notices_a_wrong_gradient_in_a_new_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    net, x, y, loss = setting("conv-maxpool")
    original = Conv2D.backward

    def wrong(self, grad_out, need_grad_x=True):
        out = original(self, grad_out, need_grad_x)
        self.grads["W"][0, 0, 0, 0] += 1e-3
        return out

    monkeypatch.setattr(Conv2D, "backward", wrong)
    report = verify_report(net, x, y, loss)
    assert not report.passed() and report.worst == "0.W[0,0,0,0]"
    assert report.max_abs_diff == pytest.approx(1e-3, rel=1e-6)


@pytest.mark.parametrize(("name", "param"), [(c[0], c[1]) for c in CASES[::4]])
def test_a_derivation_takes_well_under_a_second(name: str, param: str) -> None:
    net, x, y, loss = setting(name)
    derive(net, x, y, loss, param)  # warm: lambdified rules, compiled kernels
    start = time.perf_counter()
    d = derive(net, x, y, loss, param)
    d.to_text()
    assert time.perf_counter() - start < 1.0
