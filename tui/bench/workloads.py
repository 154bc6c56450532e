"""What the suite times: each workload one record, declared in the module that builds it.

A workload carries everything about it: its description, the functions that build one training
step for each implementation it has (the engine always; NumPy and PyTorch where there is one), and
the targets its row is held to. ``mlp``, ``deep`` and ``digits`` each declare a ``WORKLOADS``
tuple; the suite, the worker processes and the report only read :func:`registry`. Adding a
workload to one of those modules touches that module (and the README's table); a new module also
goes into ``SOURCES``.

Two kinds of measurement: a :class:`StepWorkload` is timed step by step, the implementations
taking turns (``workers.race``); a :class:`FitWorkload` is timed as a whole run to a goal.
"""

from __future__ import annotations

import functools
import importlib
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from engine.errors import UserError
from tui.bench.workers import Worker, race

Step = Callable[[], float]  # one training step; returns the loss
StepFactory = Callable[[str], Step]  # device → a step, built and ready to call

SOURCES = ("tui.bench.mlp", "tui.bench.deep", "tui.bench.digits")  # each defines WORKLOADS
GEMM_SIZE = 2048  # NumPy's "large matrix product": float32, square
GEMM = "numpy-gemm"  # the implementation name of that product, raced beside a workload


def gemm_step(device: str = "cpu") -> Step:
    """One float32 GEMM of GEMM_SIZE² matrices with NumPy (2·GEMM_SIZE³ FLOP)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32)
    B = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32)
    C = np.empty_like(A)

    def product() -> float:
        np.dot(A, B, out=C)
        return 0.0  # no loss: a product, not a training step

    return product


@dataclass(frozen=True)
class Fit:
    """How a run to the goal went: seconds, epochs, and the test accuracy reached."""

    seconds: float
    epochs: int
    accuracy: float


@dataclass(frozen=True)
class StepWorkload:
    """A network trained on one fixed batch, step after step; timed per step.

    Attributes:
        name: the name the table and ``--only`` use.
        label: what the network is and how it trains, for the notes under the table.
        engine: builds the engine's step.
        numpy: builds the same step in plain NumPy, if there is one (always on the CPU).
        pytorch: builds it in PyTorch, if there is one (PyTorch is imported only when called).
        spec: what the factories were made from (an ``MLP``, a ``DeepNet``), for tests.
        matmul_flops: FLOP of the matrix products in one step, when counted.
        torch_target: the engine's time over PyTorch's must be at most this.
        gemm_target: with it, NumPy's own GEMM races beside the workload and the engine must
            reach at least this share of its FLOP/s (needs ``matmul_flops``).
        memory_steps: steps the memory probe watches.
        allocation_free: the engine's step must allocate no arrays (checked as a target).
        thread_scaling: the engine on one thread against its default is reported from this one.
    """

    name: str
    label: str
    engine: StepFactory
    numpy: StepFactory | None = None
    pytorch: StepFactory | None = None
    spec: Any = None
    matmul_flops: float | None = None
    torch_target: float | None = None
    gemm_target: float | None = None
    memory_steps: int = 30
    allocation_free: bool = False
    thread_scaling: bool = False

    def implementations(self) -> dict[str, StepFactory]:
        """Every step this workload races, by implementation name (``workers.IMPLEMENTATIONS``)."""
        impls = {"engine": self.engine, "numpy": self.numpy, "pytorch": self.pytorch}
        if self.gemm_target is not None:
            impls[GEMM] = gemm_step
        return {k: v for k, v in impls.items() if v is not None}

    def make_step(self, impl: str, device: str) -> Step:
        """The step of ``impl`` (``-1t`` already stripped), built in the calling process."""
        impls = self.implementations()
        if impl not in impls:
            raise ValueError(
                f"{self.name} has no {impl} implementation (it has {', '.join(impls)})"
            )
        return impls[impl](device)

    def fit(self, impl: str, device: str, max_epochs: int) -> Fit:
        raise ValueError(f"{self.name} is timed step by step, not as a run to a goal")

    def measure(self, workers: dict[str, Worker], device: str, settings: dict[str, Any]) -> dict:
        """Times every implementation this workload has, the workers taking turns."""
        impls = self.implementations()
        racers = {k: v for k, v in workers.items() if k.removesuffix("-1t") in impls}
        samples = race(
            racers, self.name, settings["rounds"], settings["round_seconds"],
            settings["warmup_seconds"], lead=settings.get("lead_seconds", 0.0),
        )  # fmt: skip
        seconds = {k: statistics.median(v) for k, v in samples.items()}
        result: dict[str, Any] = {"label": self.label, "seconds": seconds, "samples": samples}
        if self.matmul_flops is not None:
            result["matmul_flops"] = self.matmul_flops
        ratios(result, seconds)
        fastest: dict[str, Any] = {}
        best = {k: min(v) for k, v in samples.items()}
        ratios(fastest, best)
        result["fastest_rounds"] = fastest  # the same ratios from each one's fastest round
        if GEMM in seconds and self.matmul_flops is not None:
            for out, sec in ((result, seconds), (fastest, best)):
                out["gemm_flops"] = 2.0 * GEMM_SIZE**3 / sec[GEMM]
                out["engine_flops"] = self.matmul_flops / sec["engine"]
                out["gemm_share"] = out["engine_flops"] / out["gemm_flops"]
        return result

    def memory(self, device: str) -> dict[str, Any] | None:
        """Steady-state memory of the engine's step and of NumPy's, measured in this process."""
        from tui.bench.probes import steady_state_memory

        out = {"engine": steady_state_memory(self.engine(device), steps=self.memory_steps)}
        if self.numpy is not None:
            out["numpy"] = steady_state_memory(self.numpy("cpu"), steps=5)
        return out


FitFactory = Callable[[int, str], Fit]  # (most epochs, device) → the finished run


@dataclass(frozen=True)
class FitWorkload:
    """A whole training run to a goal, timed from start to finish in each implementation.

    Attributes:
        name: the name the table and ``--only`` use.
        label: what is trained and to what goal, for the notes under the table.
        fits: each implementation's run, by name (``"engine"``, ``"numpy"``, ``"pytorch"``).
        max_epochs: where a run stops if it never reaches the goal.
    """

    name: str
    label: str
    fits: dict[str, FitFactory] = field(default_factory=dict)
    max_epochs: int = 100
    torch_target: ClassVar[float | None] = None  # a run has none of a step's targets
    gemm_target: ClassVar[float | None] = None
    matmul_flops: ClassVar[float | None] = None
    memory_steps: ClassVar[int] = 0  # a whole run's memory is the data's, not a step's
    allocation_free: ClassVar[bool] = False
    thread_scaling: ClassVar[bool] = False

    def implementations(self) -> dict[str, FitFactory]:
        return dict(self.fits)

    def make_step(self, impl: str, device: str) -> Step:
        raise ValueError(f"{self.name} is timed as a run to a goal, not step by step")

    def fit(self, impl: str, device: str, max_epochs: int) -> Fit:
        if impl not in self.fits:
            raise ValueError(f"{self.name} has no {impl} implementation")
        return self.fits[impl](max_epochs, device)

    def measure(self, workers: dict[str, Worker], device: str, settings: dict[str, Any]) -> dict:
        """Each implementation's wall time to the goal, one worker after the other."""
        runs = {
            k: w.ask(cmd="fit", workload=self.name, max_epochs=self.max_epochs)
            for k, w in workers.items()
            if k.removesuffix("-1t") in self.fits
        }
        seconds = {k: f["seconds"] for k, f in runs.items()}
        result: dict[str, Any] = {
            "label": self.label,
            "seconds": seconds,
            "epochs": {k: f["epochs"] for k, f in runs.items()},
            "accuracy": {k: f["accuracy"] for k, f in runs.items()},
        }
        ratios(result, seconds)
        return result

    def memory(self, device: str) -> dict[str, Any] | None:
        return None


Workload = StepWorkload | FitWorkload


def ratios(result: dict[str, Any], seconds: dict[str, float]) -> None:
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


# ------------------------------------------------------------------------------- the registry


@functools.cache
def registry() -> dict[str, Workload]:
    """Every workload, by name, in the order of ``SOURCES`` and of each module's tuple."""
    found: dict[str, Workload] = {}
    for source in SOURCES:
        for w in importlib.import_module(source).WORKLOADS:
            if w.name in found:
                raise ValueError(f"workload {w.name!r} is declared twice (again in {source})")
            found[w.name] = w
    return found


def names() -> tuple[str, ...]:
    return tuple(registry())


def get(name: str) -> Workload:
    """The workload called ``name``.

    Raises:
        UserError: when there is none, naming the ones there are.
    """
    try:
        return registry()[name]
    except KeyError:
        raise UserError(
            f"unknown workload {name!r}", f"the workloads are: {', '.join(names())}"
        ) from None


def select(only: Iterable[str] | None) -> list[Workload]:
    """The workloads ``only`` names (checked first, all of them), in the registry's order."""
    if only is None:
        return list(registry().values())
    wanted = {get(name).name for name in only}
    return [w for w in registry().values() if w.name in wanted]
