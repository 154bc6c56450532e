"""The files of a run folder, and making one so that a crash never leaves half a run.

``RunDir`` (``engine.experiment.runs``) decides what goes in the files; this module names them,
finds a free folder, builds a new folder beside its target and renames it into place, and turns
the operating system's refusals into UserErrors that name the file.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from engine.errors import UserError, os_error_fix

T = TypeVar("T")

CONFIG, METRICS, CHECKPOINT = "config.toml", "metrics.csv", "checkpoint.npz"
METRICS_JSONL = "metrics.jsonl"


def default_path(name: str, root: str | Path = "runs", now: datetime | None = None) -> Path:
    """``root/NAME-YYYYmmdd-HHMMSS``; ``-2``, ``-3`` … appended when that folder exists.

    NAME is the experiment's name made safe for a folder: other characters become ``-``, and
    it is cut to 64 characters, so a long name in a config cannot make a path the system refuses.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name)[:64].strip("-.") or "run"
    stem = f"{slug}-{(now or datetime.now()):%Y%m%d-%H%M%S}"
    path, n = Path(root) / stem, 2
    while path.exists():
        path, n = Path(root) / f"{stem}-{n}", n + 1
    return path


def resume_command(path: str | Path) -> str:
    """The command that continues the run in ``path`` (for messages)."""
    return f"dltui train --resume {path}"


def check_free(path: Path) -> None:
    """A new run may go into a missing or an empty-of-runs folder, never over another run.

    A folder without checkpoint.npz holds no run, even with a config.toml and a metrics.csv:
    a run stopped while it was being created, before anything was trained.
    """
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file", "choose a folder for the run with --out DIR")
    if (path / CHECKPOINT).exists():
        raise UserError(
            f"{path} already holds a run",
            f"continue it with `{resume_command(path)}`, or choose another --out DIR",
        )


def write(path: Path, action: Callable[[], T]) -> T:
    """Runs ``action``; an error of the file system becomes a UserError naming ``path`` and the
    fix that fits the error."""
    try:
        return action()
    except OSError as exc:
        fix = os_error_fix(exc) or "choose a folder you can write to"
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc}", f"{fix} (--out DIR picks the folder)"
        ) from None


def make_sibling(path: Path) -> Path:
    """A new hidden folder beside ``path``, with the permissions of an ordinary one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp


def rename_into(tmp: Path, path: Path) -> None:
    """Renames the finished folder ``tmp`` to ``path`` (which may be an empty folder)."""
    try:
        os.replace(tmp, path)
    except OSError as exc:
        if path.is_dir() and any(path.iterdir()):  # another process made a run there meanwhile
            raise UserError(
                f"{path} already holds files",
                f"continue it with `{resume_command(path)}`, or choose another --out DIR",
            ) from None
        raise exc
