"""What a warm training step allocates, as ``tracemalloc`` sees it.

A step's figure is the peak of memory in use while it runs, over what was in use when it began
(``dltui bench``'s bytes per step). Every view, tuple, iterator or name string a step makes shows
in it: a step of the networks below needs under 1 KiB, whatever their size (their arrays are all
kept from one step to the next), and leaves nothing behind.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from engine import (
    LSTM,
    Conv2D,
    Dense,
    Embedding,
    Flatten,
    LayerNorm,
    MaxPool2D,
    PositionalEncoding,
    Sequential,
    optim,
)
from engine.layers.activations import ReLU
from engine.layers.blocks import transformer_block

KIB = 1024


def transformer() -> tuple[Sequential, np.ndarray, np.ndarray]:
    """The bench's transformer: 2 causal pre-norm blocks, d 64, 4 heads, FFN 256, 64 tokens."""
    layers = [Embedding(64, 64), PositionalEncoding(64)]
    for _ in range(2):
        layers += transformer_block(64, 4, 256, causal=True)
    net = Sequential([*layers, LayerNorm(64), Dense(64, 64)], input_shape=(64,), seed=0)
    rng = np.random.default_rng(0)
    return net, rng.integers(0, 64, (32, 64)), rng.integers(0, 64, (32, 64))


def lstm() -> tuple[Sequential, np.ndarray, np.ndarray]:
    """The bench's LSTM: 32 steps of 32 features, hidden 128, its last state read out."""
    net = Sequential(
        [LSTM(32, 128, return_sequences=False), Dense(128, 10)], input_shape=(32, 32), seed=0
    )
    rng = np.random.default_rng(0)
    return net, rng.normal(size=(64, 32, 32)), rng.integers(0, 10, 64)


def lenet() -> tuple[Sequential, np.ndarray, np.ndarray]:
    """The bench's LeNet-style CNN on 28×28 images."""
    layers = [
        Conv2D(1, 16, 3, padding=1), ReLU(), MaxPool2D(2),
        Conv2D(16, 32, 3, padding=1), ReLU(), MaxPool2D(2),
        Flatten(), Dense(32 * 7 * 7, 128), ReLU(), Dense(128, 10),
    ]  # fmt: skip
    net = Sequential(layers, input_shape=(1, 28, 28), seed=0)
    rng = np.random.default_rng(0)
    return net, rng.normal(size=(64, 1, 28, 28)), rng.integers(0, 10, 64)


NETS: dict[str, Callable[[], tuple[Sequential, np.ndarray, np.ndarray]]] = {
    "transformer": transformer,
    "lstm": lstm,
    "lenet": lenet,
}


def step_memory(net: Sequential, x: np.ndarray, y: np.ndarray, steps: int = 8) -> np.ndarray:
    """Each traced step's (peak over its start, in use at its end over its start), once warm.

    A step is what ``Trainer`` runs per mini-batch: forward, loss, backward, Adam's update. The
    first traced steps also count objects freed that were made before tracing began, so only
    the last half are returned.
    """
    opt = optim.create("adam", net, lr=1e-3)
    xb = net.as_input(x)
    yb = net.as_target(y, "cross_entropy", xb.shape[0])
    for _ in range(3):
        net._loss_and_grad(xb, yb, "cross_entropy", 0.0, 0.0)
        opt.step()
    gc.collect()
    seen = np.zeros((steps, 2), np.int64)  # made before tracing: recording allocates nothing
    tracemalloc.start()
    try:
        for i in range(steps):
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            net._loss_and_grad(xb, yb, "cross_entropy", 0.0, 0.0)
            opt.step()
            end, peak = tracemalloc.get_traced_memory()
            seen[i] = peak - start, end - start
    finally:
        tracemalloc.stop()
    return seen[steps // 2 :]


@pytest.mark.parametrize("name", NETS)
def test_a_warm_step_allocates_under_1_kib(name: str) -> None:
    net, x, y = NETS[name]()
    if name == "lstm" and net.backend.batch_chunks(x.shape[0]) == 1:
        pytest.skip("one Numba thread: a recurrent batch runs as one chunk, whose path makes views")
    seen = step_memory(net, x, y)
    assert seen[:, 0].max() < KIB, f"{name}: peaks of {seen[:, 0].tolist()} bytes in a step"


@pytest.mark.parametrize("name", ["transformer", "lstm", "lenet"])
def test_a_warm_step_leaves_nothing_behind(name: str) -> None:
    """Nothing a step makes outlives it (a name string kept in Python's attribute cache, a view
    made again each step and kept until the next one, did)."""
    net, x, y = NETS[name]()
    seen = step_memory(net, x, y)
    assert (seen[:, 1] <= 0).all(), f"still in use after a step: {seen[:, 1].tolist()} bytes"


def test_attention_views_follow_a_new_batch_shape() -> None:
    """The views the attention layer keeps are made again for another batch size, and the
    output for each batch is the same as a fresh network's."""
    net, x, _ = transformer()
    twin = net.copy()
    for n in (32, 8, 32):
        out = np.array(net._forward(net.as_input(x[:n]), training=True))
        fresh = twin.forward(x[:n])
        np.testing.assert_allclose(out, fresh, rtol=1e-5, atol=1e-6)


def test_large_arrays_start_on_a_cache_line_at_page_offsets_of_their_own() -> None:
    """The CPU backend places each large array on a 64-byte boundary, successive ones at
    different offsets within a page: NumPy's 16-byte start split vector loads across cache
    lines, and arrays at one page offset alias in the processor's store-to-load check."""
    from engine.backends.cpu import CPU, PAGE, PLACE_STEP, PLACED_FROM

    made = [CPU.zeros((257, 300), np.dtype(np.float32)) for _ in range(PAGE // PLACE_STEP)]
    offsets = {a.ctypes.data % PAGE for a in made}
    assert all(a.ctypes.data % 64 == 0 for a in made)
    assert len(offsets) == PAGE // PLACE_STEP  # a full turn: every offset once
    for a in made:
        assert a.shape == (257, 300) and a.dtype == np.float32 and a.flags.c_contiguous
        assert a.flags.writeable and not a.any()
    empty = CPU.empty((PLACED_FROM,), np.dtype(np.float64))
    assert empty.ctypes.data % 64 == 0 and empty.shape == (PLACED_FROM,)
    small = CPU.zeros((3, 4), np.dtype(np.float64))
    assert small.flags.owndata and not small.any()  # small arrays as NumPy makes them
    for shape in (5000, np.int64(5000), [5000]):  # whatever np.zeros takes
        assert CPU.zeros(shape, np.dtype(np.float32)).shape == (5000,)  # type: ignore[arg-type]
    assert CPU.empty((5000,), np.dtype(object)).dtype == object  # references are not placed


def test_placed_arrays_do_not_overlap() -> None:
    from engine.backends.cpu import CPU

    a, b = CPU.zeros((1 << 14,), np.dtype(np.float32)), CPU.zeros((1 << 14,), np.dtype(np.float32))
    a[:] = 1.0
    assert not b.any() and not np.shares_memory(a, b)
