"""``dltui derive``: a preset's derivation printed in every format, and the mistakes it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.errors import UserError
from engine.experiment.presets import get_preset
from engine.experiment.runs import RunDir
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
        ("text", "[derivative of σ: σ(1 − σ)]"),
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


def _weights(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """The printed θₜ₋₁ and θₜ of a derivation's update."""
    assert _run(*argv) == 0
    update = capsys.readouterr().out.split("\nUpdate")[1]
    before = re.search(r"θₜ₋₁ = \S+ = (\S+)\n", update)
    after = re.search(r"θₜ = θₜ₋₁ .* = (\S+)\n", update)
    assert before and after
    return before[1], after[1]


@pytest.mark.parametrize(
    ("preset", "param", "sample", "l2"),
    [
        ("xor", "2.W[0,1]", "0", 0.0),  # SGD with momentum on the full batch of 4
        ("xor", "0.W[1,0]", "2", 0.05),  # with an L2 penalty
        ("spiral", "2.W[0,1]", "0", 0.0),  # Adam on mini-batches of 10 of 500 samples
        ("spiral", "0.W[3,1]", "5", 0.01),  # Adam with an L2 penalty
    ],
)
@pytest.mark.parametrize("steps", [0, 2])
def test_the_printed_next_weight_is_the_one_the_next_step_gives(
    preset: str,
    param: str,
    sample: str,
    l2: float,
    steps: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if l2:
        build = command.get_preset

        class WithL2:
            def __init__(self, name: str) -> None:
                self.preset = build(name)

            def build(self) -> object:
                run = self.preset.build()
                run.trainer.l2 = l2
                return run

        monkeypatch.setattr(command, "get_preset", WithL2)
    argv = ("--preset", preset, "--param", param, "--sample", sample)
    _, after = _weights(capsys, *argv, "--steps", str(steps))
    before_next, _ = _weights(capsys, *argv, "--steps", str(steps + 1))
    assert after == before_next


def test_a_sample_outside_the_next_batch_is_shown_apart_from_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _run("--preset", "spiral", "--param", "2.W[0,1]", "--sample", "0") == 0
    out = capsys.readouterr().out
    assert "one sample: x = " in out
    assert "∂L̄/∂W²₀,₁ = Σₛ gₛ/10 = " in out and "(the sample above is not among them)" in out


def _printed(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert _run(*argv) == 0
    return capsys.readouterr().out


def _saved_run(folder: Path, preset: str, steps: int) -> Path:
    """A run folder of ``preset`` after ``steps`` training steps, as the app's w saves one."""
    net_run = get_preset(preset).build()
    command._train(net_run, steps)
    RunDir.create(folder, net_run).save(net_run)
    return folder


def test_a_run_folder_is_derived_at_its_weights_and_next_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adam on mini-batches: the checkpoint gives the weights, the optimiser's moments and the
    next batch, so deriving the saved run prints what training the preset as far does."""
    folder = _saved_run(tmp_path / "run", "spiral", 7)
    argv = ("--param", "2.W[0,1]", "--sample", "3")
    trained = _printed(capsys, "--preset", "spiral", "--steps", "7", *argv)
    assert "step t = 8" in trained
    assert _printed(capsys, "--run", str(folder), *argv) == trained
    assert _printed(capsys, str(folder), *argv) == trained  # a folder given as it is
    fresh = _printed(capsys, "--preset", "spiral", *argv)
    assert fresh != trained  # the saved weights, not the initial ones
    further = _printed(capsys, str(folder), "--steps", "2", *argv)
    assert further == _printed(capsys, "--preset", "spiral", "--steps", "9", *argv)


def test_a_config_file_is_derived_as_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(get_preset("spiral").replace(train={"device": "cpu"}).to_toml())
    argv = ("--param", "0.W[3,1]")
    preset = _printed(capsys, "--preset", "spiral", *argv)
    assert _printed(capsys, "--config", str(config), *argv) == preset
    assert _printed(capsys, str(config), *argv) == preset


def test_wrong_sources_exit_with_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _saved_run(tmp_path / "run", "xor", 1)
    config = folder / "config.toml"
    cases = [
        (["derive", str(tmp_path / "nope")], "does not exist"),
        (["derive", "--config", str(tmp_path / "nope.toml")], "nope.toml"),
        (["derive", "--run", str(tmp_path / "nope")], "does not exist"),
        (["derive", "--config", str(folder)], "to derive a run folder: --run"),
        (["derive", "--run", str(config)], "to derive a config file: --config"),
        (["derive", str(tmp_path)], "is not a dltui run"),
        (["derive", str(folder), "--preset", "xor"], "both name the network"),
        (["derive", "--config", str(config), "--run", str(folder)], "give one"),
    ]
    for argv, says in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert says in " ".join(err.split()), (argv, err)
        assert "Traceback" not in err
