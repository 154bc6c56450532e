"""Where a sweep's points run: processes on this machine (here) or a Dask cluster (``dask``).

Every executor takes ``PointTask``\\ s and gives back ``PointResult``\\ s as they finish, in any
order (``map_unordered``), and lets go of its workers with ``close``.

``LocalExecutor`` starts N processes with the "spawn" method, each limited to one thread for
Numba, OpenMP and BLAS, so N workers keep N cores busy without fighting over them. The thread
variables must be in a process's environment before it loads Numba and OpenBLAS, and a spawned
process inherits the environment its parent has when it starts it: the pool's processes are all
started at once, with the variables set for that moment. They also start with Ctrl-C ignored
(an ignored signal stays ignored in a new process): Ctrl-C is the asking process's to handle,
and it stops the workers itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from engine.sweep.point import PointResult, PointTask, run_point

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
RETRIES = 2
_START_LOCK = threading.Lock()  # the environment is the process's: one pool starts at a time


class Executor(Protocol):
    """What the sweep driver needs from a place to run points."""

    def map_unordered(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]: ...

    def close(self) -> None: ...


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LocalExecutor:
    """``workers`` processes on this machine, one thread each.

    A process that dies (killed, out of memory) takes its pool down with every point running in
    it: those points run again in a new pool, up to RETRIES times each, then come back failed.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def map_unordered(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]:
        """Runs every task; yields each result as it finishes. Closing the iterator early
        (Ctrl-C in the caller) cancels the tasks not started and stops the running ones."""
        pending = list(tasks)
        if not pending:
            return
        running: dict[Future[PointResult], PointTask] = {}
        lost: dict[str, int] = {}  # point id → pools it was running in when one broke
        finished = False
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    task = pending.pop(0)
                    running[self._submit(task)] = task
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:  # every running point of the pool ends so
                        self._stop()
                        lost[task.point.id] = lost.get(task.point.id, 0) + 1
                        if lost[task.point.id] <= RETRIES:
                            pending.insert(0, task)
                        else:
                            yield _died(task)
            finished = True
        finally:
            if not finished:
                for future in running:
                    future.cancel()
                self._stop()

    def _submit(self, task: PointTask) -> Future[PointResult]:
        if self._pool is None:
            self._pool = self._start()
        return self._pool.submit(run_point, task)

    def _start(self) -> ProcessPoolExecutor:
        """A pool whose processes all start now, with one thread each and Ctrl-C ignored."""
        context = multiprocessing.get_context("spawn")
        with _START_LOCK, _one_thread_environment(), _sigint_ignored():
            pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init)
            # A spawning pool starts one process per submission, up to its size, inside
            # submit: after these, every process has started under the settings above.
            for _ in range(self.workers):
                pool.submit(os.getpid)
        return pool

    def _stop(self) -> None:
        """Stops the pool at once: its running points are lost, never half written."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # shutdown alone would wait for the running points
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)

    def close(self) -> None:
        """Lets the worker processes go (they end; nothing runs any more)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _died(task: PointTask) -> PointResult:
    return PointResult(
        task.point.id,
        "failed",
        error=f"the worker process running this point died {RETRIES + 1} times",
    )


def _init() -> None:
    """In each worker: Ctrl-C is the asking process's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _one_thread_environment() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ctrl-C ignored while the workers start, so that they start with it ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
