"""Runs the benchmark suite and returns its results as plain data (what ``--json`` writes)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.threads import available_cores
from tui.bench import impl_torch
from tui.bench.workers import IMPLEMENTATIONS, ONE_THREAD, Worker
from tui.bench.workloads import Workload, select

SETTINGS = {
    "quick": {"rounds": 3, "round_seconds": 0.05, "warmup_seconds": 0.1, "lead_seconds": 0.02},
    "full": {"rounds": 9, "round_seconds": 0.25, "warmup_seconds": 0.5, "lead_seconds": 0.1},
}
THREAD_TARGET = 1.6  # the engine's speed-up from one thread to all of them


def machine_info(device: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": available_cores(),
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "pytorch": impl_torch.available(),
        "device": device,
        "load_average": _load(),
    }
    if device == "cuda":
        from engine.backends.cpu import get_backend

        info["gpu"] = get_backend("cuda").device_name()
    return info


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def start_workers(
    selected: list[Workload], device: str, use_torch: bool, one_thread: bool
) -> dict[str, Worker]:
    """A process per implementation the selected workloads have (see ``workers``), started one
    after another: each loads its libraries before the next starts, so that the engine's
    workers find the machine idle, as a user's training would, and let Numba's threads spin a
    moment between parallel regions (``engine.threads.pace_openmp``) rather than sleep.

    ``one_thread`` adds the engine and PyTorch limited to one thread (on a CPU with more): the
    engine's thread scaling, and a comparison per core that a busy neighbour disturbs least.
    """
    wanted = {impl for w in selected for impl in w.implementations()}
    if not use_torch:
        wanted.discard("pytorch")
    if one_thread and device == "cpu" and (os.cpu_count() or 1) > 1:
        wanted |= {f"{impl}-1t" for impl in ONE_THREAD if impl in wanted}
    names = [impl for impl in IMPLEMENTATIONS if impl in wanted]
    workers: dict[str, Worker] = {}
    try:
        for name in names:
            workers[name] = Worker(name, "cpu" if name.startswith("numpy") else device)
            workers[name].openmp = workers[name].ask(cmd="ready").get("openmp")
    except BaseException:  # a worker that failed, or an interrupt: none is left running
        for worker in workers.values():
            worker.close()
        raise
    return workers


def targets(results: dict[str, Any], selected: list[Workload]) -> list[dict[str, Any]]:
    """The targets the workloads declare, each with the measured value and whether it is met."""
    out: list[dict[str, Any]] = []
    measured = results["workloads"]

    def add(name: str, value: float | None, goal: str, met: bool | None) -> None:
        out.append({"name": name, "value": value, "goal": goal, "met": met})

    for w in selected:
        if w.torch_target is not None:
            value = measured[w.name].get("vs_pytorch")
            met = None if value is None else value <= w.torch_target
            add(f"{w.name}: time vs PyTorch", value, f"≤ {w.torch_target:.2f}", met)
    for w in selected:
        if w.gemm_target is not None and "gemm_share" in measured[w.name]:
            share = measured[w.name]["gemm_share"]
            goal = f"≥ {w.gemm_target:.2f}"
            add(f"{w.name}: share of NumPy's GEMM FLOP/s", share, goal, share >= w.gemm_target)
    per_step = {
        w.name: measured[w.name]["memory"]["engine"]["step_bytes"]
        for w in selected
        if "memory" in measured[w.name]
    }
    if per_step:
        worst = max(per_step, key=per_step.__getitem__)
        most = per_step[worst]
        name = f"bytes a step allocates, the most of any workload ({worst})"
        add(name, most, "< 1 KiB", most < 1024)
    if "threads" in results:
        th, cores = results["threads"], results["machine"]["cores"]
        scaling = th["speedup"]
        goal = f"≥ {THREAD_TARGET}"
        add(
            f"{th['workload']}: {cores} threads vs 1, speed-up",
            scaling,
            goal,
            scaling >= THREAD_TARGET,
        )
    return out


def thread_scaling(results: dict[str, Any], selected: list[Workload]) -> dict[str, Any] | None:
    """The engine on one thread against its default, on the workload that declares it."""
    for w in selected:
        seconds = results["workloads"][w.name].get("seconds", {})
        if w.thread_scaling and "engine-1t" in seconds:
            one, default = seconds["engine-1t"], seconds["engine"]
            return {
                "workload": w.name,
                "seconds": {"1": one, str(results["machine"]["cores"]): default},
                "speedup": one / default,
            }
    return None


def run_suite(
    quick: bool = False,
    device: str = "cpu",
    only: list[str] | None = None,
    use_torch: bool = True,
    threads: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Runs the selected workloads (all by default) and returns every number measured.

    Raises:
        UserError: when ``only`` names a workload there is not (listing those there are).
    """
    selected = select(only)
    say = progress or (lambda _msg: None)
    settings = SETTINGS["quick" if quick else "full"]
    torch_version = impl_torch.available() if use_torch else None
    if device == "cuda" and torch_version and not impl_torch.cuda_available():
        torch_version = None
    results: dict[str, Any] = {
        "machine": machine_info(device),
        "pytorch": torch_version,  # None: not installed, left out, or without CUDA
        "mode": "quick" if quick else "full",
        "settings": settings,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "workloads": {},
    }
    t0 = time.perf_counter()
    say("starting a process per implementation")
    workers = start_workers(selected, device, bool(torch_version), threads)
    if "engine" in workers:  # how the engine's Numba threads wait (``engine.threads``)
        results["machine"]["openmp"] = workers["engine"].openmp
    try:
        for w in selected:
            say(f"timing {w.name}")
            results["workloads"][w.name] = w.measure(workers, device, settings)
    finally:
        for worker in workers.values():
            worker.close()
    for w in selected:
        if w.memory_steps:
            say(f"measuring {w.name}'s memory")
            results["workloads"][w.name]["memory"] = w.memory(device)
    threads_result = thread_scaling(results, selected)
    if threads_result is not None:
        results["threads"] = threads_result
    results["targets"] = targets(results, selected)
    results["seconds"] = time.perf_counter() - t0
    results["machine"]["load_average_end"] = _load()
    return results
