"""Recurrent layers on a batch split into chunks, one per thread: the same numbers as on one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engine import Dense, Sequential, backend_layers
from engine.layers_seq import GRU, LSTM, RNN

NETS: dict[str, Callable[[], list]] = {
    "rnn-sequences": lambda: [RNN(2, 3), RNN(3, 3), Dense(3, 1)],
    "lstm-last": lambda: [LSTM(2, 4), LSTM(4, 3, return_sequences=False), Dense(3, 1)],
    "gru-lstm-gru": lambda: [GRU(2, 3), LSTM(3, 3), GRU(3, 2, return_sequences=False), Dense(2, 1)],
}


@pytest.fixture
def threads(monkeypatch) -> Callable[[int], None]:
    """Sets how many threads recurrent layers split a batch over (chunks of 2 samples or more);
    the kernels run all chunks on however many threads Numba really has."""
    monkeypatch.setattr(backend_layers, "MIN_CHUNK", 2)

    def use(n: int) -> None:
        monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: n)

    return use


@pytest.mark.parametrize(
    ("n", "threads_", "chunks"),
    [(64, 2, 2), (63, 2, 1), (64, 4, 4), (48, 4, 3), (20, 4, 1), (64, 1, 1), (40, 8, 2)],
)
def test_a_batch_splits_into_equal_chunks_of_16_or_more(monkeypatch, n, threads_, chunks) -> None:
    monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: threads_)
    net = Sequential([LSTM(2, 3)], input_shape=(4, 2))
    assert net.backend.batch_chunks(n) == chunks


def run(name: str, threads: Callable[[int], None], n: int, dtype: str, x, y):
    threads(n)
    net = Sequential(NETS[name](), seed=3, dtype=dtype, input_shape=(5, 2))
    loss = net.loss_and_grad(x, y, "mse")
    return net, loss, net.grad.copy(), np.array(net.forward(x))


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunks_give_the_numbers_of_one_chunk(name: str, dtype: str, threads) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 5, 2))
    y = rng.normal(size=(6, *Sequential(NETS[name](), input_shape=(5, 2)).output_shape))
    one, loss1, grad1, out1 = run(name, threads, 1, dtype, x, y)
    three, loss3, grad3, out3 = run(name, threads, 3, dtype, x, y)
    assert one.layers[0]._hs.shape[0] == 1 and three.layers[0]._hs.shape[0] == 3
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(loss3, loss1, rtol=tol)
    np.testing.assert_allclose(out3, out1, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad3, grad1, rtol=0, atol=tol * np.abs(grad1).max())
    for sample in (0, 3, 5):  # in the first, second and third chunk
        np.testing.assert_allclose(
            three.layers[0].hidden_states(sample), one.layers[0].hidden_states(sample), atol=tol
        )


@pytest.mark.parametrize("name", sorted(NETS))
def test_chunked_gradients_match_finite_differences(name: str, threads, gradient_error) -> None:
    threads(2)
    rng = np.random.default_rng(5)
    net = Sequential(NETS[name](), seed=6, dtype="float64", input_shape=(5, 2))
    x = rng.normal(size=(4, 5, 2))
    y = rng.normal(size=(4, *net.output_shape))
    assert gradient_error(net, x, y, "mse") < 1e-6
    assert net.layers[0]._hs.shape[0] == 2


def test_the_blas_thread_count_is_back_after_a_chunked_step(threads) -> None:
    from engine.threads import blas_threads

    before = blas_threads()
    threads(2)
    net = Sequential(NETS["lstm-last"](), seed=0, input_shape=(5, 2))
    x = np.random.default_rng(0).normal(size=(4, 5, 2)).astype(np.float32)
    net.loss_and_grad(x, np.zeros((4, 1), np.float32), "mse")
    assert net.layers[0]._hs.shape[0] == 2
    assert blas_threads() == before
