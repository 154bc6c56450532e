"""Layers that split a batch into chunks, one per thread (convolution, max-pooling, recurrent
layers, attention, and the Dense layers of such networks): the same numbers as on one chunk, and
gradients that match finite differences."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from engine import Dense, ReLU, Sequential
from engine.activations import RELU
from engine.backends import cpu as backend_cpu
from engine.backends import cpu_layers as backend_layers
from engine.kernels.cpu import attention as cpu_attn
from engine.kernels.cpu import chunks as cpu_chunks
from engine.kernels.cpu import core as cpu
from engine.layers.blocks import Residual, transformer_block
from engine.layers.image import AvgPool2D, Conv2D, Flatten, MaxPool2D
from engine.layers.sequence import GRU, LSTM, RNN, MultiHeadSelfAttention
from engine.threads import blas_threads, blas_threads_for, in_split_step, split_step

SEQUENCES = (5, 2)
IMAGES = (2, 6, 6)
NETS: dict[str, tuple[Callable[[], list], tuple[int, ...]]] = {
    "rnn-sequences": (lambda: [RNN(2, 3), RNN(3, 3), Dense(3, 1)], SEQUENCES),
    "lstm-last": (lambda: [LSTM(2, 4), LSTM(4, 3, return_sequences=False), Dense(3, 1)], SEQUENCES),
    "gru-lstm-gru": (
        lambda: [GRU(2, 3), LSTM(3, 3), GRU(3, 2, return_sequences=False), Dense(2, 1)],
        SEQUENCES,
    ),
    "lenet": (
        lambda: [
            Conv2D(2, 3, 3, padding=1),
            ReLU(),
            MaxPool2D(2),
            Conv2D(3, 4, 3, padding=1),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(4, 2),
        ],
        IMAGES,
    ),
    "strided-residual": (
        lambda: [
            Conv2D(2, 3, 3, stride=2, padding=1),
            Residual([Conv2D(3, 3, 3, padding=1)]),
            MaxPool2D(3, stride=1),
            AvgPool2D(1),
            Flatten(),
            Dense(3, 1),
        ],
        IMAGES,
    ),
    "transformer": (
        lambda: [*transformer_block(4, 2, 8, causal=True), *transformer_block(4, 1), Dense(4, 1)],
        (5, 4),
    ),
}


def build(name: str, seed: int, dtype: str = "float64") -> Sequential:
    layers, shape = NETS[name]
    return Sequential(layers(), seed=seed, dtype=dtype, input_shape=shape)


def data(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    net = build(name, 0)
    return rng.normal(size=(n, *net.input_shape)), rng.normal(size=(n, *net.output_shape))


@pytest.fixture
def threads(monkeypatch) -> Callable[[int], None]:
    """Sets how many threads recurrent layers split a batch over (chunks of 2 samples or more);
    the kernels run all chunks on however many threads Numba really has."""
    monkeypatch.setattr(backend_layers, "MIN_CHUNK", 2)
    monkeypatch.setattr(backend_layers, "MIN_CONV_WORK", 0)
    monkeypatch.setattr(backend_layers, "MIN_POOL_WORK", 0)
    monkeypatch.setattr(backend_layers, "MIN_ATTENTION_WORK", 0)
    monkeypatch.setattr(backend_cpu, "PARALLEL_DENSE", 0)
    monkeypatch.setattr(backend_cpu, "DENSE_CHUNK_ROWS", 1)

    def use(n: int) -> None:
        monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: n)

    return use


@pytest.mark.parametrize(
    ("n", "threads_", "chunks"),
    [(64, 2, 2), (63, 2, 1), (64, 4, 4), (48, 4, 3), (20, 4, 1), (64, 1, 1), (40, 8, 2)],
)
def test_a_batch_splits_into_equal_chunks_of_16_or_more(monkeypatch, n, threads_, chunks) -> None:
    monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: threads_)
    assert build("lstm-last", 0).backend.batch_chunks(n) == chunks


def test_convolutions_and_pooling_too_small_for_a_thread_stay_whole(monkeypatch) -> None:
    """lenet-digits, batch 32 on two threads: the 8×8 maps of its first convolution and both
    poolings stay whole; its second convolution (1.8M multiply-adds a chunk) splits."""
    monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: 2)
    backend = build("lenet", 0).backend
    assert backend.conv2d_workspace_shapes(1, 16, 3, 1, 1, 32, 8, 8)["cols"][0] == 1
    assert backend.conv2d_workspace_shapes(16, 32, 3, 1, 1, 32, 4, 4)["cols"][0] == 2
    assert backend.conv2d_workspace_shapes(1, 16, 3, 1, 1, 64, 28, 28)["cols"][0] == 2  # MNIST
    assert backend._image_chunks(32, 16 * 8 * 8, backend_layers.MIN_POOL_WORK) == 1
    assert backend._image_chunks(64, 16 * 28 * 28, backend_layers.MIN_POOL_WORK) == 2


def run(name: str, threads: Callable[[int], None], n: int, dtype: str, x, y):
    threads(n)
    net = build(name, 3, dtype)
    loss = net.loss_and_grad(x, y, "mse")
    return net, loss, net.grad.copy(), np.array(net.forward(x))


def chunks_of(layer) -> int:
    """How many chunks the layer's last pass split the batch into."""
    if isinstance(layer, Residual):
        return chunks_of(layer.inner[1])
    if isinstance(layer, Conv2D):
        return layer._cols.shape[0]
    if isinstance(layer, MultiHeadSelfAttention):
        assert layer._kept is not None and layer._kept_back is not None
        return layer._kept[1].work.shape[0]  # its scratch rows, one per chunk
    return layer._hs.shape[0]


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunks_give_the_numbers_of_one_chunk(name: str, dtype: str, threads) -> None:
    x, y = data(name, 6, 4)
    one, loss1, grad1, out1 = run(name, threads, 1, dtype, x, y)
    three, loss3, grad3, out3 = run(name, threads, 3, dtype, x, y)
    assert chunks_of(one.layers[0]) == 1 and chunks_of(three.layers[0]) == 3
    tol = 1e-12 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(loss3, loss1, rtol=tol)
    np.testing.assert_allclose(out3, out1, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad3, grad1, rtol=0, atol=tol * np.abs(grad1).max())
    if isinstance(one.layers[0], (Conv2D, Residual)):
        return
    for sample in (0, 3, 5):  # in the first, second and third chunk
        np.testing.assert_allclose(
            three.layers[0].hidden_states(sample), one.layers[0].hidden_states(sample), atol=tol
        )
    every = three.layers[0].hidden_states()
    assert every.shape == (6, *three.layers[0].hidden_states(0).shape) and not every.flags.writeable
    np.testing.assert_allclose(every, one.layers[0].hidden_states(), atol=tol)
    np.testing.assert_array_equal(every[5], three.layers[0].hidden_states(5))


