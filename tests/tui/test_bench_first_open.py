"""The first-opening benchmark: a preset's compile on an empty cache, timed in a fresh process."""

from __future__ import annotations

import pytest

from tui.bench import first_open


def test_a_first_opening_compiles_the_first_step_in_a_process_of_its_own() -> None:
    found = first_open.first_open("xor")
    assert found.preset == "xor"
    assert found.seconds > 0
    names = {c.kernel for c in found.compiles}
    assert "dense_forward" in names  # an empty cache: the first step's kernels compile
    top = found.top(3)
    assert [c.seconds for c in top] == sorted((c.seconds for c in top), reverse=True)
    assert all(c.seconds <= found.seconds and c.depth >= 0 for c in found.compiles)


def test_an_unknown_preset_is_named_before_anything_runs(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        first_open.main(["--preset", "no-such-preset"])
    assert stop.value.code == 2
    assert "no-such-preset" in capsys.readouterr().err
