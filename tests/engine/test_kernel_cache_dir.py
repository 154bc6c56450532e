"""The kernel cache lives in a folder named by the digest of every kernel's source.

Numba tells a stale cache entry only by its own file's time stamp, so a kernel whose callee in
another file changed (an upgrade, a ``git pull`` into an editable install) would otherwise load
its old machine code. Each version therefore gets a folder of its own, and the caches of other
versions are deleted once they have gone a month without a start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import _numba_setup

ROOT = Path(__file__).resolve().parents[2]


def test_the_digest_covers_every_module_with_cached_kernels() -> None:
    engine = ROOT / "engine"
    cached = {p for p in engine.rglob("*.py") if "cache=True" in p.read_text()}
    cached -= {engine / "_numba_setup.py", engine / "cachelock.py"}  # they only mention it
    covered = {engine / "activations.py", *(engine / "kernels").rglob("*.py")}
    assert cached <= covered, f"cached kernels outside the digest: {sorted(cached - covered)}"
    assert len(_numba_setup.kernel_digest()) == 16


def test_a_start_without_numba_cache_dir_uses_the_folder_of_its_digest(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env |= {"XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    code = "import numba, engine; print(numba.config.CACHE_DIR)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = tmp_path / "dltui" / "numba" / _numba_setup.kernel_digest()
    assert Path(out.stdout.strip()) == expected
    assert expected.is_dir()


def test_other_versions_caches_go_after_a_month_without_a_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    mine = _numba_setup.kernel_cache_dir()
    old, recent, stray = (mine.parent / name for name in ("0" * 16, "1" * 16, "cpu_legacy"))
    for folder in (mine, old, recent, stray):
        (folder / "cpu_x").mkdir(parents=True)
        (folder / "cpu_x" / "k.nbi").write_bytes(b"index")
    long_ago = time.time() - 31 * 86400
    for path in (mine, old, stray):
        os.utime(path, (long_ago, long_ago))
    _numba_setup.prune_other_caches()
    assert mine.is_dir() and recent.is_dir()  # in use, or started lately
    assert stray.is_dir()  # not named by a digest: not ours to judge
    assert not old.exists()


def test_a_start_marks_its_cache_as_in_use(tmp_path: Path) -> None:
    """Loading kernels changes nothing in the folder, so each start touches it: a version in
    daily use with nothing new to compile is never taken for an abandoned one."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env |= {"XDG_CACHE_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    folder = tmp_path / "dltui" / "numba" / _numba_setup.kernel_digest()
    folder.mkdir(parents=True)
    os.utime(folder, (0, 0))
    subprocess.run([sys.executable, "-c", "import engine"], env=env, check=True, timeout=300)
    assert folder.stat().st_mtime > time.time() - 3600


def test_a_cache_folder_of_the_users_choosing_is_never_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    old = _numba_setup.kernel_cache_dir().parent / ("0" * 16)
    old.mkdir(parents=True)
    os.utime(old, (0, 0))
    _numba_setup.prune_other_caches()
    assert old.is_dir()
