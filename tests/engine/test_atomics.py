"""The counters threads share out work with inside one parallel region
(``engine.kernels.cpu.atomics``), and the split fused step built on them: the same numbers
whatever number of threads runs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from numba import njit, prange

from engine import Dense, ReLU, Sequential, optim
from engine.backends.fused import SYNC_SIZE, FusedStep, dense_groups
from engine.kernels.cpu import chunks as cpu_chunks
from engine.kernels.cpu.atomics import LINE, claim, done, fetch_add, load, wait_for


@njit(parallel=True)
def _count(counters, per_thread):
    for _t in prange(counters.shape[0] // LINE):
        for _ in range(per_thread):
            fetch_add(counters, 0, 1)
        fetch_add(counters, LINE, 2)


@njit(parallel=True)
def _share_out(counters, owner, pieces):
    """Every piece claimed once, by whichever thread gets it; then all wait for the round."""
    for _t in prange(4):
        k = claim(counters, 0)
        while k < pieces:
            owner[k] += 1
            done(counters, LINE)
            k = claim(counters, 0)
        wait_for(counters, LINE, pieces)


MANY_THREADS = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="needs two threads to run at once"
)


@MANY_THREADS
def test_fetch_add_loses_no_increment_when_threads_add_at_once() -> None:
    counters = np.zeros(4 * LINE, dtype=np.int64)
    _count(counters, 200_000)
    assert counters[0] == 4 * 200_000
    assert counters[LINE] == 2 * 4


def test_fetch_add_returns_the_value_before_and_load_reads_it() -> None:
    @njit
    def steps(a):
        first = fetch_add(a, 2, 5)
        second = fetch_add(a, 2, -1)
        return first, second, load(a, 2)

    assert steps(np.zeros(3, dtype=np.int64)) == (0, 5, 4)


@pytest.mark.parametrize("threads", [1, 2])
def test_each_piece_is_claimed_once_whatever_the_threads(threads: int) -> None:
    """Four iterations on one thread run one after another: the first does every piece and
    none waits for work nobody took."""
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        counters, owner = np.zeros(2 * LINE, dtype=np.int64), np.zeros(37, dtype=np.int64)
        _share_out(counters, owner, 37)
    finally:
        numba.set_num_threads(before)
    assert (owner == 1).all()
    assert counters[0] >= 37 and counters[LINE] == 37


def test_the_counters_reject_what_they_cannot_count_in() -> None:
    @njit
    def wrong(a):
        return fetch_add(a, 0, 1)

    with pytest.raises(numba.TypingError, match="int64 array"):
        wrong(np.zeros(2, dtype=np.float64))
    with pytest.raises(numba.TypingError, match="C-contiguous"):
        wrong(np.zeros(6, dtype=np.int64)[::2])


def test_the_workspace_holds_the_kernels_counters() -> None:
    assert SYNC_SIZE == cpu_chunks.SYNC_SIZE
    counters = (cpu_chunks.CLAIM_CHUNK, cpu_chunks.CHUNK_DONE, cpu_chunks.CLAIM_ROWS)
    counters += (cpu_chunks.ROWS_DONE, cpu_chunks.FAILED)
    assert max(counters) < SYNC_SIZE
    assert len({c // LINE for c in counters}) == len(counters)  # a cache line each


@MANY_THREADS
@pytest.mark.parametrize(("name", "hyper"), [("adam", {}), ("sgd", {"momentum": 0.9})])
@pytest.mark.parametrize("chunks", [2, 4])
def test_a_split_step_gives_the_same_bits_on_one_thread_as_on_all(
    chunks: int, name: str, hyper: dict
) -> None:
    """Which thread runs which chunk and block of rows cannot change a number."""
    results = []
    for threads in (numba.config.NUMBA_NUM_THREADS, 1):
        net = Sequential([Dense(60, 48), ReLU(), Dense(48, 5)], seed=3, dtype="float32")
        groups = dense_groups(net.layers)
        assert groups is not None
        n = 8 * chunks
        step = FusedStep(net, groups, n, "cross_entropy", chunks=chunks)
        rng = np.random.default_rng(0)
        x = net.as_input(rng.normal(size=(n, 60)))
        y = net.as_target(rng.integers(0, 5, n), "cross_entropy", n)
        opt = optim.create(name, net, lr=0.01, **hyper)
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            losses = [step.run(x, y, opt) for _ in range(4)]
        finally:
            numba.set_num_threads(before)
        results.append((losses, net.data.copy(), np.array(step.output)))
    (l_all, d_all, o_all), (l_one, d_one, o_one) = results
    assert l_all == l_one
    np.testing.assert_array_equal(d_all, d_one)
    np.testing.assert_array_equal(o_all, o_one)


FAILING_CHUNK = """
import numpy as np
from engine import Dense, ReLU, Sequential
from engine.backends.cpu import _fused_kernel
from engine.backends.fused import FusedStep, dense_groups
from engine.kernels.cpu import chunks

net = Sequential([Dense(200, 64), ReLU(), Dense(64, 5)], seed=0)
step = FusedStep(net, dense_groups(net.layers), 16, "cross_entropy", chunks=2)
w = step.workspace
x = np.zeros((16, 200), dtype=np.float32)
labels = np.zeros(16, dtype=np.int64)
kernel = _fused_kernel(chunks.mlp_loss_and_grad_chunks, x, step._no_y, labels, w)
# the first product's shapes do not fit: it raises in each chunk
wrong = np.zeros((16, 199), dtype=np.float32)
try:
    kernel(wrong, step._no_y, labels, w.data, w.grad, w.ws, w.plan, w.alphas, w.spots,
           w.loss, w.huber_delta, w.kinds, w.out, w.coefs, w.m, w.v, w.hyper, w.sync, w.losses)
except RuntimeError as e:
    print("raised:", e)
"""


def test_a_chunk_that_raises_ends_the_step_with_an_error_instead_of_a_hang() -> None:
    """Each thread waits for every chunk to be counted done: one that raised must still be
    counted, or the others would spin forever. Run apart, so that a hang fails this test
    instead of stopping the suite."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FAILING_CHUNK)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "raised: the split fused step failed on one of its threads" in result.stdout, (
        result.stdout + result.stderr
    )
