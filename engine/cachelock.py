"""Several processes sharing one Numba disk cache without losing or mixing up its entries.

How Numba's cache works: each cached function has an index file (``<name>.nbi``) mapping a key
(signature, CPU, bytecode hash) to a data file ``<name>.<number>.nbc`` holding the compiled code.
Saving a new specialisation reads the index, takes the first free number, rewrites the index and
writes the data file. Each file is replaced atomically, but the read-modify-write as a whole is
not: two processes compiling different signatures of one function at once both read the same
index, both take number 1, and the last index written wins. One entry is lost, and worse, the
surviving entry may point at a file the other process wrote last, so that a later start loads
the machine code of one signature for another.

The fix is an advisory lock (``fcntl.flock``) on one lock file per cache directory: saving holds
it exclusively around the whole read-modify-write, loading holds it shared around reading the
index and the data file it names. Saving writes the data file before the index, so a process
killed in between leaves an unreferenced file, never an index entry pointing at missing or
foreign data. Compilation itself stays unlocked: two processes may compile the same signature,
which costs time but not correctness, while holding a lock through a compilation would make every
process wait for every other one's compile.

Why this shape: every kernel in the engine is declared with ``njit(cache=True)``, which gives each
dispatcher a :class:`numba.core.caching.FunctionCache` that builds its index through the module
name ``IndexDataCacheFile``. Replacing that one name, once, before any kernel is defined (which
:mod:`engine._numba_setup` guarantees) covers every kernel and also the ``parallel=True`` helper
libraries, with no change to how kernels are written. A lock around ``warm_up`` alone would not
do: ``dltui train`` compiles on first use without warming up. Where ``fcntl`` or the private
methods used here are missing (Windows, a future Numba), Numba's own unlocked class stays.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from typing import Any

from numba.core import caching

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "dltui-cache.lock"
"""The lock file, one per cache directory (Numba keeps one directory per source folder)."""

_USED = ("_load_index", "_save_index", "_load_data", "_save_data", "_data_name", "_cache_path")


@contextlib.contextmanager
def locked(directory: str, *, exclusive: bool, name: str = LOCK_NAME) -> Iterator[None]:
    """Hold the lock file ``name`` of ``directory``, shared or exclusive, for the ``with`` body.

    If the lock file cannot be opened or locked (a read-only or missing directory, a file system
    without locks), the body runs unlocked, as Numba itself would run it.
    """
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(os.path.join(directory, name), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):  # no locks here: run unlocked
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class LockedIndexDataCacheFile(caching.IndexDataCacheFile):
    """Numba's index-and-data cache file, with its updates serialised across processes."""

    _cache_path: str

    def save(self, key: Any, data: Any) -> None:
        """Store ``data`` under ``key``: the data file first, then the index that names it."""
        with locked(self._cache_path, exclusive=True):
            overloads = self._load_index()
            name = overloads.get(key)
            if name is None:
                taken = set(overloads.values())
                name = next(n for n in map(self._data_name, itertools.count(1)) if n not in taken)
            self._save_data(name, data)
            if overloads.get(key) != name:
                overloads[key] = name
                self._save_index(overloads)

    def load(self, key: Any) -> Any:
        """The data stored under ``key``, or None; no save can run between index and data."""
        with locked(self._cache_path, exclusive=False):
            return super().load(key)

    def flush(self) -> None:
        """Empty the index."""
        with locked(self._cache_path, exclusive=True):
            super().flush()


def install() -> bool:
    """Make every cache Numba creates from now on a locked one; False where that is unsupported."""
    base = caching.IndexDataCacheFile
    if base is LockedIndexDataCacheFile or issubclass(base, LockedIndexDataCacheFile):
        return True
    probe = base("", "probe", None)
    if fcntl is None or not all(hasattr(probe, name) for name in _USED):
        return False
    caching.IndexDataCacheFile = LockedIndexDataCacheFile  # type: ignore[misc]
    return True
