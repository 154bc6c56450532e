"""The fused training step against the layer-by-layer path, and its kernels against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Dense, Dropout, LeakyReLU, ReLU, Sequential, Sigmoid, Tanh, optim
from engine.activations import RELU, TANH, TANH_F32
from engine.backends.fused import dense_groups
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu import fused as cpu_fused

TOL = {"float32": {"rtol": 2e-5, "atol": 2e-6}, "float64": {"rtol": 1e-11, "atol": 1e-12}}

NETS = {
    "toy tanh": (lambda: [Dense(2, 8), Tanh(), Dense(8, 8), Tanh(), Dense(8, 1)], "bce_logits"),
    "leaky sigmoid": (
        lambda: [Dense(3, 5), LeakyReLU(0.1), Dense(5, 4), Sigmoid(), Dense(4, 2)],
        "mse",
    ),
    "sigmoid output": (lambda: [Dense(3, 5), ReLU(), Dense(5, 1), Sigmoid()], "bce"),
    "linear": (lambda: [Dense(3, 5), Dense(5, 2)], "huber"),
    "classes": (lambda: [Dense(6, 7), Tanh(), Dense(7, 4)], "cross_entropy"),
    "blas layers": (lambda: [Dense(200, 64), ReLU(), Dense(64, 10)], "cross_entropy"),
}


def _pair(name: str, dtype: str) -> tuple[Sequential, Sequential]:
    make, _ = NETS[name]
    fused = Sequential(make(), seed=3, dtype=dtype)
    layered = fused.copy()
    layered.fuse = False
    return fused, layered


def _batch(net: Sequential, loss: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, net.in_features))
    if loss == "cross_entropy":
        return x, rng.integers(0, net.out_features, n)
    if loss in ("bce", "bce_logits"):
        return x, (rng.random((n, net.out_features)) < 0.5).astype(float)
    return x, rng.normal(size=(n, net.out_features))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("n", [1, 7, 40])
def test_fused_step_matches_layer_by_layer(name: str, dtype: str, n: int) -> None:
    fused, layered = _pair(name, dtype)
    loss = NETS[name][1]
    x, y = _batch(fused, loss, n)
    value = fused.loss_and_grad(x, y, loss)
    assert fused._fused.get(n, loss) is not None  # the fused kernel did run
    ref = layered.loss_and_grad(x, y, loss)
    assert value == pytest.approx(ref, rel=TOL[dtype]["rtol"] * 10, abs=TOL[dtype]["atol"])
    np.testing.assert_allclose(fused.grad, layered.grad, **TOL[dtype])
    np.testing.assert_allclose(fused.last_output, layered.last_output, **TOL[dtype])


@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop"])
def test_training_trajectories_agree(opt: str) -> None:
    """Twenty steps with each path end at the same weights (float64: no drift to hide)."""
    fused, layered = _pair("toy tanh", "float64")
    x, y = _batch(fused, "bce_logits", 16, seed=1)
    opts = [optim.create(opt, net, lr=0.05) for net in (fused, layered)]
    for _ in range(20):
        for net, o in zip((fused, layered), opts):
            net.loss_and_grad(x, y, "bce_logits", l2=1e-3)
            o.step()
    np.testing.assert_allclose(fused.data, layered.data, rtol=1e-10, atol=1e-12)


def test_only_dense_activation_rows_are_fused() -> None:
    assert dense_groups([Dense(2, 3), Tanh(), Dense(3, 1)]) is not None
    assert dense_groups([Dense(2, 3), Dropout(0.5), Dense(3, 1)]) is None
    assert dense_groups([Dense(2, 3), Tanh(), Sigmoid(), Dense(3, 1)]) is None
    net = Sequential([Dense(2, 3), Dropout(0.2), Dense(3, 1)])
    assert net._fused.get(8, "mse") is None
    big = Sequential([Dense(4, 2048), ReLU(), Dense(2048, 1)])  # 64 × 2048 > fused_limit
    assert big._fused.get(64, "mse") is None
    assert big._fused.get(8, "mse") is not None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_a_batch_split_over_threads_matches_layer_by_layer(dtype: str, loss: str) -> None:
    """A batch large enough is split into one chunk per thread, each with its own workspace and
    gradient; the gradients' mean, the loss and the output are the whole batch's."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:  # type: ignore[attr-defined]
        pytest.skip("needs two of Numba's threads")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    try:
        make = NETS["blas layers"][0]
        fused, layered = Sequential(make(), dtype=dtype), Sequential(make(), dtype=dtype)
        layered.fuse = False
        x, y = _batch(fused, loss, 160, seed=3)
        value = fused.loss_and_grad(x, y, loss)
        step = fused._fused.get(160, loss)
        ref = layered.loss_and_grad(x, y, loss)
    finally:
        numba.set_num_threads(before)
    assert step is not None and step.chunks == 2
    assert value == pytest.approx(ref, rel=TOL[dtype]["rtol"] * 10, abs=TOL[dtype]["atol"])
    np.testing.assert_allclose(fused.grad, layered.grad, **TOL[dtype])
    np.testing.assert_allclose(fused.last_output, layered.last_output, **TOL[dtype])
    x_small, y_small = _batch(fused, loss, 16)  # too little work to split
    fused.loss_and_grad(x_small, y_small, loss)
    small = fused._fused.get(16, loss)
    assert small is not None and small.chunks == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chunks", [2, 3, 4])
