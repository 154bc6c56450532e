"""The ``dltui`` command line: what it prints for mistakes, and presets printed as files."""

from __future__ import annotations

from pathlib import Path

import pytest

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
