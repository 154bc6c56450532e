"""Every CPU kernel against a plain NumPy reference, in both dtypes, serial and parallel twins."""

from __future__ import annotations

import numpy as np
import pytest

from engine.activations import ACTIVATIONS, ELU, LEAKY_RELU, RELU, SIGMOID, TANH, TANH_F32
from engine.backends.cpu import CPUBackend
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu import optim as cpu_optim

DTYPES = [np.float32, np.float64]


def tol(dtype: type) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def rand(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    return rng.normal(size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_and_backward_match_numpy(dtype: type) -> None:
    rng = np.random.default_rng(0)
    x, W, b = rand(rng, (7, 5), dtype), rand(rng, (3, 5), dtype), rand(rng, (3,), dtype)
    z = np.empty((7, 3), dtype)
    cpu.dense_forward(x, W, b, z)
    np.testing.assert_allclose(z, x @ W.T + b, **tol(dtype))
    delta = rand(rng, (7, 3), dtype)
    gW, gb, gx = np.empty_like(W), np.empty_like(b), np.empty_like(x)
    cpu.dense_backward(x, W, delta, gW, gb, gx, True)
    np.testing.assert_allclose(gW, delta.T @ x, **tol(dtype))
    np.testing.assert_allclose(gb, delta.sum(0), **tol(dtype))
    np.testing.assert_allclose(gx, delta @ W, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("parallel", [False, True])
def test_activation_kernels_match_their_numpy_forms(dtype: type, name: str, parallel: bool) -> None:
    """Every registered activation: the kernels' σ and σ′ against the definition's NumPy forms."""
    d = ACTIVATIONS[name]
    rng = np.random.default_rng(d.code)
    z = rand(rng, (6, 4), dtype) * 3
    a, ga, gz = np.empty_like(z), rand(rng, (6, 4), dtype), np.empty_like(z)
    fwd = cpu.activation_forward_par if parallel else cpu.activation_forward
    bwd = cpu.activation_backward_par if parallel else cpu.activation_backward
    fwd(z, a, d.code, 0.1)
    bwd(z, a, ga, gz, d.code, 0.1)
    np.testing.assert_allclose(a, d.forward(z, 0.1), **tol(dtype))
    np.testing.assert_allclose(gz, ga * d.derivative(z, d.forward(z, 0.1), 0.1), **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(cpu.FORWARD))
def test_each_activations_own_kernels_match_the_numpy_forms(dtype: type, kind: int) -> None:
    """The small per-activation kernels the backend picks, in 2-D and in 4-D (a conv's maps)."""
    d = next(d for d in ACTIVATIONS.values() if d.code == (TANH if kind == TANH_F32 else kind))
    close = tol(np.float32 if kind == TANH_F32 else dtype)  # float32's tanh, whatever the arrays
    rng = np.random.default_rng(kind)
    for shape in ((6, 4), (2, 3, 2, 2)):
        z = rand(rng, shape, dtype) * 3
        a, ga, gz = np.empty_like(z), rand(rng, shape, dtype), np.empty_like(z)
        cpu.FORWARD[kind](z, a, 0.1)
        cpu.BACKWARD[kind](z, a, ga, gz, 0.1)
        np.testing.assert_allclose(a, d.forward(z, 0.1), **close)
        want = ga * d.derivative(z, d.forward(z, 0.1), 0.1)
        np.testing.assert_allclose(gz, want, **close)


def test_the_backend_runs_common_activations_without_the_general_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ReLU, tanh and the others call their own kernel, so a network of them never compiles the
    general kernels' code for every activation; the rest still reach the general ones."""

    def general(*args: object) -> None:
        raise AssertionError("the general activation kernel was called")

    backend = CPUBackend()
    z = np.linspace(-2.0, 2.0, 12, dtype=np.float32).reshape(3, 4)
    a, gz = np.empty_like(z), np.empty_like(z)
    with monkeypatch.context() as patch:
        patch.setattr(cpu, "activation_forward", general)
        patch.setattr(cpu, "activation_backward", general)
        for kind in (RELU, LEAKY_RELU, SIGMOID, TANH):
            backend.activation_forward(z, a, kind, 0.1)
            backend.activation_backward(z, a, z, gz, kind, 0.1)
        with pytest.raises(AssertionError, match="general"):
            backend.activation_forward(z, a, ELU, 1.0)
    backend.activation_forward(z, a, ELU, 1.0)
    np.testing.assert_allclose(a, ACTIVATIONS["elu"].forward(z, 1.0), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivatives_match_finite_differences(name: str) -> None:
    """σ′ of each definition against central differences of its σ, away from any kink."""
    d = ACTIVATIONS[name]
    z = np.linspace(-3.0, 3.0, 61)
    z = z[np.abs(z) > 1e-3]
    h = 1e-6
    numeric = (d.forward(z + h, 0.2) - d.forward(z - h, 0.2)) / (2 * h)
    np.testing.assert_allclose(d.derivative(z, d.forward(z, 0.2), 0.2), numeric, atol=1e-7)


def test_sigmoid_is_stable_for_large_inputs() -> None:
    z = np.array([[-800.0, 800.0]])
    a = np.empty_like(z)
    cpu.activation_forward(z, a, SIGMOID, 0.0)
    assert a.tolist() == [[0.0, 1.0]]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_and_multiply(dtype: type) -> None:
    u = np.array([[0.1, 0.5], [0.7, 0.29]], dtype)
    mask = np.empty_like(u)
    cpu.dropout_mask(u, 0.3, mask)
    np.testing.assert_allclose(mask, np.where(u >= 0.3, 1 / 0.7, 0), **tol(dtype))
    out = np.empty_like(u)
    cpu.multiply(u, mask, out)
    np.testing.assert_allclose(out, u * mask, **tol(dtype))


def _loss_refs(name: str, yh: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    n = yh.size
    if name == "mse":
        return float(((yh - y) ** 2).mean()), 2 * (yh - y) / n
    if name == "huber":
        d = yh - y
        loss = np.where(np.abs(d) <= 1, 0.5 * d * d, np.abs(d) - 0.5)
        return float(loss.mean()), np.clip(d, -1, 1) / n
    if name == "bce":
        loss = -(y * np.log(yh) + (1 - y) * np.log(1 - yh))
        return float(loss.mean()), (yh - y) / (yh * (1 - yh)) / n
    s = 1 / (1 + np.exp(-yh))  # bce_logits
    loss = -(y * np.log(s) + (1 - y) * np.log(1 - s))
    return float(loss.mean()), (s - y) / n


@pytest.mark.parametrize("name", ["mse", "huber", "bce", "bce_logits"])
def test_elementwise_losses_match_numpy(name: str) -> None:
    rng = np.random.default_rng(1)
    yh = rng.uniform(0.05, 0.95, (5, 2)) if name == "bce" else rng.normal(size=(5, 2)) * 2
    y = rng.integers(0, 2, (5, 2)).astype(float)
    grad = np.empty_like(yh)
    fn = {"mse": cpu.mse_loss, "bce": cpu.bce_loss, "bce_logits": cpu.bce_logits_loss}.get(name)
    value = cpu.huber_loss(yh, y, grad, 1.0) if fn is None else fn(yh, y, grad)
    ref, ref_grad = _loss_refs(name, yh, y)
    assert value == pytest.approx(ref, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10)


def test_cross_entropy_matches_log_softmax() -> None:
    rng = np.random.default_rng(2)
    z, labels = rng.normal(size=(6, 4)) * 3, rng.integers(0, 4, 6)
    grad = np.empty_like(z)
    value = cpu.cross_entropy_loss(z, labels, grad)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert value == pytest.approx(-np.log(p[np.arange(6), labels]).mean(), rel=1e-12)
    onehot = np.eye(4)[labels]
    np.testing.assert_allclose(grad, (p - onehot) / 6, rtol=1e-10, atol=1e-15)


def test_bce_clamps_log_at_minus_100_like_pytorch() -> None:
    grad = np.empty((1, 1))
    assert cpu.bce_loss(np.array([[0.0]]), np.array([[1.0]]), grad) == pytest.approx(100.0)


def test_penalty_norms_scale_finite_and_gather() -> None:
    data = np.array([1.0, -2.0, 3.0, 4.0])
    grad = np.zeros(4)
    ranges = np.array([[0, 2]], dtype=np.int64)
    total = cpu.penalty(data, grad, ranges, 0.1, 0.01)
    assert total == pytest.approx(0.1 * 3 + 0.005 * 5)
    np.testing.assert_allclose(grad, [0.1 + 0.01, -0.1 - 0.02, 0, 0])
    assert cpu.sum_squares(data) == pytest.approx(30.0)
    cpu.scale(data, 0.5)
    np.testing.assert_allclose(data, [0.5, -1, 1.5, 2])
    assert cpu.all_finite(data) and not cpu.all_finite(np.array([1.0, np.nan]))
    X, out = np.arange(12.0).reshape(4, 3), np.empty((2, 3))
    cpu.gather_rows(X, np.array([3, 1, 0], dtype=np.int64), 0, 2, out)
    np.testing.assert_array_equal(out, X[[3, 1]])


OPTIMISER_CASES = {
    "sgd": (1, (0.1, 0.9, 0.1, False, 0.01, False)),
    "adam": (2, (0.1, 0.9, 0.999, 1e-8, 0.01, True, 3.0)),
    "rmsprop": (3, (0.1, 0.99, 1e-8, 0.0, 0.9, True)),
    "adagrad": (1, (0.1, 1e-10, 0.0)),
}


@pytest.mark.parametrize("name", sorted(OPTIMISER_CASES))
def test_optimiser_serial_and_parallel_twins_agree(name: str) -> None:
    rng = np.random.default_rng(3)
    n = 3 * cpu.CHUNK + 5
    p0, g = rng.normal(size=n), rng.normal(size=n)
    n_state, hyper = OPTIMISER_CASES[name]
    results = []
    for suffix in ("", "_par"):
        p = p0.copy()
        state = [np.full(n, 0.5) for _ in range(n_state)]
        getattr(cpu_optim, f"{name}_step{suffix}")(p, g, *state, *hyper)
        results.append((p, state))
    (p_s, st_s), (p_p, st_p) = results
    np.testing.assert_array_equal(p_s, p_p)
    for a, b in zip(st_s, st_p):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(p_s, p0)
