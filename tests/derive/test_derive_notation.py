"""Parameter names, symbol spelling in every format, and the rules' two forms."""

from __future__ import annotations

import pytest
from derive_helpers import xor_net

from derive import parse_param, valid_names
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
        (sym("W", 1, 0, 1), "W¹₀₁", "W^{1}_{0,1}"),
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
        r = rule(key, **numbers, p=0.5, alpha=0.01, param=("W¹₀₁", "W^{1}_{0,1}"), N="one")
        assert r.text and r.latex and "<" not in r.text.replace("<=", "") and str(r) == r.text
    assert str(rule("prime_sigmoid")) == "derivative of σ: σ(1−σ)"
