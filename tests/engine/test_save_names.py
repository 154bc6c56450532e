"""``net.save`` writes the two formats it names by their suffix, and refuses any other name
rather than write an .npz under it (a ``model.pt`` that PyTorch cannot open)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import UserError
from engine.layers import Dense, ReLU
from engine.network import Sequential


def _net() -> Sequential:
    return Sequential([Dense(3, 4), ReLU(), Dense(4, 2)], seed=5)


@pytest.mark.parametrize("name", ["model.pt", "model", "model.pth", "model.onnx"])
def test_another_suffix_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match="must end in .npz or .safetensors") as caught:
        _net().save(tmp_path / name)
    assert "model.npz" in caught.value.hint and "model.safetensors" in caught.value.hint
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["model.npz", "MODEL.NPZ", "model.safetensors"])
def test_the_named_formats_round_trip(tmp_path: Path, name: str) -> None:
    net = _net()
    net.save(tmp_path / name)
    np.testing.assert_array_equal(Sequential.load(tmp_path / name).data, net.data)


@pytest.mark.parametrize("name", ["model.onnx", "model.pt", "model.pth"])
def test_loading_another_tools_file_names_what_loads(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x08\x07other tool's bytes")
    with pytest.raises(UserError, match="not a file dltui reads networks from") as caught:
        Sequential.load(tmp_path / name)
    assert "from_torch" in caught.value.hint
