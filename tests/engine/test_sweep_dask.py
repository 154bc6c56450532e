"""Sweeps on a real Dask cluster on 127.0.0.1: a scheduler and two workers, each its own process
started with the ``dask`` command as a user would, against the same points run here."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the cluster extra (distributed) is not installed")

import distributed

import engine
from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.presets import get_preset
from engine.sweep import driver, folder
from engine.sweep.dask import DaskExecutor
from engine.sweep.point import PointTask, run_point

STARTUP_S = 90.0
"""Longest wait for the scheduler and its workers to come up on a busy machine."""

WATCHDOG_S = 300.0
"""After this long the cluster is stopped, so a hung test fails instead of hanging CI."""


def _dask_command(role: str) -> list[str]:
    """The venv's ``dask`` entry point, or the same command through this Python."""
    script = Path(sys.executable).with_name("dask")
    if script.exists():
        return [str(script), role]
    return [sys.executable, "-m", f"distributed.cli.dask_{role}"]


class Cluster:
    """A scheduler and ``n`` workers started as separate ``dask`` commands, one session each."""

    def __init__(self, folder: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[BinaryIO] = []
        self.logs = folder
        self.address = ""

    def start(self, n_workers: int = 2) -> None:
        """Starts the scheduler, then the workers, and waits until they have all joined."""
        file = self.logs / "scheduler.json"
        self._start(
            "scheduler",
            ["--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file)],
        )
        self.address = self._wait_for_address(file)
        for i in range(n_workers):
            # --nthreads 1: one point at a time per worker process (see engine/sweep/dask.py).
            self._start(
                f"worker{i}",
                [self.address, "--nthreads", "1", "--no-dashboard", "--death-timeout", "60"],
            )
        self.client = distributed.Client(self.address, timeout=30, set_as_default=False)
        if n_workers:
            self.client.wait_for_workers(n_workers, timeout=STARTUP_S)

    def _start(self, name: str, args: list[str]) -> None:
        role = "scheduler" if name == "scheduler" else "worker"
        log = (self.logs / f"{name}.log").open("wb")
        self.files.append(log)
        self.procs.append(
            subprocess.Popen(
                [*_dask_command(role), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a group of its own: teardown reaches the nanny's child
            )
        )

    def _wait_for_address(self, file: Path) -> str:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.procs[0].poll() is not None:
                raise RuntimeError(
                    f"the scheduler exited: {(self.logs / 'scheduler.log').read_text()}"
                )
            if file.exists():
                try:
                    return str(json.loads(file.read_text())["address"])
                except (ValueError, KeyError):
                    pass
            time.sleep(0.1)
        raise RuntimeError("the scheduler wrote no address")

    def worker_pids(self) -> dict[str, int]:
        """Each worker's address → the pid of the process running its points."""
        return dict(self.client.run(os.getpid))

    def executing(self) -> dict[str, list[str]]:
        """Each worker's address → the keys of the points it is running right now."""
        return dict(
            self.client.run(
                lambda dask_worker: sorted(str(t.key) for t in dask_worker.state.executing)
            )
        )

    def stop(self) -> None:
        """Stops every process of the cluster; it raises if one is left."""
        with contextlib.suppress(Exception):
            self.client.close(timeout=10)
        for proc in reversed(self.procs):
            with_group(proc, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with_group(proc, signal.SIGKILL)
                proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        left = [p.pid for p in self.procs if group_alive(p.pid)]
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = [p.pid for p in self.procs if group_alive(p.pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        for log in self.files:
            log.close()
        assert not left, f"processes of the cluster outlived it: groups {left}"


def with_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is left (``pgrep -g`` without pgrep)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    logs = tmp_path_factory.mktemp("dask")
    started: list[Cluster] = []
    stopped = threading.Event()

    def watchdog() -> None:
        if not stopped.wait(WATCHDOG_S) and started:
            started[0].stop()

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        started.append(Cluster(logs))
        started[0].start()
        yield started[0]
    finally:
        stopped.set()
        if started:
            started[0].stop()


XOR_GRID = {"train.lr": [0.5, 1.0, 2.0, 4.0]}
"""With two seeds: 8 points of ``xor``."""


def xor(epochs: int) -> Experiment:
    return get_preset("xor").replace(train={"epochs": epochs})


def weights(run: Path) -> dict[str, bytes]:
    """Every array of a run folder's checkpoint, as raw bytes."""
    with np.load(run / "checkpoint.npz") as npz:
        return {name: npz[name].tobytes() for name in npz.files}


def metrics(run: Path) -> list[dict[str, str]]:
    """A run folder's metrics.csv rows without the wall time."""
    with (run / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def same_run(here: Path, there: Path) -> None:
    assert (there / "config.toml").read_bytes() == (here / "config.toml").read_bytes()
    assert weights(there) == weights(here)
    assert metrics(there) == metrics(here)


def without_time(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_a_sweep_on_the_cluster_gives_the_same_runs_bit_for_bit(
    cluster: Cluster, tmp_path: Path
) -> None:
    base = xor(epochs=200)
    here = engine.sweep(base, XOR_GRID, seeds=2, workers=2, out=tmp_path / "here")
    there = engine.sweep(base, XOR_GRID, seeds=2, scheduler=cluster.address, out=tmp_path / "there")
    assert len(here) == 8
    assert {r["state"] for r in here} <= {"done", "diverged"}
    assert without_time(there) == without_time(here)
    for record in here:
        same_run(tmp_path / "here" / record["name"], tmp_path / "there" / record["name"])
    summary = json.loads((tmp_path / "there" / "summary.json").read_text())
    assert without_time(summary["points"]) == without_time(here)
    # The seeds and rates differ, so the runs do: a mix-up between points would show.
    runs = {tuple(sorted(weights(tmp_path / "there" / r["name"]).items())) for r in there}
    assert len(runs) == len(here)


def test_a_worker_killed_mid_point_has_its_point_run_again(
    cluster: Cluster, tmp_path: Path
) -> None:
    # 6000 epochs: a second or more per point, so that a point is running at the kill.
    swept = driver.plan(xor(epochs=6000), XOR_GRID, seeds=2)
    killed: list[str] = []

    def kill_once(record: dict[str, Any]) -> None:
        if not killed:
            killed.append(kill_a_busy_worker(cluster))

    executor = DaskExecutor(cluster.address)
    records = driver.run(swept, tmp_path / "sweep", executor, on_result=kill_once)
    assert [r["id"] for r in records] == [p.id for p, _ in swept.points]
    assert all(r["state"] == "done" for r in records), [r["error"] for r in records]
    summary = json.loads((tmp_path / "sweep" / "summary.json").read_text())
    assert len(summary["points"]) == len(records)
    # The point that died with its worker ran again elsewhere, from the start: same weights.
    ((point, experiment),) = [
        (p, e) for p, e in swept.points if killed[0].startswith(f"dltui-{p.name}-")
    ]
    result = run_point(PointTask(point, experiment.to_dict()))
    here = tmp_path / "here"
    folder.write_run(here, point.name, result.files)
    same_run(here / point.name, tmp_path / "sweep" / point.name)


def test_a_point_that_kills_too_many_workers_comes_back_failed(
    cluster: Cluster, tmp_path: Path
) -> None:
    swept = driver.plan(xor(epochs=6000), XOR_GRID)
    killed: list[str] = []

    def kill_once(record: dict[str, Any]) -> None:
        if not killed:
            killed.append(kill_a_busy_worker(cluster))

    set_allowed_failures(cluster, 0)  # the first worker lost with a point gives up on it
    try:
        records = driver.run(swept, tmp_path, DaskExecutor(cluster.address), on_result=kill_once)
    finally:
        set_allowed_failures(cluster, 3)
    states = {r["name"]: r["state"] for r in records}
    assert len(states) == len(swept.points)  # the sweep ends, with a record for every point
    (lost,) = [name for name in states if killed[0].startswith(f"dltui-{name}-")]
    assert states.pop(lost) == "failed"
    assert "done" in states.values()
    # The scheduler may have queued a second point on the worker it lost (worker saturation
    # gives a one-thread worker up to two): that point was lost with it, and says so too.
    for record in records:
        if record["state"] != "done":
            assert record["state"] == "failed" and "KilledWorker" in record["error"], record


def set_allowed_failures(cluster: Cluster, n: int) -> None:
    cluster.client.run_on_scheduler(
        lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", n)
    )


def kill_a_busy_worker(cluster: Cluster) -> str:
    """SIGKILLs a worker's process while it runs a point; returns that point's key."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = cluster.worker_pids()
        for address, keys in cluster.executing().items():
            if keys and address in pids:
                os.kill(pids[address], signal.SIGKILL)
                return keys[0]
        time.sleep(0.05)
    raise AssertionError("no worker was running a point")


def test_no_scheduler_is_a_user_error_naming_the_address() -> None:
    with pytest.raises(UserError) as caught:
        DaskExecutor("tcp://127.0.0.1:1", connect_timeout=1)
    assert "tcp://127.0.0.1:1" in caught.value.message
    assert "dask scheduler" in caught.value.hint
    assert "dask worker tcp://127.0.0.1:1" in caught.value.hint


@pytest.mark.parametrize("address", ["http://127.0.0.1:8786", "127.0.0.1:port", "localhost"])
def test_a_malformed_address_is_a_user_error_saying_how_to_write_one(address: str) -> None:
    with pytest.raises(UserError) as caught:
        DaskExecutor(address)
    assert repr(address) in caught.value.message
    assert "tcp://HOST:8786" in caught.value.hint


def test_a_scheduler_without_workers_is_a_user_error(tmp_path: Path) -> None:
    lonely = Cluster(tmp_path)
    try:
        lonely.start(n_workers=0)
        with pytest.raises(UserError) as caught:
            DaskExecutor(lonely.address, workers_timeout=0.5)
        assert "has no worker" in caught.value.message
        assert f"dask worker {lonely.address} --nthreads 1" in caught.value.hint
    finally:
        lonely.stop()


def test_the_engine_imports_dask_only_when_a_scheduler_is_named() -> None:
    code = (
        "import sys, engine, engine.sweep.driver, engine.sweep.executors; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_distributed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    with pytest.raises(UserError) as caught:
        DaskExecutor("tcp://127.0.0.1:8786")
    assert 'pip install -e ".[cluster]"' in caught.value.hint
