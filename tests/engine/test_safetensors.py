"""The NumPy safetensors reader and writer, and ``Sequential.save`` / ``load`` of such files.

The ``safetensors`` package is the oracle: it reads what is written here, and what it writes is
read here (those tests skip without it). Damaged and foreign files end in a UserError naming the
problem.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine import Sequential
from engine.errors import UserError
from engine.interop.safetensors import read_safetensors, write_safetensors
from engine.layers import (
    GRU,
    BatchNorm,
    Conv2D,
    Dense,
    Embedding,
    Flatten,
    MaxPool2D,
    ReLU,
    Tanh,
    transformer_block,
)


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "w": rng.normal(size=(3, 4)),
        "h": rng.normal(size=(5,)).astype(np.float16),
        "f": rng.normal(size=(2, 2, 2)).astype(np.float32),
        "ids": rng.integers(-9, 9, (7,)),
        "bytes": rng.integers(0, 255, (3,)).astype(np.uint8),
        "flags": np.array([True, False, True]),
        "count": np.array(4, dtype=np.int64),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "strided": rng.normal(size=(4, 6))[:, ::2],
    }


def _assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_what_is_written_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    write_safetensors(path, _tensors(), {"note": "hello", "n": "3"})
    tensors, metadata = read_safetensors(path)
    _assert_same(tensors, _tensors())
    assert metadata == {"note": "hello", "n": "3"}
    assert int.from_bytes(path.read_bytes()[:8], "little") % 8 == 0  # tensors start aligned
    tensors["w"][0, 0] = 1.0  # arrays read are the caller's to change
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]  # no temporary left


def test_the_package_reads_our_files_and_we_read_its(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    write_safetensors(ours, _tensors(), {"k": "v"})
    _assert_same(st.load_file(str(ours)), _tensors())
    # the package writes an array's memory as it lies: give it contiguous ones
    contiguous = {k: np.ascontiguousarray(v) for k, v in _tensors().items()}
    contiguous["count"] = _tensors()["count"]  # kept 0-d
    st.save_file(contiguous, str(theirs), metadata={"k": "v"})
    tensors, metadata = read_safetensors(theirs)
    _assert_same(tensors, _tensors())
    assert metadata == {"k": "v"}


def test_bfloat16_is_read_as_float32(tmp_path: Path) -> None:
    values = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")  # exact in bfloat16
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}})
    raw = header.encode() + b" " * (-len(header) % 8)
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bits.tobytes())
    tensors, _ = read_safetensors(path)
    np.testing.assert_array_equal(tensors["x"], values.reshape(2, 2))


def test_a_value_safetensors_cannot_hold_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    with pytest.raises(ValueError, match="complex128"):
        write_safetensors(path, {"z": np.zeros(2, dtype=complex)})
    assert not list(tmp_path.iterdir())


def _file(header: object, data: bytes = b"", length: int | None = None) -> bytes:
    raw = json.dumps(header).encode()
    return (len(raw) if length is None else length).to_bytes(8, "little") + raw + data


def _one(dtype: str, shape: list[int], offsets: list[int], size: int) -> bytes:
    """A file of one tensor ``x`` and ``size`` bytes of data."""
    return _file({"x": {"dtype": dtype, "shape": shape, "data_offsets": offsets}}, bytes(size))


DAMAGED: dict[str, tuple[bytes, str]] = {
    "short": (b"\x01\x02", "fewer than the 8"),
    "length": (_file({}, length=1 << 40), "header would be"),
    "not json": (b"\x04\x00\x00\x00\x00\x00\x00\x00{oops", "not JSON"),
    "not a table": (_file([1, 2]), "not a JSON table"),
    "metadata": (_file({"__metadata__": {"n": 3}}), "text to text"),
    "dtype": (_one("C64", [1], [0, 8], 8), "C64"),
    "fields": (_file({"x": {"dtype": "F32", "shape": [1]}}, bytes(4)), "lacks dtype"),
    "shape": (_one("F32", [3], [0, 4], 4), "do not fit"),
    "negative": (_one("F32", [-1], [0, 4], 4), "counts"),
    "past end": (_one("F32", [2], [0, 8], 4), "do not fit"),
    "gap": (_one("F32", [1], [4, 8], 8), "gap"),
    "trailing": (_one("F32", [1], [0, 4], 6), "6 follow"),
    "overlap": (
        _file(
            {
                "x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            bytes(8),
        ),
        "overlap",
    ),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_a_damaged_file_is_a_user_error(tmp_path: Path, case: str) -> None:
    raw, words = DAMAGED[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(UserError, match=words) as info:
        read_safetensors(path)
    assert str(path) in info.value.message and info.value.hint
    with pytest.raises(UserError):
        Sequential.load(path)


def test_a_missing_file_or_a_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        Sequential.load(tmp_path / "none.safetensors")
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        Sequential.load(tmp_path / "dir.safetensors")


NETWORKS = {
    "mlp": lambda: Sequential([Dense(4, 6), Tanh(), Dense(6, 2)], seed=2),
    "image": lambda: Sequential(
        [Conv2D(1, 2, 3), BatchNorm(2), ReLU(), MaxPool2D(2), Flatten(), Dense(8, 3)],
        seed=2,
        dtype="float64",
        input_shape=(1, 6, 6),
    ),
    "text": lambda: Sequential(
        [Embedding(5, 4), *transformer_block(4, 2, causal=True), GRU(4, 3), Dense(3, 5)],
        seed=2,
        input_shape=(6,),
    ),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_a_network_saves_and_loads(tmp_path: Path, name: str) -> None:
    net = NETWORKS[name]()
    rng = np.random.default_rng(1)
    net.data[...] = rng.normal(size=net.data.shape)
    net.state[...] = rng.uniform(0.5, 1.5, net.state.shape)
    path = tmp_path / "model.safetensors"
    net.save(path)
    back = Sequential.load(path)
    assert back.spec() == net.spec() and back.input_shape == net.input_shape
    assert back.dtype == net.dtype
    np.testing.assert_array_equal(back.data, net.data)
    np.testing.assert_array_equal(back.state, net.state)
    x = rng.integers(0, 5, (3, 6)) if name == "text" else rng.normal(size=(3, net.in_features))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))


def test_tensors_carry_pytorchs_names(tmp_path: Path) -> None:
    """Checked with the package's reader: names, shapes and values, as a state dict holds them."""
    st = pytest.importorskip("safetensors.numpy")
    net = NETWORKS["image"]()
    net.save(tmp_path / "model.safetensors")
    tensors = st.load_file(str(tmp_path / "model.safetensors"))
    assert sorted(tensors) == sorted(
        ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
         "1.num_batches_tracked", "5.weight", "5.bias"]
    )  # fmt: skip
    np.testing.assert_array_equal(tensors["0.weight"], net.params["0.W"])
    np.testing.assert_array_equal(tensors["1.running_var"], net.buffers["1.running_var"])
    np.testing.assert_array_equal(tensors["5.bias"], net.params["5.b"])
    assert tensors["1.num_batches_tracked"].shape == ()


