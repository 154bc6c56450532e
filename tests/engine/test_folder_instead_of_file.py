"""A folder where a file belongs: a run folder for a config or a checkpoint, or any other
folder, is named as what it is, with the path to pass instead (exit code 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import UserError
from engine.experiment.runfiles import CHECKPOINT, CONFIG
from engine.layers import Dense
from engine.network import Sequential
from tui.cli import main


@pytest.fixture
def run_like(tmp_path: Path) -> Path:
    """A folder holding what a run folder holds by name."""
    run = tmp_path / "spiral-run"
    run.mkdir()
    (run / CONFIG).write_text("[data]\nname = 'xor'\n", encoding="utf-8")
    Sequential([Dense(2, 1)], seed=0).save(run / CHECKPOINT)
    return run


@pytest.mark.parametrize("command", [["train"], [], ["serve"]])
def test_a_run_folder_as_a_config_names_resume_and_its_config(
    run_like: Path, capsys, monkeypatch, command: list[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    assert main([*command, str(run_like)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{run_like} is a run folder, not a config file" in err
    assert f"dltui train --resume {run_like}" in err and str(run_like / CONFIG) in err
    assert "Errno" not in err


def test_another_folder_as_a_config_is_named_a_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    assert main(["train", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{tmp_path} is a folder, not a config file" in err and "Errno" not in err


def test_loading_a_run_folder_names_its_checkpoint(run_like: Path) -> None:
    with pytest.raises(UserError) as caught:
        Sequential.load(run_like)
    assert "is a run folder" in str(caught.value)
    assert str(run_like / CHECKPOINT) in caught.value.hint


def test_loading_another_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a folder, not a checkpoint file"):
        Sequential.load(tmp_path)
