"""Atomic, pickle-free ``.npz`` files: arrays plus one JSON metadata record.

A file is written to a temporary name beside the target and renamed over it, so a crash or a
Ctrl-C never leaves half a checkpoint. Loading never unpickles: metadata is JSON text. The
layer specs of a network's file are read in today's keys, whatever version wrote them.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine.errors import UserError
from engine.layers.registry import current_spec

META_KEY = "__meta__"
_REAL_KINDS = "biuf"  # bool, ints, floats: never complex, text, bytes, objects or records
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: os.umask can only be read by setting it


def write_npz(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Writes ``arrays`` and ``meta`` to ``path`` atomically."""
    payload: dict[str, Any] = dict(arrays)
    payload[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    with atomic_file(path) as fh:
        np.savez(fh, **payload)


@contextlib.contextmanager
def atomic_file(path: str | Path, text: bool = False, sync: bool = True) -> Iterator[IO[Any]]:
    """A file open for writing that appears at ``path`` whole or not at all.

    It is written under a temporary name beside ``path`` (its folder made if missing), flushed
    to the disk when ``sync``, and renamed over ``path`` when the block ends; an exception in
    the block removes it and leaves ``path`` as it was. ``text``: UTF-8 text, else bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb") as fh:
            yield fh
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        _publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _publish(tmp: str, path: Path) -> None:
    """Gives the temporary file the usual permissions (mkstemp makes it 0600), then renames it."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)


def write_text(path: str | Path, text: str) -> None:
    """Writes a text file atomically (temp file, then rename)."""
    with atomic_file(path, text=True, sync=False) as fh:
        fh.write(text)


def read_npz(
    path: str | Path, required: tuple[str, ...] = ()
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Reads a file written by ``write_npz``; any problem is a UserError naming the file."""
    path = Path(path)
    fix = "pass a file written by dltui (model.npz or a run's checkpoint.npz)"
    if path.is_dir():
        inside = path / "checkpoint.npz"
        if inside.is_file():
            raise UserError(f"{path} is a run folder, not a checkpoint file", f"pass {inside}")
        raise UserError(f"{path} is a folder, not a checkpoint file", fix)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist", fix)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        # NumPy reads a file that is not an .npz as a pickle, and says to load it unsafely: never
        why = "it is not a dltui .npz file" if "pickle" in str(exc) else str(exc)
        raise UserError(f"checkpoint {path} cannot be read: {why} (damaged?)", fix) from None
    try:
        meta = json.loads(str(arrays.pop(META_KEY)))
    except (KeyError, ValueError):
        raise UserError(f"checkpoint {path} has no dltui metadata", fix) from None
    for name, array in arrays.items():
        if array.dtype.kind not in _REAL_KINDS:
            raise UserError(
                f"checkpoint {path}: array {name!r} holds {array.dtype} values; dltui writes "
                "only real numbers (the file is damaged or not dltui's)",
                f"{fix}; to resume, start the run again in a new folder with --out DIR",
            )
    missing = [k for k in required if k not in arrays]
    if missing or not isinstance(meta, dict):
        raise UserError(f"checkpoint {path} lacks {', '.join(missing) or 'metadata'}", fix)
    if isinstance(meta.get("layers"), list):  # a network's layers, in today's spec keys
        meta["layers"] = [current_spec(spec) for spec in meta["layers"]]
    return arrays, meta
