"""Where a sweep's points run: processes on this machine (here) or a Dask cluster (``dask``).

Every executor takes ``PointTask``\\ s and gives back ``PointResult``\\ s as they finish, in any
order (``map_unordered``), and lets go of its workers with ``close``.

``LocalExecutor`` runs N worker processes (``python -m engine.sweep.worker``), each with one
thread for Numba, OpenMP and BLAS, set in its environment before those load, so N workers keep
N cores busy without fighting over them. They are plain child processes fed over pipes, not a
``multiprocessing`` pool: nothing re-imports the caller's script in a worker, so a script that
calls ``engine.sweep`` at its top level works as written. A worker runs in its own session, so
Ctrl-C in the terminal reaches only the asking process, which stops the workers itself; a
worker whose parent is gone sees its stdin close and ends.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Protocol

from engine.sweep.pipes import read_message, write_message
from engine.sweep.point import PointResult, PointTask

THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)
RETRIES = 2
"""How many times a point whose worker process died runs again, in a new process."""
POLL_SECONDS = 0.2  # the asking thread wakes this often, so that Ctrl-C is taken at once


class Executor(Protocol):
    """What the sweep driver needs from a place to run points."""

    def map_unordered(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]: ...

    def close(self) -> None: ...


class WorkerDied(RuntimeError):
    """A worker process ended while running a point; the message is the end of its stderr."""


class _Worker:
    """One worker process and its pipes."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
        root = str(Path(__file__).resolve().parents[2])  # where ``engine`` is imported from
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in kill)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine.sweep.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            env=env,
            start_new_session=True,
        )

    def run(self, task: PointTask) -> PointResult:
        """Runs ``task`` in the process; WorkerDied when the process ends before answering."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            write_message(self.proc.stdin, pickle.dumps(task))
            body = read_message(self.proc.stdout)
        except OSError:
            body = None
        if body is None:
            raise WorkerDied(self._stderr_tail())
        result: PointResult = pickle.loads(body)
        return result

    def _stderr_tail(self) -> str:
        self.proc.wait()
        self.err.seek(0)
        text = self.err.read().decode("utf-8", "replace").strip()
        lines = text.splitlines()[-3:]
        return f"exit code {self.proc.returncode}" + (": " + " / ".join(lines) if lines else "")

    def close(self) -> None:
        """Ends the process: its stdin closes, it finishes and exits."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.close()

    def stop(self) -> None:
        """Stops the process at once (its running point is lost, never half written); the
        thread waiting on it sees its pipe end."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def kill(self) -> None:
        """Stops the process and lets go of its pipes."""
        self.stop()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        self.err.close()


class LocalExecutor:
    """``workers`` processes on this machine, one thread each, kept between sweeps until
    :meth:`close`.

    A point whose process dies (killed, out of memory) runs again in a new process, up to
    RETRIES times, then comes back as a failed point with the end of the process's stderr.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers = workers
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()

    def map_unordered(self, tasks: Iterable[PointTask]) -> Iterator[PointResult]:
        """Runs every task; yields each result as it finishes. Closing the iterator early
        (Ctrl-C in the caller) drops the tasks not started and stops the running ones."""
        pending = collections.deque(tasks)
        total = len(pending)
        if not total:
            return
        results: queue.Queue[PointResult] = queue.Queue()
        stop = threading.Event()
        lost: dict[str, int] = {}
        threads = [
            threading.Thread(target=self._serve, args=(pending, results, stop, lost), daemon=True)
            for _ in range(min(self.workers, total))
        ]
        for thread in threads:
            thread.start()
        finished = False
        try:
            for _ in range(total):
                while True:
                    try:
                        result = results.get(timeout=POLL_SECONDS)
                        break
                    except queue.Empty:
                        continue
                yield result
            finished = True
        finally:
            stop.set()
            if not finished:
                with self._lock:
                    busy = list(self._busy)
                for worker in busy:
                    worker.stop()
            for thread in threads:
                thread.join()

    def _serve(
        self,
        pending: collections.deque[PointTask],
        results: queue.Queue[PointResult],
        stop: threading.Event,
        lost: dict[str, int],
    ) -> None:
        """One thread's loop: takes the next task, runs it in a worker, puts its result."""
        worker: _Worker | None = None
        while not stop.is_set():
            with self._lock:
                if not pending:
                    break
                task = pending.popleft()
                if worker is None:
                    worker = self._idle.pop() if self._idle else None
            try:
                if worker is None:
                    worker = _Worker()
                with self._lock:  # the asking thread stops every busy worker once stop is set
                    if stop.is_set():
                        break
                    self._busy.add(worker)
                result = worker.run(task)
            except (OSError, pickle.PickleError, AttributeError, EOFError) as exc:
                # no process could start, or its answer could not be read: a failed point,
                # never a thread that dies and leaves the sweep waiting
                results.put(PointResult(task.point.id, "failed", error=f"{exc}"))
                if worker is not None:
                    with self._lock:
                        self._busy.discard(worker)
                    worker.kill()
                    worker = None
                continue
            except WorkerDied as exc:
                if worker is not None:
                    with self._lock:
                        self._busy.discard(worker)
                    worker.kill()
                    worker = None
                if stop.is_set():
                    break
                with self._lock:
                    lost[task.point.id] = lost.get(task.point.id, 0) + 1
                    again = lost[task.point.id] <= RETRIES
                    if again:
                        pending.appendleft(task)
                if not again:
                    results.put(_died(task, str(exc)))
                continue
            with self._lock:
                self._busy.discard(worker)
            results.put(result)
        if worker is not None:
            with self._lock:
                self._idle.append(worker)

    def close(self) -> None:
        """Ends the worker processes (they finish and exit)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


def _died(task: PointTask, why: str) -> PointResult:
    return PointResult(
        task.point.id,
        "failed",
        error=f"the worker process running this point died {RETRIES + 1} times ({why})",
    )
