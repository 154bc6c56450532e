"""The layer derivations' registry against the engine's: the same layer types, each complete."""

from __future__ import annotations

import pytest

from derive.layers.derivations import derivation, derivations
from derive.layers.layer_rules import RULE_KEYS, rule
from derive.layers.phrases import GATE_DELTAS, GATES, LOSS_GRADS
from engine.layers.registry import BUILDERS


def test_derive_and_engine_list_the_same_layer_types() -> None:
    assert set(derivations()) == set(BUILDERS)


@pytest.mark.parametrize("type_name", sorted(BUILDERS))
def test_every_layer_type_has_a_reference_pass_and_its_way_back(type_name: str) -> None:
    d = derivation(type_name)
    assert d.type_name == type_name and callable(d.forward) and callable(d.backward)
    text, tex = d.how
    assert text and tex.isascii()


def test_a_missing_layer_type_raises_with_the_names() -> None:
    with pytest.raises(ValueError, match="Conv2D"):
        derivation("Capsule")


def test_every_layer_rule_and_phrase_has_both_forms_and_latex_is_ascii() -> None:
    for key in RULE_KEYS:
        r = rule(key)
        assert r.text and r.latex.isascii(), key
    for table in (GATES, GATE_DELTAS, LOSS_GRADS):
        for key, (text, tex) in table.items():
            assert text and tex.isascii(), key
