"""``verify``: every parameter's gradient from an independent computation against the engine's.

The network is copied to float64 (the engine computes in float32 by default) and the copy runs
the engine's ``loss_and_grad``. For a stack of Dense, activation and Dropout layers the tape
recomputes every gradient from SymPy's derivatives — each activation's σ′ and each loss's ∂L/∂ŷ
is ``diff`` of its rule, lambdified — chained in the vector form of the derivation. Any other
network is recomputed by ``derive.layers.oracle``: an independent NumPy forward and backward pass
of every layer (convolutions over sliding windows, normalisation through its computation graph,
recurrent cells and activations differentiated by SymPy). Dropout uses the masks the engine's
pass just drew. On request, central finite differences of the engine's own loss check the
engine's gradients a third way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from derive.layers.layer_tape import float64_twin, last_mask
from derive.layers.oracle import reference_gradients
from derive.layers.param import find, is_plain_mlp
from derive.stack.model import build_model
from derive.stack.pipeline import as_batch
from derive.stack.tape import run_tape
from engine.layers.core import Dropout
from engine.network import Sequential

__all__ = ["VerifyReport", "float64_twin", "verify", "verify_report"]

FD_STEP = 1e-6  # central differences: the error is O(h²), rounding O(ε/h)
FD_MAX_PARAMS = 5000  # more parameters than this: finite differences take too long


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` found.

    Attributes:
        max_abs_diff: the largest |independent − engine| over every parameter.
        worst: the entry where it is largest, e.g. ``"0.W[1,0]"``.
        per_param: the largest difference within each parameter array.
        n_params: how many scalars were compared.
        method: what the engine was compared with: "symbolic" (the tape of a Dense stack) or
            "reference" (the independent pass of every layer).
        fd_rel_diff: with finite differences: max |engine − numeric| / the largest gradient;
            None when they were not asked for or could not run (dropout draws fresh masks).
    """

    max_abs_diff: float
    worst: str
    per_param: dict[str, float]
    n_params: int
    method: str = "symbolic"
    fd_rel_diff: float | None = None

    def passed(self, tolerance: float = 1e-9) -> bool:
        return self.max_abs_diff <= tolerance

    def summary(self) -> str:
        verdict = "agree" if self.passed() else "DISAGREE"
        what = "symbolic" if self.method == "symbolic" else "independent reference"
        text = (
            f"{what} and engine gradients {verdict}: largest difference "
            f"{self.max_abs_diff:.3g} (at {self.worst}) over {self.n_params} parameters"
        )
        if self.fd_rel_diff is not None:
            text += f"; finite differences agree to {self.fd_rel_diff:.2g} (relative)"
        return text


def verify_report(
    net: Sequential,
    x: Any,
    y: Any,
    loss: str = "mse",
    l1: float = 0.0,
    l2: float = 0.0,
    finite_differences: bool = False,
) -> VerifyReport:
    """Compares every parameter's gradient from an independent computation with the engine's."""
    twin = float64_twin(net)
    twin.loss_and_grad(x, y, loss, l1, l2)
    engine = {name: np.asarray(g, dtype=np.float64).copy() for name, g in twin.grads.items()}
    if is_plain_mlp(twin):
        X, Y = as_batch(twin, x, y, loss)
        other = run_tape(build_model(twin, loss), twin, X, Y, l1, l2).param_grads
        method = "symbolic"
    else:
        X = np.asarray(twin.as_input(x), dtype=np.float64)
        targets = np.asarray(twin.as_target(y, loss, X.shape[0]))

        def mask_of(path: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray | None:
            layer = find(twin, path).layer
            return last_mask(layer, shape) if isinstance(layer, Dropout) else None

        other = reference_gradients(twin, X, targets, loss, mask_of, l1, l2)
        method = "reference"
    per_param, worst, worst_diff = {}, "", -1.0
    for name, engine_grad in engine.items():
        diff = np.abs(other[name] - engine_grad)
        per_param[name] = float(diff.max()) if diff.size else 0.0
        if per_param[name] > worst_diff and diff.size:
            at = np.unravel_index(int(diff.argmax()), diff.shape)
            worst_diff, worst = per_param[name], f"{name}[{','.join(str(int(i)) for i in at)}]"
    fd = _finite_differences(twin, x, y, loss, l1, l2) if finite_differences else None
    return VerifyReport(max(per_param.values()), worst, per_param, twin.n_params, method, fd)


def _finite_differences(
    twin: Sequential, x: Any, y: Any, loss: str, l1: float, l2: float
) -> float | None:
    """max |engine − central difference| relative to the largest gradient, in float64."""
    dropping = any(isinstance(lay, Dropout) and lay.p > 0 for lay in _layers(twin))
    if dropping or twin.n_params > FD_MAX_PARAMS:
        return None
    twin.loss_and_grad(x, y, loss, l1, l2)
    analytic = np.array(twin.grad, dtype=np.float64)
    numeric = np.zeros_like(analytic)
    state = np.array(twin.state)  # batch norm's running statistics move at every pass
    for i in range(twin.n_params):
        old = float(twin.data[i])
        twin.data[i] = old + FD_STEP
        plus = twin.loss_and_grad(x, y, loss, l1, l2)
        twin.data[i] = old - FD_STEP
        minus = twin.loss_and_grad(x, y, loss, l1, l2)
        twin.data[i] = old
        numeric[i] = (plus - minus) / (2 * FD_STEP)
    twin.state[...] = state
    scale = max(float(np.abs(analytic).max()), float(np.abs(numeric).max()), 1e-12)
    return float(np.abs(analytic - numeric).max() / scale)


def _layers(net: Sequential) -> list[Any]:
    out, stack = [], list(net.layers)
    while stack:
        layer = stack.pop()
        out.append(layer)
        stack += getattr(layer, "inner", [])
    return out


def verify(
    net: Sequential, x: Any, y: Any, loss: str = "mse", l1: float = 0.0, l2: float = 0.0
) -> float:
    """The largest |independent − engine| gradient difference over every parameter (float64)."""
    return verify_report(net, x, y, loss, l1, l2).max_abs_diff
