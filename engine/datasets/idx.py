"""Reading IDX files, the format MNIST and Fashion-MNIST are distributed in.

An IDX file is a 4-byte magic number — two zero bytes, a type code, the number of dimensions —
then one big-endian uint32 per dimension, then the values in C order. MNIST images have magic
2051 (unsigned bytes, 3 dimensions), labels 2049 (unsigned bytes, 1 dimension). Files may be
gzip-compressed, as distributed, or raw, as some people keep them; the content tells which.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from engine.errors import UserError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

_GZIP_MAGIC = b"\x1f\x8b"
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_FIX = "delete the file so that it is downloaded again, or replace it with a good copy"


def _corrupt(source: str, problem: str) -> UserError:
    return UserError(f"{source}: {problem}", _FIX)


def _header(data: bytes, source: str) -> tuple[int, np.dtype, tuple[int, ...], int]:
    """Decode magic, dtype and dimensions; return them with the offset of the first value."""
    if len(data) < 4:
        raise _corrupt(source, f"only {len(data)} bytes, too short for an IDX file")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES or data[3] == 0:
        raise _corrupt(source, f"not an IDX file (magic number {magic:#010x})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise _corrupt(source, f"truncated in the header ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return magic, _DTYPES[data[2]], dims, offset


def parse_idx(data: bytes, source: str = "IDX data", magic: int | None = None) -> np.ndarray:
    """Decode the bytes of an uncompressed IDX file into an array of its shape.

    Args:
        data: the whole file.
        source: what to call the file in error messages (usually its path).
        magic: the magic number the caller expects, e.g. :data:`IMAGES_MAGIC`; None accepts any.

    Returns:
        The values, in native byte order, with the shape the header gives.

    Raises:
        UserError: on a wrong magic number, a truncated file or trailing bytes.
    """
    found, dtype, dims, offset = _header(data, source)
    if magic is not None and found != magic:
        raise _corrupt(source, f"magic number {found} where {magic} was expected")
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - offset
    if payload < expected:
        raise _corrupt(source, f"truncated: {payload} of {expected} data bytes present")
    if payload > expected:
        raise _corrupt(source, f"corrupt: {payload - expected} bytes after the data")
    values = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=offset)
    return values.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an IDX file from disk, gzip-compressed or raw.

    Raises:
        UserError: if the file is missing, unreadable, a broken gzip stream or malformed IDX.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror})", _FIX) from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise _corrupt(str(path), f"truncated or corrupt gzip data ({exc})") from None
    return parse_idx(data, str(path), magic)
