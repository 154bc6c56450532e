"""The kernels' BLAS thread count, set while the process runs; how Numba's idle threads wait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import Dense, Sequential, threads


def test_blas_threads_can_be_set_and_read_back_and_products_stay_right() -> None:
    before = threads.blas_threads()
    if before is None:
        pytest.skip("this SciPy's BLAS is not OpenBLAS")
    net = Sequential([Dense(64, 64)], seed=0)
    x = np.random.default_rng(0).standard_normal((128, 64)).astype(np.float32)
    expected = net.forward(x).copy()
    try:
        assert threads.set_blas_threads(1)
        assert threads.blas_threads() == 1
        np.testing.assert_allclose(net.forward(x), expected, rtol=1e-6)
    finally:
        threads.set_blas_threads(before)
    assert threads.blas_threads() == before


def test_zero_threads_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        threads.set_blas_threads(0)


def test_blas_to_one_and_back_restore_the_count() -> None:
    before = threads.blas_threads()
    if before is None:
        pytest.skip("this SciPy's BLAS is not OpenBLAS")
    try:
        threads.set_blas_threads(2)
        kept = threads.blas_to_one()
        assert kept == 2 and threads.blas_threads() == 1
        assert threads.blas_to_one() is None  # already on one: nothing to undo
        threads.blas_back(None)
        assert threads.blas_threads() == 1
        threads.blas_back(kept)
        assert threads.blas_threads() == 2
    finally:
        threads.set_blas_threads(before)


RUN = """
import os, sys
import engine
from numba.np.ufunc import parallel
print(os.environ.get("OMP_WAIT_POLICY"), os.environ.get("GOMP_SPINCOUNT"), parallel._is_initialized)
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "None None True"),
        ({"OMP_WAIT_POLICY": "active"}, "active None False"),
        ({"GOMP_SPINCOUNT": "0"}, "None 0 False"),
    ],
)
def test_openmp_wait_is_set_only_while_the_threading_layer_loads(
    env: dict[str, str], expected: str
) -> None:
    """``import engine`` loads Numba's threading layer with the wait it picks and leaves the
    environment as it found it (a later OpenMP library keeps its defaults); a setting the user
    chose is left alone, and then nothing is loaded early."""
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k not in threads.OPENMP_SETTINGS}
    result = subprocess.run(
        [sys.executable, "-c", RUN], env={**clean, **env}, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert result.stdout.split("\n")[-2] == expected


def _proc(root: Path, running: str, states: str) -> Path:
    """A stand-in for ``/proc``: ``loadavg`` with ``running`` ("3/100") and this process's
    threads in ``states`` (one letter each)."""
    (root / "loadavg").write_text(f"0.50 0.40 0.30 {running} 4242\n")
    for tid, state in enumerate(states, start=1):
        task = root / "self" / "task" / str(tid)
        task.mkdir(parents=True)
        (task / "stat").write_text(f"{tid} (py (x) y) {state} 1 1 1 0 -1\n")
    return root


@pytest.mark.parametrize(
    ("running", "states", "others"),
    [("1/90", "R", 0), ("3/90", "RS", 2), ("3/90", "RRR", 0), ("2/90", "RR", 0), ("1/90", "RR", 0)],
)
def test_runnable_elsewhere_leaves_out_this_process(
    tmp_path: Path, running: str, states: str, others: int
) -> None:
    """The machine's runnable threads less this process's own (a spinning BLAS pool is not a
    neighbour); a count that races below the process's own reads as none."""
    proc = _proc(tmp_path, running, states)
    assert threads.runnable_elsewhere(readings=2, proc=proc) == others


def test_runnable_elsewhere_is_unknown_without_proc(tmp_path: Path) -> None:
    assert threads.runnable_elsewhere(readings=1, proc=tmp_path) is None
    (tmp_path / "loadavg").write_text("garbled\n")
    assert threads.runnable_elsewhere(readings=1, proc=tmp_path) is None


@pytest.mark.parametrize(
    ("readings", "others"), [([3, 1, 2], 1), ([2, 2, 0], 0), ([4, None, 1], None), ([-1, 5, 5], 0)]
)
def test_runnable_elsewhere_keeps_the_least_reading(
    monkeypatch: pytest.MonkeyPatch, readings: list[int | None], others: int | None
) -> None:
    """A program runnable in every reading counts, one that passes does not; a reading that
    fails makes the count unknown."""
    left = iter(readings)
    monkeypatch.setattr(threads, "_reading", lambda proc: next(left))
    monkeypatch.setattr(threads.time, "sleep", lambda s: None)
    assert threads.runnable_elsewhere(readings=len(readings)) == others


@pytest.mark.parametrize(
    ("threads_", "others", "cores", "wait"),
    [
        (2, 0, 2, threads.OPENMP_SPIN),  # an idle machine: the pool spins a moment
        (2, 1, 2, threads.OPENMP_WAIT),  # a busy neighbour: it sleeps at once
        (4, 4, 8, threads.OPENMP_SPIN),
        (8, 1, 8, threads.OPENMP_WAIT),
        (2, None, 2, threads.OPENMP_WAIT),  # not known: the safe choice
    ],
)
def test_openmp_wait_spins_only_where_the_cores_are_free(
    threads_: int, others: int | None, cores: int, wait: dict[str, str]
) -> None:
    assert threads.openmp_wait(threads_, others, cores) == wait


@pytest.mark.parametrize(("others", "wait"), [(0, threads.OPENMP_SPIN), (3, threads.OPENMP_WAIT)])
def test_pace_openmp_loads_the_pool_with_its_choice_and_leaves_no_trace(
    monkeypatch: pytest.MonkeyPatch, others: int, wait: dict[str, str]
) -> None:
    """The pool loads while the chosen settings are in the environment, and they are gone
    after, as they were before; the choice is kept for reports. A layer that will not load
    leaves the environment clean too."""
    import os

    import numba
    from numba.np.ufunc import parallel

    for name in threads.OPENMP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    seen: list[dict[str, str]] = []

    def launch() -> None:
        seen.append({k: os.environ[k] for k in threads.OPENMP_SETTINGS if k in os.environ})

    monkeypatch.setattr(parallel, "_is_initialized", False)
    monkeypatch.setattr(parallel, "_launch_threads", launch)
    monkeypatch.setattr(threads, "runnable_elsewhere", lambda: others)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 2)
    threads.pace_openmp()
    assert seen == [wait]
    assert not any(k in os.environ for k in threads.OPENMP_SETTINGS)
    assert threads.openmp_choice == " ".join(f"{k}={v}" for k, v in wait.items())

    def refuse() -> None:
        raise ValueError("no threading layer")

    monkeypatch.setattr(parallel, "_launch_threads", refuse)
    threads.pace_openmp()
    assert threads.openmp_choice == "no threading layer"
    assert not any(k in os.environ for k in threads.OPENMP_SETTINGS)
    monkeypatch.setenv("GOMP_SPINCOUNT", "0")
    threads.pace_openmp()
    assert threads.openmp_choice == "the user's" and os.environ["GOMP_SPINCOUNT"] == "0"


def test_the_machine_here_reads() -> None:
    """Where the kernel has ``/proc`` (the CI machines' Linux) the counts read."""
    if not (threads.PROC / "loadavg").exists():
        pytest.skip("no /proc here")
    others = threads.runnable_elsewhere(readings=1)
    assert others is not None and others >= 0
    assert threads.available_cores() >= 1
