"""Compiles every CUDA kernel to PTX, without a GPU and without the simulator.

Run as a script (``tests/engine/test_cuda_ptx.py`` does, in a subprocess, because the simulator
must not be active): prints one JSON line ``{"kernel (cc)": "ok" | error}``. A kernel that only
the simulator accepts — Python it runs but CUDA cannot type — fails here.
"""

from __future__ import annotations

import json
import sys

from numba import boolean, cuda, float32, float64, int64

from engine.kernels import cuda as k
from engine.kernels import cuda_fused as kf
from engine.kernels import cuda_optim as ko

F = float32
A1, A2 = F[::1], F[:, ::1]
I1, I2 = int64[::1], int64[:, ::1]
T = float64[::1]  # total / flag
SIGNATURES = {
    k.dense_forward: (A2, A2, A1, A2),
    k.dense_backward: (A2, A2, A2, A2, A1, A2, boolean),
    k.activation_forward: (A2, A2, int64, float64),
    k.activation_backward: (A2, A2, A2, A2, int64, float64),
    k.dropout_mask: (A2, float64, A2),
    k.multiply: (A2, A2, A2),
    k.gather_rows: (A2, I1, int64, int64, A2),
    k.mse_loss: (A2, A2, A2, T),
    k.huber_loss: (A2, A2, A2, float64, T),
    k.bce_loss: (A2, A2, A2, T),
    k.bce_logits_loss: (A2, A2, A2, T),
    k.cross_entropy_loss: (A2, I1, A2, T),
    k.penalty: (A1, A1, I2, float64, float64, T),
    k.sum_squares: (A1, T),
    k.scale: (A1, float64),
    k.all_finite: (A1, T),
    ko.sgd_step: (A1, A1, A1, float64, float64, float64, boolean, float64, boolean),
    ko.adam_step: (A1, A1, A1, A1, float64, float64, float64, float64, float64, boolean, float64),
    ko.rmsprop_step: (A1, A1, A1, A1, A1, float64, float64, float64, float64, float64, boolean),
    ko.adagrad_step: (A1, A1, A1, float64, float64, float64),
    kf.forward_t: (A2, A2, A1, A2),
    kf.backward_t: (A2, A2, A2, A2, A1, A2, boolean),
    kf.transpose: (A2, A2),
    kf.mlp_loss_and_grad: (A2, A2, I1, A1, A1, A1, I2, T, I1, int64, float64, T),
}
CCS = ((8, 0), (9, 0))


def main() -> int:
    results = {}
    for kernel, sig in SIGNATURES.items():
        for cc in CCS:
            key = f"{kernel.py_func.__module__.rsplit('.', 1)[-1]}.{kernel.__name__} {cc}"
            try:
                cuda.compile_ptx(kernel.py_func, sig, cc=cc)
                results[key] = "ok"
            except Exception as exc:  # report every failure, not just the first
                results[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    print(json.dumps(results))
    return 0 if all(v == "ok" for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
