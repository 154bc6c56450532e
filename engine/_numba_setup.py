"""Numba settings that must be in place before any kernel is defined.

Kernels are compiled once and cached on disk (``cache=True``). The cache goes to a directory the
user can write — ``$NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/dltui/numba`` (``~/.cache``
by default) — so an installed, read-only package still starts fast. The ``omp`` threading layer is
preferred because the ``workqueue`` layer aborts when two threads run parallel kernels at once,
which is exactly what the app does (a training worker beside the interface). Updates of the cache
are serialised across processes (:mod:`engine.cachelock`), since several dltui processes may fill
one empty cache at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba

from engine import cachelock, threads


def user_cache_dir() -> Path:
    """The per-user cache directory of dltui (kernels, downloaded data)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dltui"


def configure() -> None:
    """Point Numba's cache at a writable directory, lock its updates, prefer a thread-safe layer."""
    cachelock.install()
    if not os.environ.get("NUMBA_CACHE_DIR"):
        cache = user_cache_dir() / "numba"
        try:
            cache.mkdir(parents=True, exist_ok=True)
            numba.config.CACHE_DIR = str(cache)  # type: ignore[attr-defined]
        except OSError:
            pass  # Numba falls back to __pycache__ beside the sources.
    if not os.environ.get("NUMBA_THREADING_LAYER"):
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]  # type: ignore[attr-defined]
    threads.calm_openmp()  # idle threads sleep instead of spinning (engine.threads)


configure()
