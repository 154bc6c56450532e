"""Numba settings that must be in place before any kernel is defined.

Kernels are compiled once and cached on disk (``cache=True``). The cache goes to a directory the
user can write — ``$NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/dltui/numba/<digest>``
(``~/.cache`` by default) — so an installed, read-only package still starts fast. The digest is
that of every kernel's source (``kernel_digest``): Numba checks only the file a kernel is written
in, so a kernel whose callee in another file changed would otherwise run its old machine code.

The ``omp`` threading layer is preferred because the ``workqueue`` layer aborts when two threads
run parallel kernels at once, which is exactly what the app does (a training worker beside the
interface). Updates of the cache are serialised across processes (:mod:`engine.cachelock`), since
several dltui processes may fill one empty cache at once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import numba

from engine import cachelock, threads


def user_cache_dir() -> Path:
    """The per-user cache directory of dltui (kernels, downloaded data)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dltui"


KEEP_OTHER_CACHES_DAYS = 30
"""How long the kernel cache of another version (another digest) is kept after its last start."""

_DIGEST_NAME = re.compile(r"[0-9a-f]{16}")


@functools.cache
def kernel_digest() -> str:
    """A hash of the source of every module with cached kernels (read once per process)."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in [root / "activations.py", *sorted((root / "kernels").rglob("*.py"))]:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def kernel_cache_dir() -> Path:
    """Where this version's kernels are cached unless ``$NUMBA_CACHE_DIR`` says otherwise."""
    return user_cache_dir() / "numba" / kernel_digest()


def prune_other_caches(days: float = KEEP_OTHER_CACHES_DAYS) -> None:
    """Deletes the kernel caches of other versions not started for ``days`` (best effort).

    Every start touches its own folder (``configure``): loading kernels from the cache changes
    nothing in it. Only folders named by a digest are looked at, never ``$NUMBA_CACHE_DIR``,
    which is the user's own.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    mine = kernel_cache_dir()
    cutoff = time.time() - days * 86400
    try:
        entries = list(mine.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry == mine or not _DIGEST_NAME.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):  # gone already, or not ours to delete
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)


def configure() -> None:
    """Point Numba's cache at a writable directory, lock its updates, prefer a thread-safe layer."""
    cachelock.install()
    if not os.environ.get("NUMBA_CACHE_DIR"):
        try:
            cache = kernel_cache_dir()  # reads the kernels' sources, for their digest
            cache.mkdir(parents=True, exist_ok=True)
            os.utime(cache)  # this version was started now (``prune_other_caches``)
            numba.config.CACHE_DIR = str(cache)  # type: ignore[attr-defined]
        except OSError:
            pass  # Numba falls back to __pycache__ beside the sources.
    if not os.environ.get("NUMBA_THREADING_LAYER"):
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]  # type: ignore[attr-defined]
    threads.pace_openmp()  # how idle threads wait: as the machine allows (engine.threads)


configure()
