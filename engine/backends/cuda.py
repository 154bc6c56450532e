"""The ``numba.cuda`` backend: the same methods as ``CPUBackend``, on device arrays.

Imported only by ``engine.backends.cpu.get_backend("cuda")``. The network's flat parameter and
gradient buffers, the optimiser's state, the training set and every batch live on the GPU; each
step brings back one number, the loss (and the output, where the trainer counts correct answers).
Dropout masks are drawn on the host from the layer's own generator and copied over, so a seed
gives the same masks on both devices.

Launches: grid-stride kernels (element-wise, optimisers, the layers' kernels) take blocks of
``grid_threads`` threads, as many as cover the array up to ``max_blocks`` (the kernels loop over
the rest); kernels that sum over their block (``block_add``: losses, norms) take blocks of exactly
``THREADS``; the matrix products take ``(TILE, TILE)`` blocks over the output's tiles; the fused
step of a small network one block. In the simulator, which runs every thread in Python, the
grid-stride launches are a block or two of 32 threads.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from engine.backends.base import Backend, FusedWorkspace
from engine.backends.cpu import perceptron_loss
from engine.backends.cuda_layers import CUDALayerOps
from engine.errors import UserError

HINT = "use --device cpu (or device='cpu'), which runs everything on the processor"


def load_cuda() -> Any:
    """``numba.cuda`` when a GPU can be used; otherwise a UserError saying why."""
    try:
        from numba import cuda
    except ImportError as exc:  # numba built without CUDA support
        raise UserError(f"device 'cuda' needs numba's CUDA support ({exc})", HINT) from None
    if not cuda.is_available():
        raise UserError(
            "no CUDA GPU found: the NVIDIA driver or a CUDA-capable GPU is missing", HINT
        )
    return cuda


class CUDABackend(CUDALayerOps):
    """Numba CUDA kernels; arrays are numba device arrays (the layer operations: CUDALayerOps)."""

    name = "cuda"
    fused_limit = 1 << 12  # activation elements up to which one block runs the whole step

    def __init__(self, cuda: Any) -> None:
        from engine.kernels.cuda import core as kernels
        from engine.kernels.cuda import fused as cuda_fused
        from engine.kernels.cuda import optim as cuda_optim

        self.cuda, self.k, self.kf, self.ko = cuda, kernels, cuda_fused, cuda_optim
        self.threads, self.tile = kernels.THREADS, kernels.TILE
        device = cuda.get_current_device()
        sms = int(getattr(device, "MULTIPROCESSOR_COUNT", 1) or 1)
        simulated = bool(getattr(numba.config, "ENABLE_CUDASIM", 0))
        self.max_blocks = 2 if simulated else 32 * sms  # the simulator runs threads in Python
        self.grid_threads = 32 if simulated else self.threads  # a power of two (batch norm's sum)
        self._total = cuda.to_device(np.zeros(1, dtype=np.float64))
        self._zero = np.zeros(1, dtype=np.float64)
        self._host = np.zeros(1, dtype=np.float64)
        self._idx: tuple[np.ndarray | None, Any] = (None, None)  # last host index array, on device
        self._ranges: tuple[np.ndarray | None, Any] = (None, None)
        self._staging: dict[tuple[tuple[int, ...], str], np.ndarray] = {}

    def device_name(self) -> str:
        name = getattr(self.cuda.get_current_device(), "name", "CUDA simulator")
        return name.decode() if isinstance(name, bytes) else str(name)

    # ---------------------------------------------------------------- arrays
    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self.cuda.device_array(shape, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        return self.cuda.to_device(np.zeros(shape, dtype=dtype))

    def to_host(self, a: Any) -> np.ndarray:
        return a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)

    def from_host(self, a: Any, dtype: np.dtype) -> Any:
        if hasattr(a, "copy_to_host") and a.dtype == dtype:  # already on the device
            return a
        return self.cuda.to_device(np.ascontiguousarray(a, dtype=dtype))

    def uniform(self, rng: np.random.Generator, out: Any) -> None:
        """out ~ U(0, 1), drawn on the host from ``rng`` (the CPU's numbers) and copied over."""
        key = (tuple(out.shape), str(out.dtype))
        host = self._staging.get(key)
        if host is None:
            host = self._staging[key] = np.empty(out.shape, dtype=out.dtype)
        rng.random(dtype=host.dtype, out=host)
        out.copy_to_device(host)

    # ---------------------------------------------------------------- launches
    def _blocks(self, n: int, threads: int) -> int:
        return max(1, min((n + threads - 1) // threads, self.max_blocks))

    def _launch(self, kernel: Any, n: int) -> Any:
        """A grid-stride kernel over n elements."""
        return kernel[self._blocks(n, self.grid_threads), self.grid_threads]

    def _summed(self, kernel: Any, n: int, *args: Any) -> float:
        """Runs a kernel that adds into a zeroed ``total`` (blocks of THREADS) and returns it."""
        self._total.copy_to_device(self._zero)
        kernel[self._blocks(n, self.threads), self.threads](*args, self._total)
        self._total.copy_to_host(self._host)
        return float(self._host[0])

    @staticmethod
    def _rows(a: Any) -> Any:
        """An N-D batch as the 2-D (samples, features) the element-wise kernels index."""
        return a if a.ndim == 2 else a.reshape(a.shape[0], -1)

    def _tiles(self, rows: int, cols: int, depth: int = 1) -> tuple[int, int, int]:
        t = self.tile
        return ((cols + t - 1) // t, (rows + t - 1) // t, depth)

    # ---------------------------------------------------------------- layers
    def dense_forward(self, x: Any, W: Any, b: Any, z: Any) -> None:
        if x.shape[1] != W.shape[1] or z.shape != (x.shape[0], W.shape[0]):
            raise ValueError(f"dense: input {x.shape} does not fit W {W.shape} / z {z.shape}")
        self.k.dense_forward[self._tiles(*z.shape), (self.tile, self.tile)](x, W, b, z)

    def dense_backward(self, x: Any, W: Any, delta: Any, gW: Any, gb: Any, gx: Any) -> None:
        need = gx is not None
        grid = self._tiles(max(delta.shape), x.shape[1], 3)
        self.k.dense_backward[grid, (self.tile, self.tile)](
            x, W, delta, gW, gb, gx if need else x, need
        )

    def kernel_activation(self, kind: int, dtype: np.dtype) -> int:
        return kind

    def activation_forward(self, z: Any, a: Any, kind: int, alpha: float) -> None:
        if z.shape != a.shape:
            raise ValueError(f"activation: {z.shape} and {a.shape} must be the same shape")
        r = self._rows
        self._launch(self.k.activation_forward, z.size)(r(z), r(a), kind, alpha)

    def activation_backward(self, z: Any, a: Any, ga: Any, gz: Any, kind: int, alpha: float):
        r = self._rows
        self._launch(self.k.activation_backward, z.size)(r(z), r(a), r(ga), r(gz), kind, alpha)

    def dropout_mask(self, u: Any, p: float, mask: Any) -> None:
        self._launch(self.k.dropout_mask, u.size)(self._rows(u), p, self._rows(mask))

    def multiply(self, x: Any, mask: Any, out: Any) -> None:
        if x.shape != mask.shape:
            raise ValueError(f"multiply: {x.shape} does not match {mask.shape}")
        r = self._rows
        self._launch(self.k.multiply, x.size)(r(x), r(mask), r(out))

    def gather_rows(self, X: Any, idx: np.ndarray, start: int, stop: int, out: Any) -> None:
        """out[r] = X[idx[start + r]]; ``idx`` is a host array, copied once per new array."""
        if self._idx[0] is not idx:
            self._idx = (idx, self.cuda.to_device(np.ascontiguousarray(idx, dtype=np.int64)))
        if X.ndim == 1:
            X, out = X.reshape(X.shape[0], 1), out.reshape(out.shape[0], 1)
        n = (stop - start) * X.shape[1]
        self._launch(self.k.gather_rows, n)(X, self._idx[1], start, stop, out)

    # ---------------------------------------------------------------- losses
    def loss(self, name: str, y_hat: Any, y: Any, grad: Any, huber_delta: float) -> float:
        k = self.k
        if name == "cross_entropy":  # (n, …, k) logits: one class distribution per position
            classes = y_hat.shape[y_hat.ndim - 1]  # device shapes take no -1
            y_hat, grad = y_hat.reshape(-1, classes), grad.reshape(-1, classes)
            n = y_hat.shape[0]
            return self._summed(k.cross_entropy_loss, n, y_hat, y, grad) / n
        if y_hat.shape != y.shape:
            raise ValueError(f"loss target: {y.shape} does not match the output {y_hat.shape}")
        if name == "perceptron":  # a step unit's few outputs: on the host
            g = np.empty(y_hat.shape, np.dtype(y_hat.dtype))
            value = perceptron_loss(self.to_host(y_hat), self.to_host(y), g)
            grad.copy_to_device(g)
            return value
        y_hat, y, grad = self._rows(y_hat), self._rows(y), self._rows(grad)
        n = y_hat.size
        if name == "mse":
            return self._summed(k.mse_loss, n, y_hat, y, grad) / n
        if name == "bce_logits":
            return self._summed(k.bce_logits_loss, n, y_hat, y, grad) / n
        if name == "bce":
            return self._summed(k.bce_loss, n, y_hat, y, grad) / n
        if name == "huber":
            return self._summed(k.huber_loss, n, y_hat, y, grad, huber_delta) / n
        raise ValueError(f"unknown loss {name!r}")

    def fused_loss_and_grad(self, x: Any, y: Any, labels: Any, w: FusedWorkspace) -> float:
        """A small network's forward, loss and backward in one block (``cuda_fused``)."""
        self._total.copy_to_device(self._zero)
        arrays = (w.data, w.grad, w.ws, w.plan, w.alphas, w.spots)
        self.kf.mlp_loss_and_grad[1, self.threads](
            x, y, labels, *arrays, w.loss, w.huber_delta, self._total
        )
        self._total.copy_to_host(self._host)
        count = x.shape[0] if w.loss == 4 else y.size  # 4: cross-entropy, a mean over rows
        return float(self._host[0]) / count

    # ---------------------------------------------------------------- flat buffer
    def penalty(self, data: Any, grad: Any, ranges: Any, l1: float, l2: float) -> float:
        if self._ranges[0] is not ranges:
            self._ranges = (ranges, self.from_host(ranges, np.dtype(np.int64)))
        count = int(np.sum(ranges[:, 1] - ranges[:, 0]))
        return self._summed(self.k.penalty, count, data, grad, self._ranges[1], l1, l2)

    def sum_squares(self, v: Any) -> float:
        return self._summed(self.k.sum_squares, v.size, v)

    def scale(self, v: Any, factor: float) -> None:
        self._launch(self.k.scale, v.size)(v, factor)

    def all_finite(self, v: Any) -> bool:
        return self._summed(self.k.all_finite, v.size, v) == 0.0

    def optimizer_step(
        self, kernel: str, p: Any, g: Any, *args: Any, threads: bool = False
    ) -> None:
        """One optimiser update: the kernel ``kernel`` of ``engine.kernels.cuda.optim``
        (``threads`` is the CPU's hint)."""
        self._launch(getattr(self.ko, kernel), p.size)(p, g, *args)


_BACKEND: list[CUDABackend] = []  # made on first use, then shared


def cuda_backend() -> Backend:
    """The process's CUDA backend (a UserError where no GPU can be used)."""
    if not _BACKEND:
        _BACKEND.append(CUDABackend(load_cuda()))
    return _BACKEND[0]
