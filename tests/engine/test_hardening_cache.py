"""Several processes filling one empty Numba cache at once (issue 12, item 13).

Without a lock, two processes saving different signatures of one kernel both took data file
number 1: entries were lost, and an index entry could name the machine code of another
signature. These tests start four processes at the same instant on a fresh cache directory and
then check every index file, data file and the cache hits of a fresh process.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import cachelock, warmup
from engine.kernels.cpu import core
from engine.losses import LOSSES

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4

SAVER = """
import sys, time
from engine import _numba_setup  # noqa: F401  (installs the lock)
from numba.core import caching
rank, start, path, count = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
cache = caching.IndexDataCacheFile(path, "kernel-1.py311", ("stamp", 1))
while time.time() < start:
    time.sleep(0.001)
for i in range(count):
    cache.save((rank, i), ("data", rank, i))
"""

COMPILER = """
import sys, time
from engine import _numba_setup  # noqa: F401  (installs the lock)
import numba
import numpy as np

@numba.njit(cache=True)
def total(a):
    s = a[0] * 0
    for v in a:
        s += v
    return s

@numba.njit(cache=True)
def scale(a, k):
    return a * k

TYPES = [np.float32, np.float64, np.int64, np.int32, np.int16, np.uint8]
rank, start = int(sys.argv[1]), float(sys.argv[2])
while time.time() < start:
    time.sleep(0.005)
for t in TYPES[rank:] + TYPES[:rank]:  # each process compiles another signature first
    a = np.arange(3, dtype=t)
    assert total(a) == 3 and (scale(a, 2) == 2 * a).all()
kernels = (total, scale)
print(sum(k.stats.cache_misses.total() for k in kernels),
      sum(k.stats.cache_hits.total() for k in kernels))
"""


def _run_together(script: Path, args: list[str], cache_dir: Path) -> list[str]:
    """Start PROCESSES copies at once, released together at one instant; their outputs."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    start = str(time.time() + 4.0)  # after every copy has imported the engine
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), start, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    return outputs


def _index(path: Path) -> dict[tuple[object, ...], str]:
    with path.open("rb") as f:
        pickle.load(f)  # Numba's version
        _stamp, overloads = pickle.loads(f.read())
    return dict(overloads)


def test_every_kernel_cache_is_locked() -> None:
    assert cachelock.install()
    cache_file = core.activation_forward_par._cache._cache_file  # type: ignore[attr-defined]
    assert isinstance(cache_file, cachelock.LockedIndexDataCacheFile)


def test_concurrent_saves_keep_every_entry_and_its_own_data(tmp_path: Path) -> None:
    """The race itself, without compiling: 4 × 150 saves into one index at once."""
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    cache = tmp_path / "cache"
    cache.mkdir()
    count = 150
    _run_together(script, [str(cache), str(count)], cache)
    index = _index(cache / "kernel-1.py311.nbi")
    assert len(index) == PROCESSES * count  # unlocked: ~25 % of entries were lost
    assert len(set(index.values())) == len(index)
    for key, name in index.items():  # unlocked: some entries named another key's data
        assert pickle.loads((cache / name).read_bytes()) == ("data", *key)


@pytest.mark.parametrize("round_", range(2))
def test_concurrent_first_compiles_leave_a_whole_cache(tmp_path: Path, round_: int) -> None:
    script = tmp_path / "compiler.py"
    script.write_text(COMPILER)
    cache = tmp_path / "cache"
    _run_together(script, [], cache)
    indexes = list(cache.rglob("*.nbi"))
    assert len(indexes) == 2
    for path in indexes:
        index = _index(path)
        assert len(index) == 6, path.name  # one entry per signature
        assert len(set(index.values())) == len(index), "two entries share a data file"
        for key, name in index.items():
            data = pickle.loads((path.parent / name).read_bytes())
            assert data[3].args == key[0], f"{name} holds another signature's code"
    fresh = subprocess.run(
        [sys.executable, str(script), "0", "0"],
        env={**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    misses, hits = map(int, fresh.stdout.split())
    assert (misses, hits) == (0, 12), "a fresh process had to compile again"


def test_warm_up_holds_its_lock_while_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second process starting at the same moment waits instead of compiling the same kernels."""
    import fcntl

    from engine import warmup

    monkeypatch.setattr(warmup, "_marker", lambda: tmp_path / "warm-test")
    held = []

    def probe(*_args: object, **_kwargs: object) -> None:
        fd = os.open(tmp_path / warmup.WARM_LOCK, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)

    monkeypatch.setattr(warmup, "_one_step", probe)
    monkeypatch.setattr(warmup, "_parallel_twins", probe)
    warmup.warm_up(("float32",))
    assert held and all(held)
    assert (tmp_path / "warm-test").exists()


@pytest.mark.parametrize("loss", LOSSES)
def test_the_warm_up_step_runs_for_every_registered_loss(loss: str) -> None:
    """A first launch warms up every loss: each needs the output unit it works with (a step
    unit for the perceptron's rule), else the warm-up screen fails before the app opens."""
    warmup._one_step("float64", loss, rows=8)
