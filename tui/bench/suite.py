"""Runs the benchmark suite and returns its results as plain data (what ``--json`` writes)."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tui.bench import impl_engine, impl_numpy, impl_torch, probes
from tui.bench.deep import DEEP_WORKLOADS, DeepWorkload
from tui.bench.workers import Worker, race
from tui.bench.workloads import DIGITS, GEMM_SIZE, NAMES, WORKLOADS, Workload

SETTINGS = {
    "quick": {"rounds": 3, "round_seconds": 0.05, "warmup_seconds": 0.1},
    "full": {"rounds": 9, "round_seconds": 0.25, "warmup_seconds": 0.5},
}
MAX_EPOCHS = 100


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
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
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


def start_workers(device: str, use_torch: bool, wide: bool, one_thread: bool) -> dict[str, Worker]:
    """A process per implementation (see ``workers``), all starting at once.

    ``one_thread`` adds the engine and PyTorch limited to one thread (on a CPU with more): the
    engine's thread scaling, and a comparison per core that a busy neighbour disturbs least.
    """
    names = ["engine", "numpy"]
    one_thread = one_thread and device == "cpu" and (os.cpu_count() or 1) > 1
    if one_thread:
        names.append("engine-1t")
    if use_torch:
        names += ["pytorch", "pytorch-1t"] if one_thread else ["pytorch"]
    if wide:
        names.append("numpy-gemm")
    return {name: Worker(name, "cpu" if name.startswith("numpy") else device) for name in names}


def time_workload(
    w: Workload | DeepWorkload, workers: dict[str, Worker], device: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Times the engine, NumPy and (if running) PyTorch on one workload, taking turns."""
    racers = {k: v for k, v in workers.items() if k != "numpy-gemm" or w.name == "wide"}
    if isinstance(w, DeepWorkload):  # no NumPy implementation of these
        racers = {k: v for k, v in racers.items() if not k.startswith("numpy")}
    samples = race(
        racers, w.name, settings["rounds"], settings["round_seconds"], settings["warmup_seconds"]
    )
    seconds = {k: statistics.median(v) for k, v in samples.items()}
    result: dict[str, Any] = {
        "label": w.label,
        "seconds": seconds,
        "samples": samples,
    }
    if isinstance(w, Workload):
        result["matmul_flops"] = w.matmul_flops()
    _ratios(result, seconds)
    fastest: dict[str, Any] = {}
    best = {k: min(v) for k, v in samples.items()}
    _ratios(fastest, best)
    result["fastest_rounds"] = fastest  # the same ratios from each one's fastest round
    if "numpy-gemm" in seconds:
        for out, sec in ((result, seconds), (fastest, best)):
            out["gemm_flops"] = 2.0 * GEMM_SIZE**3 / sec["numpy-gemm"]
            out["engine_flops"] = w.matmul_flops() / sec["engine"]
            out["gemm_share"] = out["engine_flops"] / out["gemm_flops"]
    return result


def _ratios(result: dict[str, Any], seconds: dict[str, float]) -> None:
    """The engine's time over NumPy's and over PyTorch's (the faster of its thread settings).

    On a machine shared with other work, PyTorch's parallel regions can lose more to waiting
    than they gain; comparing with the faster of its default and one thread means the ratios
    never flatter the engine.
    """
    if "numpy" in seconds:
        result["vs_numpy"] = seconds["engine"] / seconds["numpy"]
    torch_keys = [k for k in ("pytorch", "pytorch-1t") if k in seconds]
    if torch_keys:
        best = min(torch_keys, key=lambda k: seconds[k])
        result["pytorch_best"] = best
        result["vs_pytorch"] = seconds["engine"] / seconds[best]
    if "engine-1t" in seconds and "pytorch-1t" in seconds:
        result["one_thread_vs_pytorch"] = seconds["engine-1t"] / seconds["pytorch-1t"]


