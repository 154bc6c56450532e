"""One process per implementation, taking turns: how the suite times a workload.

The engine's matrix products use SciPy's OpenBLAS, NumPy has its own OpenBLAS, and PyTorch its own
OpenMP pool; each keeps its threads spinning for a while after a call. In one process, the pools
of the others steal the cores from whichever implementation runs next — on two cores that can
cost more than the step itself. So each implementation runs in a process of its own, as a user
runs it, and the parent asks them in turn for one round of steps at a time (rotating who goes
first), with a pause between turns: OpenBLAS's idle threads spin for about 0.1 s after a call
before they sleep, and the next round must not start beside them. A slow moment of a shared
machine then falls on all of them alike.

Each round begins with a lead-in of untimed steps (``lead``): after the pause, a core that sat
idle runs slowly for a while. Measured on a 2-core virtual machine, the engine's ``mnist-mlp``
steps on two threads took 1.2–1.6 ms for the first 60 ms of a round and 0.96 ms after, and its
rounds 9 % longer than in a loop without pauses; on one thread there was no such difference. A
training run is one long loop, so a round times that loop once it runs, for every
implementation alike.

Protocol: one JSON object per line on stdin, one reply per line on stdout. ``setup`` builds the
step of a workload (looked up in ``workloads.registry()``), warms it up and calibrates the steps
per round; ``round`` times one round; ``fit`` runs a whole-run workload such as digits-fit;
``quit`` ends the process. A reply with ``error`` carries the exception.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

IMPLEMENTATIONS = ("engine", "numpy", "engine-1t", "pytorch", "pytorch-1t", "numpy-gemm")
"""Every implementation a worker can run, in the order they start and take turns (``-1t``: the
same limited to one thread)."""
ONE_THREAD = ("engine", "pytorch")  # the ones also timed on one thread
THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)


class WorkerError(RuntimeError):
    """A worker process failed; the message is its error or the end of its stderr."""


class Worker:
    """The parent's handle on one implementation's process."""

    def __init__(self, impl: str, device: str = "cpu") -> None:
        """Starts ``impl`` (one of IMPLEMENTATIONS; ``-1t``: limited to one thread)."""
        self.impl = impl
        self.openmp: str | None = None  # its engine's OpenMP wait, from ``ready``
        self._err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        env = dict(os.environ)
        if impl.endswith("-1t"):  # BLAS and OpenMP read these when they load
            env.update({v: "1" for v in THREAD_VARIABLES})
        cmd = [sys.executable, "-m", "tui.bench.workers", impl, device]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True, env=env
        )

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            self._err.seek(0)
            tail = self._err.read().strip().splitlines()[-3:]
            raise WorkerError(f"{self.impl} worker ended: {' | '.join(tail) or 'no message'}")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"{self.impl}: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(WorkerError):
                self.ask(cmd="quit")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._err.close()


def race(
    workers: dict[str, Worker],
    workload: str,
    rounds: int,
    round_seconds: float,
    warmup_seconds: float,
    gap: float = 0.15,
    lead: float = 0.0,
) -> dict[str, list[float]]:
    """Seconds per step of each worker's implementation, one sample per round (each round after
    ``lead`` seconds of untimed steps)."""
    for w in workers.values():
        w.ask(cmd="setup", workload=workload, warmup=warmup_seconds, seconds=round_seconds)
    names = list(workers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(gap)
            samples[name].append(float(workers[name].ask(cmd="round", lead=lead)["seconds"]))
    return samples


# ------------------------------------------------------------------------------- the child


def steps_for(
    step: Callable[[], object], seconds: float, clock: Callable[[], float] = time.perf_counter
) -> int:
    """How many calls of ``step`` take about ``seconds`` (at least one), timed by ``clock``."""
    n, elapsed = 1, 0.0
    while True:
        t0 = clock()
        for _ in range(n):
            step()
        elapsed = clock() - t0
        if elapsed >= seconds / 8 or n >= 1 << 20:
            break
        n *= 4
    return max(1, round(n * seconds / max(elapsed, 1e-9)))


def timed_round(
    step: Callable[[], object],
    count: int,
    lead: float,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds per step of ``count`` calls of ``step``, timed by ``clock`` after ``lead``
    seconds of untimed calls."""
    t0 = clock()
    while clock() - t0 < lead:
        step()
    t0 = clock()
    for _ in range(count):
        step()
    return (clock() - t0) / count


def serve(impl: str, device: str) -> None:
    """The worker's loop: answer commands from stdin until ``quit``.

    A PyTorch worker loads PyTorch before the engine (which builds the initial weights): both
    link ``libgomp.so.1``, and whichever loads it first sets the OpenMP wait policy for both.
    Loaded after the engine, PyTorch's threads would wait the engine's way
    (``engine.threads.pace_openmp``); asleep between its parallel regions, its steps took 1.4 to
    3 times as long on two cores (lstm 16.5 ms instead of 5.6).
    """
    if impl.startswith("pytorch"):
        import torch

        if impl == "pytorch-1t":
            torch.set_num_threads(1)
    from tui.bench.workloads import get

    base = impl.removesuffix("-1t")
    step: Callable[[], object] | None = None
    count = 1
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            if command["cmd"] == "ready":  # its libraries are loaded (``suite.start_workers``)
                from engine.threads import openmp_choice  # how its Numba threads wait

                reply: dict[str, Any] = {"ok": True, "openmp": openmp_choice}
            elif command["cmd"] == "setup":
                step = get(command["workload"]).make_step(base, device)
                deadline = time.perf_counter() + command["warmup"]
                step()
                while time.perf_counter() < deadline:
                    step()
                count = steps_for(step, command["seconds"])
                reply = {"count": count}
            elif command["cmd"] == "round":
                assert step is not None, "round before setup"
                gc.disable()
                try:
                    reply = {"seconds": timed_round(step, count, command.get("lead", 0.0))}
                finally:
                    gc.enable()
            elif command["cmd"] == "fit":
                fit = get(command["workload"]).fit(base, device, command["max_epochs"])
                reply = {"seconds": fit.seconds, "epochs": fit.epochs, "accuracy": fit.accuracy}
            else:
                reply = {"error": f"unknown command {command['cmd']!r}"}
        except Exception as exc:  # reported to the parent, which shows it in the table
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "cpu")
