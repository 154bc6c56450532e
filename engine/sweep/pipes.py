"""The messages between a sweep and its local workers: pickled, each preceded by its length
(8 bytes, little-endian), over a worker's stdin and stdout."""

from __future__ import annotations

import struct
from typing import IO

HEADER = struct.Struct("<Q")


def read_message(stream: IO[bytes]) -> bytes | None:
    """One message's bytes, or None at the end of the stream (a message cut short included)."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None


def write_message(stream: IO[bytes], body: bytes) -> None:
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()
