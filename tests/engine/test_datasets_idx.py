"""The IDX parser, on small files written here, gzipped and raw."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from engine.datasets import idx
from engine.errors import UserError


def idx_bytes(values: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode ``values`` as IDX by hand, independently of the parser."""
    header = struct.pack(">BBBB", 0, 0, type_code, values.ndim)
    header += struct.pack(f">{values.ndim}I", *values.shape)
    return header + values.astype(values.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_images_gzipped_or_raw(tmp_path: Path, images: np.ndarray, compress: bool) -> None:
    data = idx_bytes(images)
    path = tmp_path / "img"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = idx.read_idx(path, idx.IMAGES_MAGIC)
    np.testing.assert_array_equal(out, images)
    assert out.dtype == np.uint8 and out.flags.writeable


def test_reads_labels_and_wider_types() -> None:
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    np.testing.assert_array_equal(idx.parse_idx(idx_bytes(labels), magic=2049), labels)
    wide = np.array([[1.5, -2.0], [3.25, 1e9]])
    out = idx.parse_idx(idx_bytes(wide, 0x0E))
    np.testing.assert_array_equal(out, wide)
    assert out.dtype.isnative
    ints = np.array([-70000, 5], dtype=np.int32)
    np.testing.assert_array_equal(idx.parse_idx(idx_bytes(ints, 0x0C)), ints)


def test_wrong_magic_for_the_expected_kind(images: np.ndarray) -> None:
    with pytest.raises(UserError, match="magic number 2051 where 2049"):
        idx.parse_idx(idx_bytes(images), "x.idx", magic=idx.LABELS_MAGIC)


@pytest.mark.parametrize(
    "data", [b"PK\x03\x04" + bytes(20), b"\x00\x00\x08\x00", b"\x00\x00\x07\x01" + bytes(8)]
)
def test_not_an_idx_file(data: bytes) -> None:
    with pytest.raises(UserError, match="not an IDX file") as err:
        idx.parse_idx(data, "bad.idx")
    assert "bad.idx" in err.value.message and "downloaded again" in err.value.hint


def test_truncated_data_and_header(images: np.ndarray) -> None:
    data = idx_bytes(images)
    with pytest.raises(UserError, match=f"truncated: {5 * 784 - 100} of {5 * 784}"):
        idx.parse_idx(data[:-100], "img")
    with pytest.raises(UserError, match="truncated in the header"):
        idx.parse_idx(data[:10], "img")
    with pytest.raises(UserError, match="too short"):
        idx.parse_idx(data[:2], "img")


def test_trailing_bytes_are_corruption(images: np.ndarray) -> None:
    with pytest.raises(UserError, match="3 bytes after the data"):
        idx.parse_idx(idx_bytes(images) + b"abc", "img")


def test_truncated_gzip_stream(tmp_path: Path, images: np.ndarray) -> None:
    packed = gzip.compress(idx_bytes(images))
    path = tmp_path / "img.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(UserError, match="truncated or corrupt gzip") as err:
        idx.read_idx(path)
    assert str(path) in err.value.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        idx.read_idx(tmp_path / "nothing.gz")
