"""Backends: the one place layers, losses and optimisers reach the kernels through.

A backend checks what a kernel cannot (shapes, dtypes, contiguity) and then calls it. The CPU
backend picks between a serial kernel and its ``prange`` twin by the size of the work. The serial
kernels are vectorised and take microseconds even for a wide layer, while the matrix products
run on OpenBLAS's threads: a Numba parallel region in between would leave its own pool spinning
on the cores BLAS needs next (on two cores, that made a training step several times slower). So
the parallel twins are kept for arrays of millions of elements (``PARALLEL_ELEMENTS``) — or
from ``PARALLEL_UPDATE`` elements for an optimiser's update after a step that ran on Numba's
threads, BLAS's idle. A large Dense network's fused step is such a step: its batch is split into
one chunk per thread, each chunk's products on one BLAS thread (``fused_loss_and_grad``). So are
the large Dense layers of a network whose other layers split their batch (a transformer's
projections and feed-forward layers, ``PARALLEL_DENSE``): BLAS runs on one thread for its whole
step, and those products take Numba's threads instead, a block of rows each.

The image, recurrent and attention layers' operations are
``engine.backends.cpu_layers.CPULayerOps``,
mixed in here. ``get_backend("cuda")`` imports the ``numba.cuda`` backend (``engine.backends.cuda``)
only when asked for; it has the same methods, on device arrays.
"""

from __future__ import annotations

import itertools
import math
import operator
import sys
import threading
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from numba.core import types

from engine.activations import RELU, TANH, TANH_F32
from engine.backends.base import Backend, FusedWorkspace
from engine.backends.cpu_layers import CPULayerOps, idle_threads
from engine.kernels.cpu import chunks as cpu_chunks
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu import fused as cpu_fused
from engine.kernels.cpu import optim as cpu_optim
from engine.threads import blas_back, blas_to_one

Array = npt.NDArray[Any]

PARALLEL_ELEMENTS = 1 << 22  # below this many elements, serial kernels (see the docstring)
PARALLEL_UPDATE = 1 << 16
"""Elements from which an optimiser's update runs in parallel after a step on Numba's threads.
Adam on two threads against one, float32: 19 against 35 µs for 2¹⁶ parameters, 27 against 44 for
an LSTM's 84K; the ``lstm`` benchmark's step took 2 % less than with 2¹⁷, the transformer's
(108K) the same within 0.5 %."""
PARALLEL_DENSE = 1 << 23
"""Multiply-adds of a Dense layer's product from which it is split over Numba's threads when BLAS
runs on one (``_dense_split``): below it, waking the threads costs more than they save."""
DENSE_CHUNK_ROWS = 64
"""The fewest rows of a split Dense product a thread takes: with 32 (a LeNet's 64 samples on two
threads, 64×1568 → 128) the split forward pass took 1.08 times the serial one's time and the
backward pass 1.19 times; with 64 rows a thread, 0.79 and 0.86. With fewer rows the products split
by units instead (``_dense_split``): LeNet's step 6.3–6.4 ms against 6.7–6.9 serial."""
PARALLEL_IDLE = 1 << 18
"""Elements from which an element-wise kernel runs on Numba's threads when nothing else would use
them (``idle_threads``)."""

PAGE = 4096
PLACED_FROM = 1 << 14  # bytes from which an array is placed by ``placed``; smaller, as NumPy does
PLACE_STEP = 512  # bytes between the page offsets of arrays placed one after another
_places = itertools.count()


def _by_units(chunks: int, x: Array, W: Array, *rest: Array) -> bool:
    """Whether a Dense layer's products may split by units over ``chunks`` threads
    (``cpu_chunks.dense_forward_units``): all its arrays C-contiguous, more than one row, and
    W at least ``2 · LINE_ELEMENTS`` units and inputs a thread, so that every block is a matrix
    product as the whole is (BLAS takes its vector routines for a row or a column, and rounds
    otherwise)."""
    least = 2 * cpu_chunks.LINE_ELEMENTS * chunks
    return (
        x.shape[0] > 1
        and min(W.shape) >= least
        and all(a.flags.c_contiguous for a in (x, W, *rest))
    )


