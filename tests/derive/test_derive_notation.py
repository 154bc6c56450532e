"""Parameter names, symbol spelling in every format, and the rules' two forms."""

from __future__ import annotations

import pytest
import sympy as sp
from derive_helpers import xor_net

from derive import parse_param, valid_names
from derive.activations import prime_rule
from derive.expr import More, abbreviate, substitute, truncated
from derive.notation import latex_name, partial, prime, sym, unicode_name
from derive.printers import latex, text, unicode
from derive.rules import RULE_KEYS, rule
from engine import UserError


def test_parse_param_reads_weights_and_biases() -> None:
    net = xor_net()
    ref = parse_param(net, "2.W[0,1]")
    assert (ref.pos, ref.kind, ref.j, ref.k, ref.layer) == (2, "W", 0, 1, 2)
    assert ref.flat == net.params["0.W"].size + net.params["0.b"].size + 1
    bias = parse_param(net, " 0.b[ 1 ] ")
    assert (bias.kind, bias.j, bias.k, bias.layer, bias.flat) == ("b", 1, None, 1, 5)
    assert bias.text == "0.b[1]"


@pytest.mark.parametrize(
    "text", ["2.W[0,5]", "1.W[0,0]", "0.b[0,0]", "0.W[0]", "W[0,1]", "__import__('os')", ""]
)
def test_bad_parameters_list_the_valid_names(text: str) -> None:
    with pytest.raises(UserError) as err:
        parse_param(xor_net(), text)
    assert "0.W[0..1,0..1]" in err.value.hint and "2.b[0..0]" in err.value.hint


def test_valid_names() -> None:
    assert valid_names(xor_net()) == ["0.W[0..1,0..1]", "0.b[0..1]", "2.W[0..0,0..1]", "2.b[0..0]"]


@pytest.mark.parametrize(
    ("symbol", "uni", "tex"),
    [
        (sym("W", 1, 0, 1), "W¹₀,₁", "W^{1}_{0,1}"),
        (sym("c", None, 10), "c₁₀", "c_{10}"),
        (sym("c", None, 1, 0), "c₁,₀", "c_{1,0}"),
        (sym("W", 1, 12, 3), "W¹₁₂,₃", "W^{1}_{12,3}"),
        (sym("yhat", None, 0), "ŷ₀", r"\hat{y}_{0}"),
        (sym("a~", 2, 1), "ã²₁", r"\tilde{a}^{2}_{1}"),
        (sym("m", None, "t-1"), "mₜ₋₁", "m_{t-1}"),
        (partial("L", sym("a", 2, 0)), "∂L/∂a²₀", r"\frac{\partial L}{\partial a^{2}_{0}}"),
        (prime("sigmoid", sym("z", 2, 0)), "σ′(z²₀)", r"\sigma'\left(z^{2}_{0}\right)"),
    ],
)
def test_symbols_are_spelled_for_each_format(symbol, uni: str, tex: str) -> None:
    assert unicode_name(symbol.name) == uni
    assert latex_name(symbol.name) == tex
    assert text(symbol) == uni and latex(symbol) == tex
    if "∂" not in uni:
        assert unicode(symbol) == uni


def test_pretty_printing_stacks_partial_derivatives() -> None:
    assert unicode(partial("L", sym("a", 2, 0))).splitlines() == [" ∂L ", "────", "∂a²₀"]


def test_every_rule_has_both_forms_filled() -> None:
    for key in RULE_KEYS:
        numbers = dict.fromkeys(("delta", "label", "n", "s", "count", "t", "wd", "lr", "j"), 1)
        r = rule(key, **numbers, p=0.5, alpha=0.01, param=("W¹₀,₁", "W^{1}_{0,1}"), N="one")
        assert r.text and r.latex and "<" not in r.text.replace("<=", "") and str(r) == r.text
    assert str(prime_rule("sigmoid")) == "derivative of σ: σ(1 − σ)"


def test_wide_expressions_fit_a_width_without_cutting_numbers() -> None:
    xs = [sym("x", None, i) for i in range(30)]
    line = sp.Add(*[x * w for x, w in zip(xs, [sym("W", 1, 0, i) for i in range(30)])])
    assert max(len(s) for s in unicode(line).splitlines()) > 60
    for expr in (line, substitute(line, {x: 0.123456 * (i + 1) for i, x in enumerate(xs)})):
        lines = unicode(expr, width=60).splitlines()
        assert len(lines) > 1 and all(len(s) <= 60 for s in lines)
        assert all(s.startswith("    ") for s in lines[1:])  # later lines indented
    numbers = unicode(substitute(line, {x: 0.123456 for x in xs}), width=60)
    assert "0.1235" in numbers and "0.12\n" not in numbers  # breaks fall between terms
    tall = sp.exp(xs[0]) / sp.Add(*[sp.exp(x) for x in xs])  # a softmax: stacked, so cut
    lines = unicode(tall, width=60).splitlines()
    assert all(len(s) <= 60 for s in lines) and any(s.endswith("↪") for s in lines)
    assert unicode(line, width=1000) == unicode(line)


def test_abbreviating_a_cut_sum_counts_every_term_left_out() -> None:
    terms = [sym("a", None, i) for i in range(20)]
    cut = truncated(sp.Add(*terms, evaluate=False), 10, 30, 1)  # 10 terms, "… 30 more", a₁₉
    short = abbreviate(cut)
    assert short.args[:3] == cut.args[:3] and short.args[-1] == terms[-1]
    (more,) = [a for a in short.args if isinstance(a, More)]
    assert more.count == 37 and "37 more terms" in unicode(short)
