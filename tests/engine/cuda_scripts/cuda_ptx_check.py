"""Compiles every CUDA kernel to PTX, without a GPU and without the simulator.

Run as a script (``tests/engine/test_cuda.py`` does, in a subprocess, because the simulator
must not be active): prints one JSON line ``{"kernel (cc)": "ok" | error}``. A kernel that only
the simulator accepts — Python it runs but CUDA cannot type — fails here. With the argument
``layers`` it compiles the kernels of the image, recurrent and attention layers instead, for
float32 and float64 arrays (``{"kernel dtype (cc)": …}``); the test runs both halves side by side.
"""

from __future__ import annotations

import json
import sys

from numba import boolean, cuda, float32, float64, int64

from engine.kernels.cuda import attention as ka
from engine.kernels.cuda import conv as kc
from engine.kernels.cuda import core as k
from engine.kernels.cuda import fused as kf
from engine.kernels.cuda import norm as kn
from engine.kernels.cuda import optim as ko
from engine.kernels.cuda import pool as kp
from engine.kernels.cuda import sequence as kr
from engine.kernels.cuda import sequence as ks

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
    ko.nadam_step: (A1, A1, A1, A1, *(float64,) * 7),
    kf.forward_t: (A2, A2, A1, A2),
    kf.backward_t: (A2, A2, A2, A2, A1, A2, boolean),
    kf.transpose: (A2, A2),
    kf.mlp_loss_and_grad: (A2, A2, I1, A1, A1, A1, I2, T, I1, int64, float64, T),
}
CCS = ((8, 0), (9, 0))


def layer_signatures(F) -> dict:
    """The kernels of the image, recurrent, attention and sequence layers, for ``F`` arrays."""
    A1, A2, A3, A4 = F[::1], F[:, ::1], F[:, :, ::1], F[:, :, :, ::1]
    i, b, f = int64, boolean, float64
    return {
        kc.im2col: (A4, i, i, i, i, A2),
        kc.col2im: (A2, i, i, i, i, A4),
        kc.rows_to_nchw: (A2, A4),
        kc.nchw_to_rows: (A4, A2),
        kp.maxpool2d_forward: (A4, i, i, A4, int64[:, :, :, ::1]),
        kp.maxpool2d_backward: (A4, int64[:, :, :, ::1], i, i, A4),
        kp.avgpool2d_forward: (A4, i, i, A4),
        kp.avgpool2d_backward: (A4, i, i, A4),
        kn.batchnorm_forward: (A3, A1, A1, f, b, f, A1, A1, A3, A3, A1),
        kn.batchnorm_backward: (A3, A3, A1, A1, A3, A1, A1),
        kn.layernorm_forward: (A2, A1, A1, f, A2, A2, A1),
        kn.layernorm_backward: (A2, A2, A1, A1, A2, A1, A1),
        kr.matmul: (A2, A2, A2, b),
        kr.rnn_step: (A3, A2, A3, i),
        kr.rnn_step_backward: (A3, A3, A2, A3, i),
        kr.lstm_step: (A3, A2, A3, A3, A3, A3, i),
        kr.lstm_step_backward: (A3, A3, A3, A3, A2, A2, A3, i),
        kr.gru_step: (A3, A2, A3, A3, A3, i),
        kr.gru_step_backward: (A3, A3, A3, A3, A2, A3, A3, i),
        ka.attention_scores: (A3, i, b, A4),
        ka.attention_softmax: (A4,),
        ka.attention_output: (A4, A3, A3),
        ka.attention_grad_values: (A3, A4, A3),
        ka.attention_grad_weights: (A3, A3, A4),
        ka.attention_softmax_backward: (A4, A4),
        ka.attention_grad_qk: (A4, A3, A3),
        ks.swap01: (A3, A3),
        ks.add_tiled: (A1, A1, A1),
        ks.embedding_forward: (A2, int64[::1], A2),
        ks.embedding_backward: (int64[::1], A2, A2),
    }


def compile_one(kernel, sig: tuple, cc: tuple[int, int]) -> str:
    try:
        cuda.compile_ptx(kernel.py_func, sig, cc=cc)
        return "ok"
    except Exception as exc:  # report every failure, not just the first
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"


def name(kernel) -> str:
    return f"{kernel.py_func.__module__.rsplit('.', 1)[-1]}.{kernel.__name__}"


def main(part: str) -> int:
    results = {}
    if part == "layers":
        for dtype in (float32, float64):
            for kernel, sig in layer_signatures(dtype).items():
                for cc in CCS:
                    results[f"{name(kernel)} {dtype} {cc}"] = compile_one(kernel, sig, cc)
    else:
        for kernel, sig in SIGNATURES.items():
            for cc in CCS:
                results[f"{name(kernel)} {cc}"] = compile_one(kernel, sig, cc)
    print(json.dumps(results))
    return 0 if all(v == "ok" for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "mlp"))
