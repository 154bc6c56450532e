"""What the CUDA simulator scripts share: checks registered by the kernels they cover, the
largest difference between a reference and a device result, and a run of every check.

Imported by the scripts beside it (run as ``python tests/engine/cuda_scripts/<script>.py``, which
puts this folder on ``sys.path``), after they have made sure the simulator is on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np

Check = Callable[[], float]


class Checks(dict[str, Check]):
    """Kernel name → the check that covers it (one check may cover several kernels)."""

    def case(self, *names: str) -> Callable[[Check], Check]:
        """Registers the decorated check under each kernel name it covers."""

        def register(fn: Check) -> Check:
            for name in names:
                self[name] = fn
            return fn

        return register

    def run(self) -> dict[str, object]:
        """Each kernel's largest difference, or ``"error: ..."``; every kernel reports, not just
        the first failure, and a check that covers several kernels runs once."""
        results: dict[str, object] = {}
        done: dict[int, object] = {}
        for name, fn in self.items():
            if id(fn) not in done:
                try:
                    value = fn()
                    done[id(fn)] = value if math.isfinite(value) else "error: not finite"
                except Exception as exc:
                    done[id(fn)] = f"error: {type(exc).__name__}: {exc}"
            results[name] = done[id(fn)]
        return results

    def main(self, backend_checks: Callable[[], dict[str, float]]) -> int:
        """Runs every check, then ``backend_checks`` (whole backend operations, by their own
        names; ``"backend"`` holds the error where they fail), and prints one JSON line."""
        results = self.run()
        try:
            results.update(backend_checks())
        except Exception as exc:
            results["backend"] = f"error: {type(exc).__name__}: {exc}"
        print(json.dumps(results))
        return 0


def diff(ref, got) -> float:
    """max |ref − got| in float64, a device array copied to the host first; an element left NaN
    (never written) counts as an infinite difference."""
    got = got.copy_to_host() if hasattr(got, "copy_to_host") else np.asarray(got)
    d = np.abs(np.asarray(ref, dtype=np.float64) - got)
    return float(np.max(np.where(np.isnan(d), np.inf, d), initial=0.0))
