"""Steady-state memory of a training step: what a warm step allocates."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np


def _nrt_allocations() -> int | None:
    """Arrays allocated by compiled code so far (Numba's runtime statistics), if available."""
    try:
        from numba.core.runtime import _nrt_python, rtsys  # type: ignore[attr-defined]

        if not _nrt_python.memsys_stats_enabled():
            _nrt_python.memsys_enable_stats()
        return int(rtsys.get_allocation_stats().alloc)
    except (ImportError, AttributeError, RuntimeError):
        return None


def steady_state_memory(step: Callable[[], object], steps: int = 30) -> dict[str, Any]:
    """What a step allocates once warm, as ``tracemalloc`` sees it (NumPy arrays included).

    Each step is watched on its own: the peak of memory in use during the step, over what was in
    use when it began. A step that makes an array every time shows it in every step; a one-off
    (a cache filled once) shows in one. So ``step_bytes`` is the smallest of those peaks — what
    every step needs — and ``largest_bytes`` the largest.

    Returns:
        ``step_bytes``, ``largest_bytes``; ``retained_bytes``: what stayed allocated after all
        the steps; ``nrt_allocations``: allocations by Numba's runtime per step (None where not
        measurable) — one small record per array argument of each kernel call, plus any array a
        kernel makes (the engine's kernels make none).
    """
    for _ in range(5):
        step()
    before = _nrt_allocations()
    gc.collect()
    peaks = np.zeros(
        steps, dtype=np.int64
    )  # made before tracing starts: recording allocates nothing
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for i in range(steps):
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            step()
            peaks[i] = tracemalloc.get_traced_memory()[1] - start
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    after = _nrt_allocations()
    nrt = None if before is None or after is None else (after - before) / steps
    return {
        "step_bytes": max(0, int(peaks.min())),
        "largest_bytes": max(0, int(peaks.max())),
        "retained_bytes": max(0, current - base),
        "nrt_allocations": nrt,
    }
