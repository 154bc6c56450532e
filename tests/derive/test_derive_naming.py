"""One parser for parameter entries (``engine.naming``), as derive and the app read them."""

from __future__ import annotations

import pytest
from derive_helpers import xor_net

from derive import parse_layer_param, parse_param
from engine.errors import UserError
from engine.naming import MAX_DIGITS, ParamName, parse_param_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.W[0,1]", ParamName((2,), "W", (0, 1))),
        ("0.b[2]", ParamName((0,), "b", (2,))),
        ("1.0.W[3]", ParamName((1, 0), "W", (3,))),
        (" 1 . 0 . W_hh [ 3 , 2 ] ", ParamName((1, 0), "W_hh", (3, 2))),
        ("0.W[1,0,2,2]", ParamName((0,), "W", (1, 0, 2, 2))),
    ],
)
def test_reads_every_form(text: str, expected: ParamName) -> None:
    got = parse_param_name(text)
    assert got == expected
    assert parse_param_name(got.text) == got and got.layer == expected.path[0]


@pytest.mark.parametrize(
    "text", ["2.W", "W[0]", "2.W[]", "2.W[0,]", "2..W[0]", "2.W[-1]", "2.W[0](1)", "", "2.9W[0]"]
)
def test_malformed_names_raise_a_value_error_with_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="expected e.g. 2.W"):
        parse_param_name(text)


def test_absurdly_long_numbers_are_refused_cleanly() -> None:
    text = f"0.W[{'7' * 4301},0]"
    with pytest.raises(ValueError, match="4301 digits") as info:
        parse_param_name(text)
    assert "int" not in str(info.value) and len(str(info.value)) < 300
    assert parse_param_name(f"0.W[{'1' * MAX_DIGITS},0]").index[0] == int("1" * MAX_DIGITS)


def test_derive_reads_names_through_it() -> None:
    net = xor_net()
    assert parse_param(net, " 2.W[0, 1]").flat == parse_layer_param(net, "2.W[0,1]").flat
    with pytest.raises(UserError, match="4301 digits"):
        parse_param(net, f"0.W[{'9' * 4301},0]")
    with pytest.raises(UserError, match="cannot read the parameter"):
        parse_layer_param(net, "0.W(0,0)")
