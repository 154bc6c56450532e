"""One way to number layers: the maths counts from 1 in every derivation (Dense stacks and
layer by layer alike), and the engine's 0-based name is printed beside the symbol."""

from __future__ import annotations

import re

from derive_helpers import XOR_X, XOR_Y, xor_net

from derive import derive
from derive.notation import unicode_name
from engine.experiment.presets import get_preset


def test_a_dense_stack_counts_its_layers_from_1_and_names_the_engines_layer() -> None:
    d = derive(xor_net(), XOR_X[:1], XOR_Y[:1], "mse", "0.W[0,1]")
    assert unicode_name(d.symbol.name) == "W¹₀,₁"
    assert "0.W[0,1], layer 1 (the engine's layer 0)" in d.to_text()


def test_a_layer_by_layer_derivation_counts_from_1_too() -> None:
    run = get_preset("lenet-digits").build()
    t = run.experiment.train
    x, y = run.data.X_train[:1], run.data.y_train[:1]
    conv = derive(run.net, x, y, t.loss, "0.W[0,0,0,0]")
    assert conv.view == "layer" and unicode_name(conv.symbol.name) == "W¹₀,₀,₀,₀"
    assert "layer 1 (Conv2D, the engine's layer 0)" in conv.to_text()
    last = len(run.net.layers) - 1
    dense = derive(run.net, x, y, t.loss, f"{last}.W[0,0]")
    assert unicode_name(dense.symbol.name).startswith(f"W{_sup(last + 1)}₀,₀")
    # the outputs are numbered as the layers: the network's output is a^(number of layers)
    labels = {s.label for s in conv.steps}
    assert any(label.startswith(f"∂L̄/∂a{_sup(last + 1)}") for label in labels)
    assert not [label for label in labels if re.search(r"[Wδa]⁰(?![¹-⁹⁰])", label)]  # no layer 0


def _sup(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
