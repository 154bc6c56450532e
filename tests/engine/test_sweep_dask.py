"""Sweeps on a real Dask cluster on 127.0.0.1: a scheduler and two workers, each its own process
started with the ``dask`` command as a user would, against the same points run here."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the cluster extra (distributed) is not installed")

import distributed

from engine.errors import UserError
from engine.experiment.presets import get_preset
from engine.sweep.dask import DaskExecutor
from engine.sweep.grid import make_points
from engine.sweep.point import PointResult, PointTask, run_point

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
    folder = tmp_path_factory.mktemp("dask")
    started: list[Cluster] = []
    stopped = threading.Event()

    def watchdog() -> None:
        if not stopped.wait(WATCHDOG_S) and started:
            started[0].stop()

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        started.append(Cluster(folder))
        started[0].start()
        yield started[0]
    finally:
        stopped.set()
        if started:
            started[0].stop()


def tasks(epochs: int) -> list[PointTask]:
    """4 learning rates × 2 seeds of ``xor``."""
    base = get_preset("xor").replace(train={"epochs": epochs})
    points = make_points(base, {"train.lr": [0.5, 1.0, 2.0, 4.0]}, seeds=2)
    return [PointTask(point, experiment.to_dict()) for point, experiment in points]


def weights(result: PointResult) -> dict[str, bytes]:
    """Every array of the point's checkpoint, as raw bytes."""
    with np.load(io.BytesIO(result.files["checkpoint.npz"])) as npz:
        return {name: npz[name].tobytes() for name in npz.files}


def metrics(result: PointResult) -> list[dict[str, str]]:
    """The point's metrics.csv rows without the wall time."""
    rows = list(csv.DictReader(io.StringIO(result.files["metrics.csv"].decode())))
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def same(here: PointResult, there: PointResult) -> None:
    assert there.state == here.state
    assert there.epochs == here.epochs
    assert there.final == here.final
    assert there.best == here.best
    assert there.files["config.toml"] == here.files["config.toml"]
    assert weights(there) == weights(here)
    assert metrics(there) == metrics(here)


def test_a_sweep_on_the_cluster_gives_the_same_runs_bit_for_bit(cluster: Cluster) -> None:
    work = tasks(epochs=200)
    local = {task.point.id: run_point(task) for task in work}
    with DaskExecutor(cluster.address) as executor:
        assert executor.workers == 2
        remote = {result.point_id: result for result in executor.map_unordered(work)}
    assert sorted(remote) == sorted(local)
    assert {r.state for r in local.values()} <= {"done", "diverged"}
    for pid, result in local.items():
        same(result, remote[pid])
    # The seeds and rates differ, so the runs do: a mix-up between points would show.
    assert len({tuple(sorted(weights(r).items())) for r in remote.values()}) == len(work)


def test_a_worker_killed_mid_point_has_its_point_run_again(cluster: Cluster) -> None:
    work = tasks(epochs=6000)  # a second or more per point, so a point is running at the kill
    killed: list[str] = []
    results = {}
    with DaskExecutor(cluster.address) as executor:
        for result in executor.map_unordered(work):
            results[result.point_id] = result
            if not killed:
                killed.append(kill_a_busy_worker(cluster))
    assert sorted(results) == sorted(t.point.id for t in work)
    assert all(r.state != "failed" for r in results.values()), [r.error for r in results.values()]
    # The point that died with its worker ran again elsewhere, from the start: same weights.
    (task,) = [t for t in work if killed[0].startswith(f"dltui-{t.point.name}-")]
    same(run_point(task), results[task.point.id])


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


def test_without_distributed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    with pytest.raises(UserError) as caught:
        DaskExecutor("tcp://127.0.0.1:8786")
    assert 'pip install -e ".[cluster]"' in caught.value.hint