@pytest.mark.parametrize("name", ["toy tanh", "linear", "blas layers", "leaky sigmoid"])
def test_chunks_weight_gradients_made_after_every_chunk_match_layer_by_layer(
    name: str, chunks: int, dtype: str
) -> None:
    """Each chunk keeps every layer's δ; the weight gradients are made from all of them after
    (α = 1/C, the first chunk's product written, the others added): loops for small layers,
    BLAS for large ones, identity layers' δ copied, any number of chunks on any threads."""
    from engine.backends.fused import FusedStep

    fused, layered = _pair(name, dtype)
    loss = NETS[name][1]
    n = 12 * chunks
    x, y = _batch(fused, loss, n, seed=chunks)
    groups = dense_groups(fused.layers)
    assert groups is not None
    step = FusedStep(fused, groups, n, loss, chunks=chunks)
    fused.grad[:] = np.nan  # every entry must be written, none only added to
    value = step.run(fused.as_input(x), fused.as_target(y, loss, n))
    ref = layered.loss_and_grad(x, y, loss)
    assert step.chunks == chunks and step.workspace.coefs is not None
    assert value == pytest.approx(ref, rel=TOL[dtype]["rtol"] * 10, abs=TOL[dtype]["atol"])
    np.testing.assert_allclose(fused.grad, layered.grad, **TOL[dtype])
    np.testing.assert_allclose(step.output, layered.last_output, **TOL[dtype])


def test_chunks_that_do_not_split_the_batch_evenly_are_refused() -> None:
    """Every chunk's workspace is made for n / C samples: an uneven split would write past it."""
    from engine.backends.fused import FusedStep

    net = Sequential(NETS["linear"][0](), seed=0)
    groups = dense_groups(net.layers)
    assert groups is not None
    with pytest.raises(ValueError, match="does not split into 3 equal chunks"):
        FusedStep(net, groups, 10, "huber", chunks=3)


def test_fused_step_allocates_no_arrays() -> None:
    """Numba's runtime makes one record per array argument of a call, and nothing else."""
    from numba.core.runtime import _nrt_python, rtsys

    net = Sequential(NETS["blas layers"][0]())
    x, y = _batch(net, "cross_entropy", 32)
    xb, yb = net.as_input(x), net.as_target(y, "cross_entropy", 32)
    opt = optim.Adam(net)
    step = net._fused.get(32, "cross_entropy")
    net._loss_and_grad(xb, yb, "cross_entropy", 0.0, 0.0)
    opt.step()
    enabled = _nrt_python.memsys_stats_enabled()
    _nrt_python.memsys_enable_stats()
    try:
        before = rtsys.get_allocation_stats().alloc
        for _ in range(5):
            net._loss_and_grad(xb, yb, "cross_entropy", 0.0, 0.0)
            opt.step()
        per_step = (rtsys.get_allocation_stats().alloc - before) / 5
    finally:
        if not enabled:
            _nrt_python.memsys_disable_stats()
    assert step is not None
    assert per_step == 9 + 4  # fused kernel: 9 array arguments; Adam: p, g, m, v


def _ref_forward_t(xT, W, b):
    return W @ xT + b[:, None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_feature_major_kernels_match_numpy(dtype: type) -> None:
    rng = np.random.default_rng(2)
    xT, W, b = (rng.normal(size=s).astype(dtype) for s in ((5, 9), (4, 5), (4,)))
    zT = np.empty((4, 9), dtype)
    cpu_fused.forward_t(xT, W, b, zT)
    tol = {"rtol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    np.testing.assert_allclose(zT, _ref_forward_t(xT, W, b), **tol)
    deltaT = rng.normal(size=(4, 9)).astype(dtype)
    gW, gb, gxT = np.empty_like(W), np.empty_like(b), np.empty_like(xT)
    cpu_fused.backward_t(xT, W, deltaT, gW, gb, gxT, True)
    np.testing.assert_allclose(gW, deltaT @ xT.T, **tol)
    np.testing.assert_allclose(gb, deltaT.sum(1), **tol)
    np.testing.assert_allclose(gxT, W.T @ deltaT, **tol)
    out = np.empty((9, 5), dtype)
    cpu_fused.transpose(xT, out)
    np.testing.assert_array_equal(out, xT.T)


def test_float32_tanh_is_within_a_few_ulp() -> None:
    z = np.concatenate([np.linspace(-12, 12, 200_001), np.geomspace(1e-8, 9, 20_000)])
    z = np.concatenate([z, -z, [0.0, np.inf, -np.inf]]).astype(np.float32)
    a = np.empty_like(z).reshape(1, -1)
    cpu.activation_forward(z.reshape(1, -1), a, TANH_F32, 0.0)
    ref = np.tanh(z.astype(np.float64))
    ulp = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(a[0] - ref) / ulp) < 8
    nan, out = np.full((1, 1), np.nan, np.float32), np.zeros((1, 1), np.float32)
    cpu.activation_forward(nan, out, TANH_F32, 0.0)
    assert np.isnan(out[0, 0])


def test_backend_uses_fast_tanh_for_float32_only() -> None:
    from engine.backends.cpu import CPU

    assert CPU.kernel_activation(TANH, np.dtype(np.float32)) == TANH_F32
    assert CPU.kernel_activation(TANH, np.dtype(np.float64)) == TANH
    assert CPU.kernel_activation(RELU, np.dtype(np.float32)) == RELU


def test_warm_up_compiles_the_step_split_over_threads() -> None:
    """The warm-up calls the split step's kernels, so a large network's first step (split as
    soon as the batch allows) finds them compiled."""
    from engine.kernels.cpu import chunks as cpu_chunks
    from engine.warmup import _one_step, _parallel_twins

    _one_step("float64", "mse", rows=8)
    _parallel_twins("float64")
    kernel = cpu_chunks.mlp_loss_and_grad_chunks
    assert any(str(sig[0]).startswith("array(float64") for sig in kernel.signatures)
