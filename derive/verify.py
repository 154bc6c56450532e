"""``verify``: the symbolic gradients of every parameter against the engine's backward pass.

The network is copied to float64 (the engine computes in float32 by default), the copy runs the
engine's ``loss_and_grad``, and the tape recomputes every gradient from SymPy's derivatives —
each activation's σ′ and each loss's ∂L/∂ŷ is ``diff`` of its rule, lambdified — chained in the
vector form of the derivation. Dropout uses the masks the engine's pass just drew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from derive.api import _batch
from derive.model import build_model
from derive.tape import run_tape
from engine.network import Sequential


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found.

    Attributes:
        max_abs_diff: the largest |symbolic − engine| over every parameter.
        worst: the entry where it is largest, e.g. ``"0.W[1,0]"``.
        per_param: the largest difference within each parameter array.
        n_params: how many scalars were compared.
    """

    max_abs_diff: float
    worst: str
    per_param: dict[str, float]
    n_params: int

    def passed(self, tolerance: float = 1e-9) -> bool:
        return self.max_abs_diff <= tolerance

    def summary(self) -> str:
        verdict = "agree" if self.passed() else "DISAGREE"
        return (
            f"symbolic and engine gradients {verdict}: largest difference "
            f"{self.max_abs_diff:.3g} (at {self.worst}) over {self.n_params} parameters"
        )


def float64_twin(net: Sequential) -> Sequential:
    """A float64 copy of ``net`` with the same weights (the checks run in float64)."""
    twin = Sequential.from_spec(net.spec(), dtype="float64", device=net.device)
    twin.data[...] = np.asarray(net.backend.to_host(net.data), dtype=np.float64)
    return twin


def verify_report(
    net: Sequential, x: Any, y: Any, loss: str = "mse", l1: float = 0.0, l2: float = 0.0
) -> VerifyReport:
    """Compares every parameter's symbolic gradient with the engine's, in float64."""
    twin = float64_twin(net)
    twin.loss_and_grad(x, y, loss, l1, l2)
    X, Y = _batch(twin, x, y, loss)
    tape = run_tape(build_model(twin, loss), twin, X, Y, l1, l2)
    per_param, worst, worst_diff = {}, "", -1.0
    for name, engine_grad in twin.grads.items():
        diff = np.abs(tape.param_grads[name] - engine_grad)
        per_param[name] = float(diff.max())
        if per_param[name] > worst_diff:
            at = np.unravel_index(int(diff.argmax()), diff.shape)
            worst_diff, worst = per_param[name], f"{name}[{','.join(str(int(i)) for i in at)}]"
    return VerifyReport(max(per_param.values()), worst, per_param, twin.n_params)


def verify(
    net: Sequential, x: Any, y: Any, loss: str = "mse", l1: float = 0.0, l2: float = 0.0
) -> float:
    """The largest |symbolic − engine| gradient difference over every parameter (float64)."""
    return verify_report(net, x, y, loss, l1, l2).max_abs_diff