def placed(shape: int | tuple[int, ...], dtype: npt.DTypeLike, zero: bool) -> Array:
    """A new array that starts at a cache line, at a page offset of its own (``PLACE_STEP`` apart,
    in turn, from one array to the next).

    NumPy takes a large array from the system's allocator, which hands out whole pages plus a
    16-byte header: every such array starts 16 bytes into a page. Two effects follow, both
    measured on Adam's update of 235 K float32 parameters (p, g, m, v) on one core with AVX-512:

    - a 16-byte start splits every other 64-byte vector load across two cache lines;
    - arrays at one page offset alias each other in the processor's store-to-load check (it
      compares the low 12 address bits), so a load waits behind an unrelated store.

    As NumPy placed them, 0.22 ms; page-aligned at one offset, 0.12 ms; at offsets 256 bytes or
    more apart, 0.093 ms. The flat parameter buffer, its gradient and the optimiser's state are
    allocated one after another, so successive offsets keep them apart.
    """
    dt = np.dtype(dtype)
    dims = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(shape)  # type: ignore[arg-type]
    nbytes = math.prod(dims) * dt.itemsize
    if nbytes < PLACED_FROM or dt.hasobject:
        return np.zeros(dims, dt) if zero else np.empty(dims, dt)
    shift = next(_places) % (PAGE // PLACE_STEP) * PLACE_STEP
    raw = (np.zeros if zero else np.empty)(nbytes + 2 * PAGE, np.uint8)
    start = -raw.ctypes.data % PAGE + shift
    return raw[start : start + nbytes].view(dt).reshape(dims)


def _same(name: str, a: Array, b: Array) -> None:
    if a.shape != b.shape or a.dtype != b.dtype:
        raise ValueError(f"{name}: {a.shape}/{a.dtype} does not match {b.shape}/{b.dtype}")


class CPUBackend(CPULayerOps):
    """Numba kernels on the host; arrays are NumPy arrays (the layer operations: CPULayerOps)."""

    name = "cpu"
    fused_limit = (
        1 << 16
    )  # activation elements up to which the fused step is used (engine.backends.fused)

    def __init__(self) -> None:
        # each thread's own scratch (``_scratch``): one backend serves every thread
        self._local = threading.local()

    def __reduce__(self) -> str | tuple[type, tuple[()]]:
        """A copy (``copy.deepcopy`` of a trainer, a pickled network) of ``CPU`` is ``CPU``
        itself, and of any other instance a fresh one: the scratch is not copied."""
        return "CPU" if self is CPU else (type(self), ())

    def device_name(self) -> str:
        return "cpu"

    def _scratch(self, name: str, size: int, dtype: Any) -> Array:
        """A flat scratch array of at least ``size`` elements of ``dtype``, this thread's own and
        kept from call to call (a step allocates nothing), for kernels that need room of their
        own for a moment; ``name`` keeps apart those whose contents must outlive a call."""
        key = (name, dtype)
        kept: dict | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = {}
        buf = kept.get(key)
        if buf is None or buf.size < size:
            buf = kept[key] = placed(size, dtype, zero=False)  # on a cache line: see ``placed``
        return buf

    # ---------------------------------------------------------------- arrays
    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Array:
        return placed(shape, dtype, zero=False)

    def zeros(self, shape: tuple[int, ...], dtype: np.dtype) -> Array:
        return placed(shape, dtype, zero=True)

    def to_host(self, a: Array) -> np.ndarray:
        return a

    def from_host(self, a: np.ndarray, dtype: np.dtype) -> Array:
        return np.ascontiguousarray(a, dtype=dtype)

    def uniform(self, rng: np.random.Generator, out: Array) -> None:
        """out ~ U(0, 1) from ``rng`` (dropout masks)."""
        rng.random(dtype=out.dtype, out=out)

    # ---------------------------------------------------------------- layers
    def dense_forward(self, x: Array, W: Array, b: Array, z: Array) -> None:
        if x.shape[1] != W.shape[1] or z.shape != (x.shape[0], W.shape[0]):
            raise ValueError(f"dense: input {x.shape} does not fit W {W.shape} / z {z.shape}")
        by_rows, chunks = self._dense_split(x.shape[0], W.size)
        if chunks > 1 and by_rows:
            cpu_chunks.dense_forward_chunks(x, W, b, z, chunks)
        elif chunks > 1 and _by_units(chunks, x, W, z):
            cpu_chunks.dense_forward_units(x, W, b, z, chunks)
        else:
            cpu.dense_forward(x, W, b, z)

    def dense_backward(
        self, x: Array, W: Array, delta: Array, gW: Array, gb: Array, gx: Array | None
    ) -> None:
        need = gx is not None
        by_rows, chunks = self._dense_split(x.shape[0], W.size)
        gx_or_x = x if gx is None else gx
        if chunks > 1 and by_rows:  # each chunk's ∂W and ∂b in scratch, summed after
            parts = self._scratch("parts", chunks * (W.size + W.shape[0]), W.dtype)
            cpu_chunks.dense_backward_chunks(x, W, delta, gW, gb, gx_or_x, need, chunks, parts)
        elif chunks > 1 and _by_units(chunks, x, W, delta, gW, gb, gx_or_x):
            cpu_chunks.dense_backward_units(x, W, delta, gW, gb, gx_or_x, need, chunks)
        else:
            cpu.dense_backward(x, W, delta, gW, gb, gx_or_x, need)

    @staticmethod
    def _dense_split(rows: int, weights: int) -> tuple[bool, int]:
        """How a Dense layer's products split over threads: (by rows of the batch?, threads).

        Numba's threads take them inside a pass of a network that splits its batch, BLAS on one
        thread (``idle_threads``: a transformer's projections, a LeNet's hidden layer), when each
        product is ``PARALLEL_DENSE`` multiply-adds or more: by rows where each thread gets
        ``DENSE_CHUNK_ROWS`` rows or more, else by units (``cpu_chunks.dense_forward_units``).
        ``(False, 1)``: the serial kernel, on BLAS's own threads."""
        threads = idle_threads()
        if threads < 2 or rows * weights < PARALLEL_DENSE:
            return False, 1
        by_rows = min(threads, rows // max(1, DENSE_CHUNK_ROWS))
        return (True, by_rows) if by_rows >= 2 else (False, threads)

    @staticmethod
    def _parallel(size: int) -> bool:
        """Whether an element-wise kernel over ``size`` elements takes its ``prange`` twin: from
        ``PARALLEL_ELEMENTS``, or from ``PARALLEL_IDLE`` while Numba's threads are otherwise
        idle (inside a pass of a network that splits its batch, ``idle_threads``)."""
        return size >= PARALLEL_ELEMENTS or (size >= PARALLEL_IDLE and idle_threads() > 1)

    def kernel_activation(self, kind: int, dtype: np.dtype) -> int:
        """The kernel code for an activation on ``dtype`` arrays (float32 tanh: the fast one)."""
        return TANH_F32 if kind == TANH and dtype == np.float32 else kind

    def activation_forward(self, z: Array, a: Array, kind: int, alpha: float) -> None:
        _same("activation", z, a)
        kind = self.kernel_activation(kind, z.dtype)
        if self._parallel(z.size):
            rows = z.shape[0]
            z2, a2 = z.reshape(rows, -1), a.reshape(rows, -1)
            if kind == RELU:
                cpu_chunks.relu_forward_chunks(z2, a2, min(rows, numba.get_num_threads()))
            else:
                cpu.activation_forward_par(z2, a2, kind, alpha)
        elif kind in cpu.FORWARD:  # its own small kernel: compiles only that activation
            cpu.FORWARD[kind](z, a, alpha)
        else:
            cpu.activation_forward(z, a, kind, alpha)

    def activation_backward(
        self, z: Array, a: Array, ga: Array, gz: Array, kind: int, alpha: float
    ) -> None:
        kind = self.kernel_activation(kind, z.dtype)
        if self._parallel(z.size):
            r = z.shape[0]
            z2, ga2, gz2 = z.reshape(r, -1), ga.reshape(r, -1), gz.reshape(r, -1)
            if kind == RELU:
                cpu_chunks.relu_backward_chunks(z2, ga2, gz2, min(r, numba.get_num_threads()))
            else:
                cpu.activation_backward_par(z2, a.reshape(r, -1), ga2, gz2, kind, alpha)
        elif kind in cpu.BACKWARD:
            cpu.BACKWARD[kind](z, a, ga, gz, alpha)
        else:
            cpu.activation_backward(z, a, ga, gz, kind, alpha)

    def dropout_mask(self, u: Array, p: float, mask: Array) -> None:
        cpu.dropout_mask(u, p, mask)

    def multiply(self, x: Array, mask: Array, out: Array) -> None:
        _same("multiply", x, mask)
        cpu.multiply(x, mask, out)

    def gather_rows(self, X: Array, idx: Array, start: int, stop: int, out: Array) -> None:
        """out[r] = X[idx[start + r]]: a batch of rows (or of labels, for a 1-D ``X``)."""
        if X.ndim == 1:
            np.take(X, idx[start:stop], out=out)
        else:
            cpu.gather_rows(X, idx, start, stop, out)

    # ---------------------------------------------------------------- losses
    def loss(self, name: str, y_hat: Array, y: Array, grad: Array, huber_delta: float) -> float:
        if name == "cross_entropy":  # (n, …, k) logits: one class distribution per position
            k = y_hat.shape[-1]
            z, g = y_hat.reshape(-1, k), grad.reshape(-1, k)
            if self._parallel(4 * y_hat.size):  # an exp and a log a row: four times the work
                each = self._scratch("rows", z.shape[0], np.float64)
                return float(cpu_chunks.cross_entropy_loss_chunks(z, y, g, each, idle_threads()))
            return float(cpu.cross_entropy_loss(z, y, g))
        _same("loss target", y_hat, y)
        if name == "perceptron":
            return perceptron_loss(y_hat, y, grad)
        if name == "mse":
            return float(cpu.mse_loss(y_hat, y, grad))
        if name == "bce_logits":
            return float(cpu.bce_logits_loss(y_hat, y, grad))
        if name == "bce":
            return float(cpu.bce_loss(y_hat, y, grad))
        if name == "huber":
            return float(cpu.huber_loss(y_hat, y, grad, huber_delta))
        raise ValueError(f"unknown loss {name!r}")

    def fused_loss_and_grad(self, x: Array, y: Array, labels: Array, w: FusedWorkspace) -> float:
        """A whole Dense/activation network's forward, loss and backward (see
        ``engine.backends.fused``), compiled for its loss and activations only."""
        if x.shape[1] != w.plan[0, 0] or not x.flags.c_contiguous:
            raise ValueError(f"fused step: input {x.shape} does not fit the first layer")
        if w.out is None:
            kernel = _fused_kernel(cpu_fused.mlp_loss_and_grad, x, y, labels, w)
            arrays = (w.data, w.grad, w.ws, w.plan, w.alphas, w.spots)
            return float(kernel(x, y, labels, *arrays, w.loss, w.huber_delta, w.kinds))
        # one chunk of the batch per thread, BLAS on one thread inside each (see cpu_chunks)
        kernel = _fused_kernel(cpu_chunks.mlp_loss_and_grad_chunks, x, y, labels, w)
        arrays = (w.data, w.grad, w.ws, w.plan, w.alphas, w.spots)
        before = blas_to_one()
        try:
            value = kernel(
                x, y, labels, *arrays, w.loss, w.huber_delta, w.kinds, w.out, w.coefs,
                w.m, w.v, w.hyper, w.sync, w.losses,
            )  # fmt: skip
        finally:
            blas_back(before)
        return float(value)

    # ---------------------------------------------------------------- flat buffer
    def penalty(self, data: Array, grad: Array, ranges: Array, l1: float, l2: float) -> float:
        return float(cpu.penalty(data, grad, ranges, l1, l2))

    def sum_squares(self, v: Array) -> float:
        return float(cpu.sum_squares(v))

    def scale(self, v: Array, factor: float) -> None:
        cpu.scale(v, factor)

    def all_finite(self, v: Array) -> bool:
        return bool(cpu.all_finite(v))

    def optimizer_step(
        self, kernel: str, p: Array, g: Array, *args: Any, threads: bool = False
    ) -> None:
        """One optimiser update: the kernel ``kernel`` of ``engine.kernels.cpu.optim`` (its
        ``_par`` twin for huge buffers, or from ``PARALLEL_UPDATE`` elements when the step ran
        on Numba's threads, ``threads``: then BLAS's are idle) on parameters ``p`` and
        gradients ``g``."""
        big = p.size >= PARALLEL_ELEMENTS or (threads and p.size >= PARALLEL_UPDATE)
        # interned: Python's attribute cache would keep each step's new name string alive
        getattr(cpu_optim, sys.intern(kernel + "_par") if big else kernel)(p, g, *args)


def perceptron_loss(y_hat: np.ndarray, y: np.ndarray, grad: np.ndarray) -> float:
    """The share of step outputs ``y_hat`` (0 or 1) that miss ``y``; ``grad`` = (ŷ − y) / size,
    the gradient passed straight through the step (``engine.losses.STRAIGHT_THROUGH``)."""
    np.subtract(y_hat, y, out=grad)
    wrong = int(np.count_nonzero(grad))
    grad /= max(grad.size, 1)
    return wrong / max(grad.size, 1)


CPU: Backend = CPUBackend()  # mypy checks here that the CPU backend is a Backend


def get_backend(device: str) -> Backend:
    """The backend for ``device``: "cpu", or "cuda" (imported only then; a UserError without a
    GPU). Both backends have the same methods; the CUDA one works on device arrays."""
    if device == "cpu":
        return CPU
    if device == "cuda":
        from engine.backends.cuda import cuda_backend

        return cuda_backend()
    from engine.errors import UserError

    raise UserError(f"unknown device {device!r}", "use 'cpu' or 'cuda'")


_FUSED_KERNELS: dict[Any, Any] = {}
"""The fused kernels' machine code, by kernel, dtype, loss code and activation kinds (nested
dictionaries: a lookup builds no key, so a step allocates nothing for it)."""
_NONE: dict[Any, Any] = {}


def _fused_kernel(kernel: Any, x: Array, y: Array, labels: Array, w: FusedWorkspace) -> Any:
    """``kernel`` (a fused kernel) compiled for ``w.loss`` and ``w.kinds`` as constants, so that
    it holds only that loss and those activations (``engine.kernels.cpu.fused``); Numba's disk
    cache keeps it like any other.

    Returns the compiled code's entry point, which skips the dispatcher's look at the argument
    types: it is made for C-contiguous arrays of the network's dtype (labels int64, targets
    2-D), and the arrays are checked to be such, as a wrong dtype or rank would be misread.
    """
    dtype = w.data.dtype
    if (
        x.dtype != dtype
        or y.dtype != dtype
        or y.ndim != 2
        or labels.dtype != np.int64
        or labels.ndim != 1
        or not y.flags.c_contiguous
        or not labels.flags.c_contiguous
    ):
        raise ValueError(
            f"fused step: input {x.dtype}, targets {y.dtype} {y.shape}, labels {labels.dtype} "
            f"{labels.shape}: expected {dtype} and int64 labels, C-contiguous"
        )
    found = _FUSED_KERNELS.get(kernel, _NONE).get(dtype.char, _NONE).get(w.loss, _NONE)
    entry = found.get(w.kinds)
    if entry is None:
        arrays = [x, y, labels, w.data, w.grad, w.ws, w.plan, w.alphas, w.spots]
        arrays += [] if w.out is None else [w.out, w.coefs, w.m, w.v, w.hyper, w.sync, w.losses]
        sig: list[Any] = [types.Array(numba.from_dtype(a.dtype), a.ndim, "C") for a in arrays]
        sig[9:9] = [types.literal(w.loss), types.float64, types.literal(w.kinds)]
        kernel.compile(tuple(sig))
        entry = kernel.overloads[tuple(sig)].entry_point
        by_dtype = _FUSED_KERNELS.setdefault(kernel, {}).setdefault(dtype.char, {})
        by_dtype.setdefault(w.loss, {})[w.kinds] = entry
    return entry
