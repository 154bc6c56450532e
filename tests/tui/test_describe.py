"""Networks in words: each kind of preset is described by the layers it builds."""

from __future__ import annotations

import pytest

from engine.experiment.presets import PRESETS, get_preset
from tui.describe import architecture, summary

ARCHITECTURES = {
    "spiral": "dense 8 → 8 → out, tanh",
    "plane": "dense → out (no hidden layer)",
    "xor": "dense 2 → out, sigmoid; sigmoid output",
    "plain-deep": "dense 17 × 16 → out, tanh",
    "lenet-digits": "conv 3×3·16 → pool → conv 3×3·32 → pool → dense 64 → out, relu",
    "lstm-sine": "LSTM 32 → out",
    "gru-adding": "GRU 32 → out",
    "transformer-text": "embed 32 + positions → 2 blocks (2-head attention, MLP 128) → out",
    "autoencoder-digits": "dense 32 → 8 (code) → 32 → out, relu; sigmoid output",
    "residual-deep": "dense 16 → 16 residual blocks (dense 16) → out, tanh",
}


@pytest.mark.parametrize("preset", sorted(ARCHITECTURES))
def test_each_kind_is_described_by_its_layers(preset: str) -> None:
    assert architecture(get_preset(preset).model) == ARCHITECTURES[preset]


def test_the_output_width_is_given_when_known() -> None:
    exp = get_preset("lenet-digits")
    assert architecture(exp.model, 10).endswith("→ dense 64 → 10, relu")
    assert summary(exp, 10).startswith("digits · conv 3×3·16 → pool")


def test_no_preset_gets_an_mlp_description_it_does_not_have() -> None:
    for name in PRESETS:
        model = get_preset(name).model
        text = architecture(model)
        if model.kind in ("transformer", "lstm", "gru", "rnn"):
            assert model.activation not in text, (name, text)
