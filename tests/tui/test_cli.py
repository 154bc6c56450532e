"""The ``dltui`` command line: what it prints for mistakes, and presets printed as files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from engine.experiment.config import Experiment
from engine.experiment.presets import PRESETS, get_preset
from tui.cli import main


def test_an_error_keeps_the_section_names_in_brackets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # short paths: the message fits one line
    bad_section = tmp_path / "k2.toml"
    bad_section.write_text("[modle]\nhidden = [4]\n")
    assert main(["train", "k2.toml"]) == 2
    err = capsys.readouterr().err
    assert "unknown section or key 'modle'" in err
    assert "the sections are [data], [model], [train]" in err
    bad_key = tmp_path / "k1.toml"
    bad_key.write_text("[model]\nhiden = [4]\n")
    assert main(["train", "k1.toml"]) == 2
    assert "k1.toml [model]: unknown key 'hiden'" in capsys.readouterr().err


@pytest.mark.parametrize("name", PRESETS)
def test_a_shown_preset_is_its_config_file_verbatim(
    name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``dltui presets --show NAME > my.toml`` is a config file: captured output is a pipe."""
    assert main(["presets", "--show", name]) == 0
    text = capsys.readouterr().out
    assert text == get_preset(name).to_toml()
    tomllib.loads(text)
    path = tmp_path / "my.toml"
    path.write_text(text)
    assert Experiment.from_toml(path) == get_preset(name)


def test_an_unknown_word_is_neither_a_subcommand_nor_a_config_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "'frobnicate' is neither a subcommand nor a config file" in err
    assert "train, derive, bench, presets" in err
    assert main(["missing.toml"]) == 2  # clearly meant as a file: says the file is missing
    assert "missing.toml does not exist" in capsys.readouterr().err


def test_the_apps_device_option_replaces_the_configs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dltui CONFIG --device cpu`` opens the app on the CPU whatever the config names."""
    import tui.app
    import tui.commands.app

    opened: list[str] = []

    class FakeApp:
        def __init__(self, experiment: Experiment, run: object) -> None:
            opened.append(experiment.train.device)

        def run(self) -> int:
            return 0

    monkeypatch.setattr(tui.app, "DltuiApp", FakeApp)
    monkeypatch.setattr(tui.commands.app, "start_background", lambda *args: None)
    config = tmp_path / "gpu.toml"
    config.write_text(get_preset("xor").replace(train={"device": "cuda"}).to_toml())
    assert main([str(config), "--device", "cpu"]) == 0
    assert main(["--preset", "xor"]) == 0
    assert opened == ["cpu", "cpu"]


def test_the_app_on_cuda_without_a_gpu_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from numba import cuda

    if cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    assert main(["--preset", "xor", "--device", "cuda"]) == 2
    assert "no CUDA GPU found" in capsys.readouterr().err
    assert main(["--preset", "xor", "--device", "tpu"]) == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err