def test_a_file_the_package_wrote_from_our_tensors_loads(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    net = NETWORKS["text"]()
    net.save(tmp_path / "ours.safetensors")
    tensors, metadata = read_safetensors(tmp_path / "ours.safetensors")
    st.save_file(tensors, str(tmp_path / "theirs.safetensors"), metadata=metadata)
    back = Sequential.load(tmp_path / "theirs.safetensors")
    np.testing.assert_array_equal(back.data, net.data)


def test_foreign_and_mismatched_files_are_user_errors(tmp_path: Path) -> None:
    net = NETWORKS["mlp"]()
    write_safetensors(tmp_path / "plain.safetensors", {"0.weight": np.zeros((6, 4))})
    with pytest.raises(UserError, match="no dltui network description"):
        Sequential.load(tmp_path / "plain.safetensors")
    net.save(tmp_path / "model.safetensors")
    tensors, metadata = read_safetensors(tmp_path / "model.safetensors")
    short = {k: v for k, v in tensors.items() if k != "2.bias"}
    write_safetensors(tmp_path / "short.safetensors", short, metadata)
    with pytest.raises(UserError, match="lacks the tensor '2.bias'"):
        Sequential.load(tmp_path / "short.safetensors")
    wrong = {**tensors, "0.weight": np.zeros((4, 6), dtype=np.float32)}
    write_safetensors(tmp_path / "wrong.safetensors", wrong, metadata)
    with pytest.raises(UserError, match="'0.weight' holds float32 of shape"):
        Sequential.load(tmp_path / "wrong.safetensors")
    write_safetensors(tmp_path / "meta.safetensors", tensors, {**metadata, "layers": "[{"})
    with pytest.raises(UserError, match="description is damaged"):
        Sequential.load(tmp_path / "meta.safetensors")


def test_saving_and_loading_import_no_pytorch(tmp_path: Path) -> None:
    """The engine reads and writes the format itself: PyTorch stays an optional extra."""
    script = (
        "import sys\n"
        "from engine import Sequential\n"
        "from engine.layers import Dense\n"
        f"path = {str(tmp_path / 'm.safetensors')!r}\n"
        "Sequential([Dense(2, 3)]).save(path)\n"
        "Sequential.load(path)\n"
        "print(sorted(m for m in ('torch', 'safetensors') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
