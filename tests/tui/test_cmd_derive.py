"""``dltui derive``: a preset's derivation printed in every format, and the mistakes it names."""

from __future__ import annotations

import pytest

from engine.errors import UserError
from tui.cli import build_parser, main
from tui.commands import derive as command


def _run(*argv: str) -> int:
    return command.run(build_parser().parse_args(["derive", *argv]))


def test_prints_the_xor_derivation(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--preset", "xor", "--param", "2.W[0,1]") == 0
    out = capsys.readouterr().out
    assert out.startswith("∂L/∂W²₀,₁: the gradient of the loss by 2.W[0,1]")
    for heading in ("Forward pass", "Loss", "Backward pass: the chain rule", "Check:", "Update"):
        assert f"\n{heading}" in out
    assert "δ²₀ = ∂L/∂ŷ₀·σ′(z²₀)" in out and "momentum buffer" in out


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [
        ("text", "[derivative of σ: σ(1−σ)]"),
        ("unicode", "─────"),
        ("latex", r"\begin{align*}"),
        ("markdown", "## Backward pass: the chain rule"),
    ],
)
def test_every_format(fmt: str, marker: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--param", "0.W[1,0]", "--format", fmt) == 0
    assert marker in capsys.readouterr().out


def test_vector_view_and_training_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("--param", "0.b[1]", "--view", "vector", "--steps", "20", "--sample", "3") == 0
    out = capsys.readouterr().out
    assert "δ¹ = ∂L/∂a¹ ⊙ σ′(z¹)" in out and "step t = 21" in out and "x = (1, 1)" in out


def test_an_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(UserError) as err:
        _run("--param", "4.W[0,0]")
    assert "4.W" in err.value.message
    assert "0.W[0..1,0..1], 0.b[0..1], 2.W[0..0,0..1], 2.b[0..0]" in err.value.hint


def test_mistakes_exit_with_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["derive", "--param", "2.W[3,0]"]) == 2
    assert "valid parameters" in capsys.readouterr().err
    assert main(["derive", "--sample", "4"]) == 2
    assert "outside the training set of 4" in capsys.readouterr().err
    assert main(["derive", "--preset", "nope"]) == 2
    assert main(["derive", "--steps", "-1"]) == 2
