"""``dltui presets`` lists the presets and, from their registry, the data sets."""

from __future__ import annotations

import pytest

from engine import datasets
from engine.experiment.presets import PRESETS
from tui.cli import main


def test_presets_lists_every_preset_and_every_data_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # one line per description, as in a wide terminal
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PRESETS)
    for record in datasets.records():
        assert record.name in out and record.description in out
        shown = [o for o in record.options if o.kind != "other"]
        assert all(f"{o.name}=" in out for o in shown)
    assert "csv:PATH" in out and '[data] name = "NAME"' in out


def test_an_unknown_preset_exits_with_2_and_the_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "--show", "spiarl"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'spiarl'" in err and "spiral" in err and "Traceback" not in err
