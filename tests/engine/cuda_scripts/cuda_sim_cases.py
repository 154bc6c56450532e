"""Every CUDA kernel against its CPU twin, in the CUDA simulator, on tiny shapes.

Run with ``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported (``test_cuda.py`` runs it in
a subprocess): prints one JSON line ``{"kernel": largest difference | "error: ..."}``, then the
backend-level checks (a network trained on ``device="cuda"`` against the same on the CPU).
"""

from __future__ import annotations

import os
import sys

import numpy as np

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"

from numba import cuda  # noqa: E402
from sim_common import Checks, diff  # noqa: E402

from engine.activations import ACTIVATIONS  # noqa: E402
from engine.kernels.cpu import core as cpu  # noqa: E402
from engine.kernels.cpu import fused as cpu_fused  # noqa: E402
from engine.kernels.cpu import optim as cpu_optim  # noqa: E402
from engine.kernels.cuda import core as kc  # noqa: E402
from engine.kernels.cuda import fused as kf  # noqa: E402
from engine.kernels.cuda import optim as ko  # noqa: E402

F = np.float32
RNG = np.random.default_rng(0)
CASES = Checks()
case = CASES.case
T, TILE = kc.THREADS, kc.TILE


def r(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(F)


def dev(a: np.ndarray):
    return cuda.to_device(a)


def total() -> object:
    return cuda.to_device(np.zeros(1))


@case("dense_forward")
def _dense_forward() -> float:
    x, W, b = r(5, 19), r(3, 19), r(3)
    z = np.empty((5, 3), F)
    cpu.dense_forward(x, W, b, z)
    zd = dev(np.zeros_like(z))
    kc.dense_forward[(1, 1), (TILE, TILE)](dev(x), dev(W), dev(b), zd)
    return diff(z, zd)


@case("dense_backward")
def _dense_backward() -> float:
    x, W, d = r(5, 18), r(3, 18), r(5, 3)
    gW, gb, gx = np.empty_like(W), np.empty(3, F), np.empty_like(x)
    cpu.dense_backward(x, W, d, gW, gb, gx, True)
    out = [dev(np.zeros_like(a)) for a in (gW, gb, gx)]
    kc.dense_backward[(2, 1, 3), (TILE, TILE)](dev(x), dev(W), dev(d), *out, True)
    return max(diff(a, o) for a, o in zip((gW, gb, gx), out))


@case("activation_forward", "activation_backward", "activation_forward_par")
def _activations() -> float:
    worst = 0.0
    for kind in (d.code for d in ACTIVATIONS.values()):  # every registered activation
        z, ga = r(3, 5) * 3, r(3, 5)
        a, gz = np.empty_like(z), np.empty_like(z)
        cpu.activation_forward(z, a, kind, 0.1)
        cpu.activation_backward(z, a, ga, gz, kind, 0.1)
        ad, gzd = dev(np.zeros_like(a)), dev(np.zeros_like(gz))
        kc.activation_forward[1, T](dev(z), ad, kind, 0.1)
        kc.activation_backward[1, T](dev(z), ad, dev(ga), gzd, kind, 0.1)
        worst = max(worst, diff(a, ad), diff(gz, gzd))
    return worst


CASES["activation_backward_par"] = _activations


@case("dropout_mask", "multiply")
def _dropout() -> float:
    u, x = RNG.random((4, 3)).astype(F), r(4, 3)
    mask, out = np.empty_like(u), np.empty_like(x)
    cpu.dropout_mask(u, 0.3, mask)
    cpu.multiply(x, mask, out)
    md, od = dev(np.zeros_like(mask)), dev(np.zeros_like(out))
    kc.dropout_mask[1, T](dev(u), 0.3, md)
    kc.multiply[1, T](dev(x), md, od)
    return max(diff(mask, md), diff(out, od))


@case("gather_rows")
def _gather() -> float:
    X, idx = r(6, 3), np.array([5, 0, 3, 1, 2, 4], np.int64)
    out = np.empty((3, 3), F)
    cpu.gather_rows(X, idx, 2, 5, out)
    od = dev(np.zeros_like(out))
    kc.gather_rows[1, T](dev(X), dev(idx), 2, 5, od)
    return diff(out, od)


def _loss_case(name: str, *extra: float) -> float:
    h, y = r(4, 3), RNG.random((4, 3)).astype(F)
    if name == "bce_loss":
        h = (1 / (1 + np.exp(-h))).astype(F)
    if name == "bce_logits_loss":
        y = (y > 0.5).astype(F)
    g = np.empty_like(h)
    value = getattr(cpu, name)(h, y, g, *extra)
    gd, t = dev(np.zeros_like(g)), total()
    getattr(kc, name)[1, T](dev(h), dev(y), gd, *extra, t)
    return max(diff(g, gd), abs(value - t.copy_to_host()[0] / h.size))


for _name, _extra in (("mse_loss", ()), ("huber_loss", (0.7,)), ("bce_loss", ())):
    CASES[_name] = lambda n=_name, e=_extra: _loss_case(n, *e)
CASES["bce_logits_loss"] = lambda: _loss_case("bce_logits_loss")


@case("cross_entropy_loss")
def _cross_entropy() -> float:
    z, labels = r(5, 4), np.array([0, 3, 1, 1, 2], np.int64)
    g = np.empty_like(z)
    value = cpu.cross_entropy_loss(z, labels, g)
    gd, t = dev(np.zeros_like(g)), total()
    kc.cross_entropy_loss[1, T](dev(z), dev(labels), gd, t)
    return max(diff(g, gd), abs(value - t.copy_to_host()[0] / 5))


@case("penalty", "sum_squares", "scale", "all_finite")
def _flat() -> float:
    data, grad = r(20), r(20)
    ranges = np.array([[2, 7], [10, 18]], np.int64)
    g_cpu = grad.copy()
    value = cpu.penalty(data, g_cpu, ranges, 0.01, 0.1)
    gd, t = dev(grad.copy()), total()
    kc.penalty[1, T](dev(data), gd, dev(ranges), 0.01, 0.1, t)
    worst = max(diff(g_cpu, gd), abs(value - t.copy_to_host()[0]))
    t = total()
    kc.sum_squares[1, T](dev(data), t)
    worst = max(worst, abs(cpu.sum_squares(data) - t.copy_to_host()[0]))
    v, vd = data.copy(), dev(data.copy())
    cpu.scale(v, 0.5)
    kc.scale[1, T](vd, 0.5)
    worst = max(worst, diff(v, vd))
    for arr in (data, np.array([1.0, np.nan, 2.0], F)):
        t = total()
        kc.all_finite[1, T](dev(arr), t)
        worst = max(worst, float(cpu.all_finite(arr) != (t.copy_to_host()[0] == 0)))
    return worst


def _optim_case(name: str, states: int, *hyper: object) -> float:
    p, g = r(30), r(30)
    s = [np.abs(r(30)) + 1 for _ in range(states)]  # square averages ≥ 1 ...
    if name == "rmsprop_step":
        s[1] *= 0.1  # ... above the squared mean gradient, as in a real run
    cp = [a.copy() for a in (p, g, *s)]
    getattr(cpu_optim, name)(*cp, *hyper)
    dv = [dev(a.copy()) for a in (p, g, *s)]
    getattr(ko, name)[1, T](*dv, *hyper)
    return max(diff(a, d) for a, d in zip(cp, dv))


CASES["sgd_step"] = lambda: _optim_case("sgd_step", 1, 0.1, 0.9, 0.1, True, 0.01, False)
CASES["adam_step"] = lambda: max(
    _optim_case("adam_step", 2, 1e-2, 0.9, 0.999, 1e-8, 0.01, dec, 3.0) for dec in (False, True)
)
CASES["rmsprop_step"] = lambda: _optim_case("rmsprop_step", 3, 1e-2, 0.99, 1e-8, 0.01, 0.9, True)
CASES["adagrad_step"] = lambda: _optim_case("adagrad_step", 1, 1e-2, 1e-10, 0.01)
CASES["nadam_step"] = lambda: _optim_case("nadam_step", 2, 0.01, 0.9, 0.999, 1e-8, 0.05, 0.06, 0.03)
for _n in ("sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "nadam_step"):
    CASES[_n + "_par"] = CASES[_n]


@case("forward_t", "backward_t", "transpose")
def _feature_major() -> float:
    xT, W, b, dT = r(4, 6), r(3, 4), r(3), r(3, 6)
    zT = np.empty((3, 6), F)
    cpu_fused.forward_t(xT, W, b, zT)
    zd = dev(np.zeros_like(zT))
    kf.forward_t[1, T](dev(xT), dev(W), dev(b), zd)
    gW, gb, gxT = np.empty_like(W), np.empty_like(b), np.empty_like(xT)
    cpu_fused.backward_t(xT, W, dT, gW, gb, gxT, True)
    out = [dev(np.zeros_like(a)) for a in (gW, gb, gxT)]
    kf.backward_t[1, T](dev(xT), dev(W), dev(dT), *out, True)
    tr = dev(np.zeros((6, 4), F))
    kf.transpose[1, T](dev(xT), tr)
    worst = max(diff(zT, zd), diff(xT.T, tr))
    return max(worst, *(diff(a, o) for a, o in zip((gW, gb, gxT), out)))


@case("mlp_loss_and_grad")
def _fused() -> float:
    from engine import Dense, Sequential, Tanh
    from engine.backends.fused import FusedStep, dense_groups

    net = Sequential([Dense(3, 5), Tanh(), Dense(5, 4), Tanh(), Dense(4, 2)], seed=1)
    step = FusedStep(net, dense_groups(net.layers), 6, "cross_entropy")
    x, labels = r(6, 3), np.array([0, 1, 1, 0, 1, 0], np.int64)
    value = step.run(x, labels)
    grad_d, t = dev(np.zeros_like(net.grad)), total()
    kf.mlp_loss_and_grad[1, T](
        dev(x), dev(step._no_y), dev(labels), dev(net.data), grad_d, dev(step.ws * 0),
        dev(step.plan), dev(step.alphas), dev(step.spots), 4, 1.0, t,
    )  # fmt: skip
    return max(diff(net.grad, grad_d), abs(value - t.copy_to_host()[0] / 6))


def backend_checks() -> dict[str, float]:
    """A network on ``device="cuda"`` against the same on the CPU, both paths and the trainer."""
    from engine import Dense, Dropout, ReLU, Sequential, Tanh, Trainer, optim

    out = {}
    x, labels = r(4, 3), np.array([0, 1, 1, 0])
    for fuse in (True, False):
        nets = [
            Sequential([Dense(3, 4), Tanh(), Dense(4, 2)], seed=2, device=d)
            for d in ("cpu", "cuda")
        ]
        opts = [optim.Adam(n, lr=0.05) for n in nets]
        losses = []
        for net, o in zip(nets, opts):
            net.fuse = fuse
            losses.append(net.loss_and_grad(x, labels, "cross_entropy"))
            o.step()
        key = "network (fused)" if fuse else "network (layer by layer)"
        out[key] = max(abs(losses[0] - losses[1]), diff(nets[0].data, nets[1].data))
    X, Y = r(6, 2), (RNG.random((6, 1)) < 0.5).astype(float)
    hist = []
    for d in ("cpu", "cuda"):
        net = Sequential([Dense(2, 3), ReLU(), Dropout(0.25), Dense(3, 1)], seed=0, device=d)
        tr = Trainer(net, loss="bce_logits", optimizer=optim.SGD(net, lr=0.1), batch_size=3)
        hist.append(tr.fit(X, Y, epochs=1, val=(X, Y)))
    out["trainer with dropout"] = max(
        abs(hist[0].train_loss[0] - hist[1].train_loss[0]),
        abs((hist[0].val_loss[0] or 0.0) - (hist[1].val_loss[0] or 0.0)),
    )
    return out


if __name__ == "__main__":
    sys.exit(CASES.main(backend_checks))
