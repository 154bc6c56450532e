"""``dltui export`` as a user meets it: file names, its help, and a run that did not finish."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from engine.experiment.runs import RunDir
from tui.cli import main

pytest.importorskip("onnx")


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs of the xor preset, all it asked for."""
    out = tmp_path_factory.mktemp("runs") / "xor"
    assert main(["train", "--preset", "xor", "--epochs", "2", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("name", ["model", "model.txt"])
def test_an_onnx_file_name_needs_its_suffix(run_dir: Path, tmp_path: Path, capsys, name) -> None:
    target = tmp_path / name
    assert main(["export", str(run_dir), "--onnx", str(target)]) == 2
    err = capsys.readouterr().err
    assert "must end in .onnx" in err and "model.onnx" in err
    assert not target.exists()


def test_a_finished_run_exports_without_a_note(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(run_dir), "--onnx", str(tmp_path / "xor.onnx")]) == 0
    assert "note:" not in capsys.readouterr().out


def test_a_run_stopped_early_says_which_epoch_it_exports(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    out = tmp_path / "half"
    epochs: list[int] = []
    real_add_row = RunDir.add_row

    def stop_after_three(self: RunDir, row) -> None:  # Ctrl-C once three epochs are written
        real_add_row(self, row)
        epochs.append(row.epoch)
        if len(epochs) == 3:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(RunDir, "add_row", stop_after_three)
    assert main(["train", "--preset", "xor", "--epochs", "50", "--out", str(out)]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    done = RunDir.open(out).epochs_done
    assert 3 <= done < 50
    assert main(["export", str(out), "--onnx", str(tmp_path / "half.onnx")]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"stopped after {done} of its 50 epochs" in text
    assert f"dltui train --resume {out}" in text


def test_the_help_names_the_file_then_what_it_holds(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "write to FILE the weights as safetensors, with PyTorch's names" in help_text
    assert "PyTorch's names to FILE" not in help_text


def test_a_float64_network_says_its_weights_are_rounded(tmp_path: Path, capsys) -> None:
    from engine.layers import Dense, Tanh
    from engine.network import Sequential

    for dtype in ("float64", "float32"):
        Sequential([Dense(2, 3), Tanh(), Dense(3, 1)], seed=0, dtype=dtype).save(
            tmp_path / f"{dtype}.npz"
        )
        source, target = tmp_path / f"{dtype}.npz", tmp_path / f"{dtype}.onnx"
        assert main(["export", str(source), "--onnx", str(target)]) == 0
        said = "float64 weights rounded to float32" in capsys.readouterr().out
        assert said == (dtype == "float64")