def memory(w: Workload | DeepWorkload, device: str) -> dict[str, Any]:
    """Steady-state memory of the engine's step and of NumPy's, measured in this process."""
    if isinstance(w, DeepWorkload):
        return {"engine": probes.steady_state_memory(impl_engine.make_step(w, device), steps=10)}
    weights = impl_engine.initial_weights(w)
    model = impl_numpy.NumpyMLP(weights, w.activation, w.loss, w.optimizer, w.lr)
    x, y = w.batch_data()
    return {
        "engine": probes.steady_state_memory(impl_engine.make_step(w, device)),
        "numpy": probes.steady_state_memory(lambda: model.step(x, y), steps=5),
    }


def time_digits(workers: dict[str, Worker]) -> dict[str, Any]:
    """Wall time to 95 % test accuracy on ``digits``, each implementation in its process."""
    fits = {
        k: w.ask(cmd="fit", max_epochs=MAX_EPOCHS)
        for k, w in workers.items()
        if k in ("engine", "engine-1t", "numpy", "pytorch", "pytorch-1t")
    }
    seconds = {k: f["seconds"] for k, f in fits.items()}
    result: dict[str, Any] = {
        "label": "the digits preset (64-64-10 ReLU, Adam, batch 32) to 95 % test accuracy",
        "seconds": seconds,
        "epochs": {k: f["epochs"] for k, f in fits.items()},
        "accuracy": {k: f["accuracy"] for k, f in fits.items()},
    }
    _ratios(result, seconds)
    return result


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it is met."""
    out: list[dict[str, Any]] = []
    w = results["workloads"]

    def add(name: str, value: float | None, goal: str, met: bool | None) -> None:
        out.append({"name": name, "value": value, "goal": goal, "met": met})

    for name, limit in (("toy", 0.10), ("mnist-mlp", 0.50), ("lenet", 1.0), ("lstm", 1.0)):
        if name in w:
            value = w[name].get("vs_pytorch")
            add(
                f"{name}: time vs PyTorch",
                value,
                f"≤ {limit:.2f}",
                None if value is None else value <= limit,
            )
    if "wide" in w:
        share = w["wide"]["gemm_share"]
        add("wide: share of NumPy's GEMM FLOP/s", share, "≥ 0.70", share >= 0.70)
    per_step = [
        r["memory"]["engine"]["step_bytes"]
        for name, r in w.items()
        if "memory" in r and name in WORKLOADS  # the MLP steps (the others allocate their caches)
    ]
    if per_step:
        most = max(per_step)
        add("no allocation per step: bytes every step needs", most, "< 1 KiB", most < 1024)
    if "threads" in results:
        scaling, cores = results["threads"]["speedup"], results["machine"]["cores"]
        add(f"mnist-mlp: {cores} threads vs 1, speed-up", scaling, "≥ 1.6", scaling >= 1.6)
    return out


def _workload(name: str) -> Workload | DeepWorkload:
    return WORKLOADS[name] if name in WORKLOADS else DEEP_WORKLOADS[name]


def run_suite(
    quick: bool = False,
    device: str = "cpu",
    only: list[str] | None = None,
    use_torch: bool = True,
    threads: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Runs the selected workloads (all by default) and returns every number measured."""
    say = progress or (lambda _msg: None)
    settings = SETTINGS["quick" if quick else "full"]
    names = [n for n in NAMES if only is None or n in only]
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
    workers = start_workers(device, bool(torch_version), "wide" in names, threads)
    try:
        for name in names:
            say(f"timing {name}")
            if name == DIGITS:
                results["workloads"][name] = time_digits(workers)
            else:
                w = _workload(name)
                results["workloads"][name] = time_workload(w, workers, device, settings)
    finally:
        for worker in workers.values():
            worker.close()
    for name in names:
        if name != DIGITS:
            say(f"measuring {name}'s memory")
            results["workloads"][name]["memory"] = memory(_workload(name), device)
    mnist = results["workloads"].get("mnist-mlp", {}).get("seconds", {})
    if "engine-1t" in mnist:
        one, default = mnist["engine-1t"], mnist["engine"]
        results["threads"] = {
            "seconds": {"1": one, str(results["machine"]["cores"]): default},
            "speedup": one / default,
        }
    results["targets"] = targets(results)
    results["seconds"] = time.perf_counter() - t0
    results["machine"]["load_average_end"] = _load()
    return results