@pytest.mark.parametrize("name", sorted(NETS))
def test_chunked_gradients_match_finite_differences(name: str, threads, gradient_error) -> None:
    threads(2)
    net = build(name, 6)
    x, y = data(name, 4, 5)
    assert gradient_error(net, x, y, "mse") < 1e-6
    assert chunks_of(net.layers[0]) == 2


def test_the_blas_thread_count_is_back_after_a_chunked_step(threads) -> None:
    before = blas_threads()
    threads(2)
    for name in ("lstm-last", "lenet", "transformer"):
        net = build(name, 0, "float32")
        net.loss_and_grad(*data(name, 4, 0), "mse")
        assert chunks_of(net.layers[0]) == 2
        assert blas_threads() == before


def filled(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return rng.normal(size=shape).astype(dtype)


def serial_dense(seed: int, n: int, k: int, m: int, dtype: str, need_x: bool) -> tuple:
    """A Dense layer's inputs (x, W, b, δ), the serial kernels' z and [∂W, ∂b, ∂x] from them,
    and NaN-filled [z, ∂W, ∂b, ∂x] for a split kernel to fill."""
    rng = np.random.default_rng(seed)
    x, W, b, delta = (filled(rng, s, dtype) for s in ((n, k), (m, k), (m,), (n, m)))
    z, *grads = (np.full(s, np.nan, dtype) for s in ((n, m), W.shape, b.shape, x.shape))
    cpu.dense_forward(x, W, b, z)
    cpu.dense_backward(x, W, delta, *grads, need_x)
    empty = [np.full_like(a, np.nan) for a in (z, *grads)]
    return (x, W, b, delta), z, grads, empty


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("need_x", [True, False])
def test_dense_products_split_over_threads_match_the_serial_kernel(dtype, chunks, need_x) -> None:
    """z = x Wᵀ + b and ∂x by blocks of the batch, to the bit; ∂W and ∂b summed from the
    blocks' own, as close as float rounding allows."""
    n, k, m = 23, 6, 5  # 7 chunks of 23 rows: not all of one size
    (x, W, b, delta), z1, one, (z2, *split) = serial_dense(chunks, n, k, m, dtype, need_x)
    cpu_chunks.dense_forward_chunks(x, W, b, z2, chunks)
    np.testing.assert_array_equal(z2, z1)
    parts = np.full(chunks * (m * k + m) + 3, np.nan, dtype)  # room to spare is left alone
    cpu_chunks.dense_backward_chunks(x, W, delta, *split, need_x, chunks, parts)
    tol = 1e-13 if dtype == "float64" else 1e-5
    for got, want in zip(split[:2], one[:2]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    if need_x:
        np.testing.assert_array_equal(split[2], one[2])
    else:
        assert np.isnan(split[2]).all()
    assert np.isnan(parts[-3:]).all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("need_x", [True, False])
@pytest.mark.parametrize(("n", "k", "m"), [(5, 70, 40), (3, 37, 3), (2, 129, 161)])
def test_dense_products_split_by_units_give_the_serial_bits(dtype, chunks, need_x, n, k, m) -> None:
    """z = x Wᵀ + b, ∂W, ∂b and ∂x by blocks of units (and of ∂x's columns), to the bit: no sum
    is split. Widths that are no multiple of a cache line, and blocks left empty (3 units on 7
    threads), included."""
    (x, W, b, delta), z1, one, (z2, *split) = serial_dense(chunks + n, n, k, m, dtype, need_x)
    cpu_chunks.dense_forward_units(x, W, b, z2, chunks)
    np.testing.assert_array_equal(z2, z1)
    cpu_chunks.dense_backward_units(x, W, delta, *split, need_x, chunks)
    for got, want in zip(split[:2], one[:2]):
        np.testing.assert_array_equal(got, want)
    if need_x:
        np.testing.assert_array_equal(split[2], one[2])
    else:
        assert np.isnan(split[2]).all()


@pytest.mark.parametrize(("m", "chunks"), [(1, 2), (15, 2), (40, 2), (128, 2), (161, 3), (3, 7)])
def test_unit_blocks_cover_the_units_once_on_cache_lines(m: int, chunks: int) -> None:
    edges = [cpu_chunks.units(m, c, chunks) for c in range(chunks)]
    assert edges[0][0] == 0 and edges[-1][1] == m
    for (lo, hi), (nxt, _) in itertools.pairwise(edges):
        assert lo <= hi == nxt and (nxt % cpu_chunks.LINE_ELEMENTS == 0 or nxt == m)
    sizes = [hi - lo for lo, hi in edges]
    if m >= 2 * cpu_chunks.LINE_ELEMENTS * chunks:  # wide enough: blocks within a line of even
        assert max(sizes) - min(sizes) <= cpu_chunks.LINE_ELEMENTS


def test_a_dense_layer_of_few_rows_splits_by_units_in_a_split_step(monkeypatch) -> None:
    """In a pass that lends Numba's threads, a layer with too few rows for a split by rows goes
    to the unit kernels, with the serial kernel's bits; a layer they do not suit (one row, too
    few units a thread, a non-contiguous input) stays serial."""
    monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(backend_cpu, "PARALLEL_DENSE", 1)
    called: list[str] = []
    for name in ("dense_forward_units", "dense_backward_units"):
        kernel = getattr(cpu_chunks, name)
        monkeypatch.setattr(
            cpu_chunks, name, lambda *a, _k=kernel, _n=name: called.append(_n) or _k(*a)
        )
    backend = build("transformer", 0, "float32").backend
    m = 80
    (x, W, b, delta), z, grads, split = serial_dense(0, 6, 96, m, "float32", True)
    serial = [z, *grads]
    with split_step():
        backend.dense_forward(x, W, b, split[0])
        backend.dense_backward(x, W, delta, split[1], split[2], split[3])
    assert called == ["dense_forward_units", "dense_backward_units"]
    for got, want in zip(split, serial):
        np.testing.assert_array_equal(got, want)
    x40, W40 = np.ascontiguousarray(x[:, :40]), np.ascontiguousarray(W[:, :40])
    for xs, Ws in ((x[:1], W), (x40, W40), (np.asfortranarray(x), W)):  # one row; 40 inputs,
        got, want = (np.full((xs.shape[0], m), np.nan, np.float32) for _ in range(2))  # too few
        with split_step():  # for two threads; an input not C-contiguous
            backend.dense_forward(xs, Ws, b, got)
        cpu.dense_forward(xs, Ws, b, want)
        np.testing.assert_array_equal(got, want)
    assert called == ["dense_forward_units", "dense_backward_units"]


def test_a_dense_layer_takes_numbas_threads_only_in_a_step_that_splits_its_batch(
    monkeypatch,
) -> None:
    """Large products split over Numba's threads in a pass of a network that splits its batch
    (BLAS on one thread); small ones and those of few rows stay whole, and so does any outside
    such a pass, even with BLAS on one thread for the whole process (as the app sets it)."""
    monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: 2)
    backend = build("transformer", 0).backend
    big = backend_cpu.PARALLEL_DENSE
    with split_step():
        assert backend._dense_split(2048, 256 * 64) == (True, 2)
        assert backend._dense_split(big // 64, 64) == (True, 2)
        assert backend._dense_split(big // 64, 63) == (False, 1)
        rows = 2 * backend_cpu.DENSE_CHUNK_ROWS  # enough rows for two threads
        assert backend._dense_split(rows, big) == (True, 2)
        assert backend._dense_split(rows - 1, big) == (False, 2)  # too few: split by units
        assert backend._dense_split(1, big) == (False, 2)
    with blas_threads_for(1):
        assert backend._dense_split(2048, 256 * 64) == (False, 1)
    if blas_threads() is not None:
        with split_step(), blas_threads_for(2):  # BLAS's own threads: no Numba threads inside
            assert backend._dense_split(2048, 256 * 64) == (False, 1)


def test_a_step_of_a_network_that_splits_its_batch_marks_its_thread(monkeypatch) -> None:
    """Only the passes of such a network lend Numba's threads: an MLP's do not."""
    seen: list[bool] = []
    monkeypatch.setattr(
        backend_cpu.CPUBackend,
        "_dense_split",
        staticmethod(lambda *a: seen.append(in_split_step()) or (False, 1)),
    )
    x, y = data("transformer", 4, 0)
    build("transformer", 0).loss_and_grad(x, y, "mse")
    mlp = Sequential([Dense(3, 4), ReLU(), Dense(4, 1)], seed=0)
    mlp.fuse = False
    split = len(seen)
    mlp.loss_and_grad(np.ones((4, 3)), np.ones((4, 1)), "mse")
    assert seen[:split] and all(seen[:split]) and not any(seen[split:])
    assert not in_split_step()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
def test_cross_entropy_split_over_threads_gives_the_serial_bits(dtype, chunks) -> None:
    rng = np.random.default_rng(chunks)
    z = filled(rng, (13, 5), dtype) * 4
    labels = rng.integers(0, 5, 13)
    g1, g2 = np.full_like(z, np.nan), np.full_like(z, np.nan)
    loss = cpu.cross_entropy_loss(z, labels, g1)
    each = np.full(14, np.nan)  # a row more than needed
    assert cpu_chunks.cross_entropy_loss_chunks(z, labels, g2, each, chunks) == loss
    np.testing.assert_array_equal(g2, g1)


def test_element_wise_kernels_take_idle_threads_from_a_quarter_million_elements(
    monkeypatch,
) -> None:
    monkeypatch.setattr(backend_layers.numba, "get_num_threads", lambda: 2)
    backend = build("transformer", 0).backend
    idle, always = backend_cpu.PARALLEL_IDLE, backend_cpu.PARALLEL_ELEMENTS
    with split_step():
        assert backend._parallel(idle) and not backend._parallel(idle - 1)
    assert not backend._parallel(idle) and backend._parallel(always)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu_split_over_threads_gives_the_serial_bits(dtype) -> None:
    rng = np.random.default_rng(2)
    z, ga = filled(rng, (9, 7), dtype), filled(rng, (9, 7), dtype)
    a1, a2, g1, g2 = (np.full_like(z, np.nan) for _ in range(4))
    cpu.activation_forward(z, a1, RELU, 0.0)
    cpu_chunks.relu_forward_chunks(z, a2, 4)
    cpu.activation_backward(z, a1, ga, g1, RELU, 0.0)
    cpu_chunks.relu_backward_chunks(z, ga, g2, 4)
    np.testing.assert_array_equal(a2, a1)
    np.testing.assert_array_equal(g2, g1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_whole_attention_layer_split_over_threads_matches_its_steps_one_by_one(dtype) -> None:
    """The layer's projections and heads in one parallel region: the forward pass to the bit,
    the backward pass's ∂x to the bit and its weight gradients (summed over the chunks) close."""
    rng = np.random.default_rng(3)
    n, T, d, heads, chunks = 5, 4, 6, 2, 3
    x, g = filled(rng, (n * T, d), dtype), filled(rng, (n * T, d), dtype)
    W_in, b_in = filled(rng, (3 * d, d), dtype), filled(rng, (3 * d,), dtype)
    W_out, b_out = filled(rng, (d, d), dtype), filled(rng, (d,), dtype)
    fast = dtype == "float32"

    def buffers(c: int) -> list[np.ndarray]:
        shapes = [(n, T, 3 * d), (n, heads, T, T), (n, T, d), (c, 2, T), (n * T, d)]
        arrays = [np.full(s, np.nan, dtype) for s in shapes]
        return [*arrays, np.zeros((c, T * T), np.int32)]

    qkv, AT, o, work, y, bits = buffers(1)
    cpu.dense_forward(x, W_in, b_in, qkv.reshape(n * T, 3 * d))
    cpu_attn.attention_forward(qkv, heads, True, fast, AT, o, work[0], bits[0])
    cpu.dense_forward(o.reshape(n * T, d), W_out, b_out, y)
    qkv2, AT2, o2, work2, y2, bits2 = buffers(chunks)
    cpu_attn.LAYER_FORWARD_CHUNKS(
        x, W_in, b_in, qkv2, heads, True, fast, AT2, o2, work2, bits2, W_out, b_out, y2
    )
    for got, want in ((qkv2, qkv), (AT2, AT), (o2, o), (y2, y)):
        np.testing.assert_array_equal(got, want)

    grads = [np.full(a.shape, np.nan, dtype) for a in (W_in, b_in, W_out, b_out, x)]
    dO, dqkv = np.empty((n * T, d), dtype), np.empty((n * T, 3 * d), dtype)
    cpu.dense_backward(o.reshape(n * T, d), W_out, g, grads[2], grads[3], dO, True)
    dST = np.empty((T, T), dtype)
    cpu_attn.attention_backward(
        dO.reshape(n, T, d), qkv, AT, heads, dqkv.reshape(n, T, 3 * d), dST, work[0]
    )
    cpu.dense_backward(x, W_in, dqkv, grads[0], grads[1], grads[4], True)
    split = [np.full(a.shape, np.nan, dtype) for a in (W_in, b_in, W_out, b_out, x)]
    scratch = np.full(cpu_attn.layer_backward_scratch(n, T, d, chunks), np.nan, dtype)
    cpu_attn.attention_layer_backward_chunks(
        x, W_in, o, W_out, g, qkv, AT, heads, split[4], True, chunks, scratch, *split[:4]
    )
    np.testing.assert_array_equal(split[4], grads[4])
    tol = 1e-12 if dtype == "float64" else 1e-4
    for got, want in zip(split[:4], grads[:4]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
