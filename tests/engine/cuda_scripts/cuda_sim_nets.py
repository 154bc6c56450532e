"""Small networks of the image, recurrent and attention layers trained on ``device="cuda"`` in the
CUDA simulator against the same networks on the CPU: float64, same seed, two optimiser steps.

Run with ``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported (``test_cuda.py`` runs it in two
subprocesses, ``images`` and ``sequences``, side by side): prints one JSON line ``{"network …":
largest difference | "error: ..."}``, the difference taken over both steps' losses, the last
step's gradients, the trained weights, the running statistics, an inference pass and what the app
reads from the layers (``hidden_states()``, ``attention_weights``).

The simulator's arrays are far more lenient than numba's ``DeviceNDArray``: they forward every
NumPy method and operator to a host array, take index arrays, copy silently on a reshape, and
kernels take host arrays (which a GPU would copy over and back at every launch).
``strict_device_arrays`` takes all of that away first, so a layer that still did NumPy work on its
arrays (a transpose, ``x + h``, ``W[ids]``) fails here as it would on a GPU, and one that hands a
kernel a host array fails instead of being slow.

Every matrix product launches (16, 16) blocks, which the simulator runs as 256 Python threads, so
the shapes keep each product within one or two tiles and the time loops short.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"

from numba.cuda.simulator import kernel as sim_kernel  # noqa: E402
from numba.cuda.simulator.cudadrv import devicearray as sim_arrays  # noqa: E402

from engine import Sequential, optim  # noqa: E402
from engine.layers import (  # noqa: E402
    ELU,
    GELU,
    Dense,
    Dropout,
    Layer,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
)
from engine.layers.blocks import transformer_block  # noqa: E402
from engine.layers.image import AvgPool2D, BatchNorm, Conv2D, Flatten, MaxPool2D  # noqa: E402
from engine.layers.sequence import GRU, LSTM, RNN, Embedding, PositionalEncoding  # noqa: E402

RNG = np.random.default_rng(0)

# What numba.cuda.cudadrv.devicearray.DeviceNDArray offers besides indexing and len().
DEVICE_API = frozenset((
    "shape", "strides", "dtype", "size", "ndim", "stream", "nbytes", "alloc_size", "flags",
    "gpu_data", "bind", "copy_to_host", "copy_to_device", "getitem", "setitem", "is_c_contiguous",
    "is_f_contiguous", "ravel", "reshape", "split", "squeeze", "view", "T", "transpose",
    "__cuda_array_interface__", "_numba_type_",
))  # fmt: skip
OPERATORS = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow",
             "eq", "ne", "lt", "le", "gt", "ge")  # fmt: skip


def strict_device_arrays() -> None:
    """Gives the simulator's arrays and launches the limits of real device arrays (see above)."""
    fake = sim_arrays.FakeCUDAArray

    def attribute(self: Any, name: str) -> Any:
        if name not in DEVICE_API:
            raise AttributeError(f"a device array has no attribute {name!r}")
        return getattr(self._ary, name)

    def no_operator(self: Any, other: Any) -> Any:
        raise TypeError("a device array has no arithmetic: use a backend operation")

    def reshape(self: Any, *shape: Any, **kw: Any) -> Any:
        out = self._ary.reshape(*shape, **kw)
        if out.size and not np.shares_memory(out, self._ary):
            raise NotImplementedError(f"reshaping a {self._ary.shape} device array needs a copy")
        return fake(out, stream=self.stream)

    def transpose(self: Any, axes: Any = None) -> Any:
        if self._ary.ndim != 2:
            raise NotImplementedError("transposing a non-2D device array isn't supported")
        return fake(np.ascontiguousarray(self._ary.T), stream=self.stream)

    def to_numpy(self: Any, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.array(self._ary, dtype=dtype)  # a copy on the host, as DeviceNDArray's

    def basic(key: Any) -> Any:
        """``key`` if a device array takes it outside a kernel: ints and slices, no index arrays."""
        if sim_kernel._kernel_context is None:
            for k in key if isinstance(key, tuple) else (key,):
                if not isinstance(k, int | np.integer | slice | type(Ellipsis)):
                    raise IndexError(f"a device array takes ints and slices, not {k!r}")
        return key

    getitem, setitem = fake.__getitem__, fake.__setitem__
    fake.__getitem__ = lambda self, key: getitem(self, basic(key))  # type: ignore[method-assign]
    fake.__setitem__ = lambda self, key, v: setitem(self, basic(key), v)  # type: ignore
    fake.__getattr__ = attribute  # type: ignore[method-assign]
    fake.reshape, fake.transpose, fake.__array__ = reshape, transpose, to_numpy  # type: ignore
    for op in OPERATORS:
        setattr(fake, f"__{op}__", no_operator)

    launch = sim_kernel.FakeCUDAKernel.__call__

    def checked_launch(self: Any, *args: Any) -> Any:
        if not self._device and sim_kernel._kernel_context is None:
            host = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.ndim]
            if host:
                raise TypeError(f"{self.fn.__name__}: host arrays as arguments {host}")
        return launch(self, *args)

    sim_kernel.FakeCUDAKernel.__call__ = checked_launch  # type: ignore[method-assign]


def diff(a: Any, b: Any) -> float:
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return float(np.max(np.where(np.isnan(d), np.inf, d), initial=0.0))


@dataclass
class Case:
    """A network to train on both devices: its layers (made afresh for each), data and loss, and
    what the app reads from its layers (``probe``), compared as well."""

    group: str
    make: Callable[[], list[Layer]]
    input_shape: tuple[int, ...]
    x: np.ndarray
    y: np.ndarray
    loss: str
    probe: Callable[[Sequential], Any] | None = None


def trained(case: Case, device: str) -> dict[str, np.ndarray]:
    """Two steps of SGD with momentum; the losses and everything the network holds after.

    Not Adam: its first steps move every weight by about ``lr`` whatever the size of the gradient,
    so a gradient that is zero up to rounding (a bias that a later batch norm cancels) would move
    by a different ±``lr``·10⁻⁸ on each device, and the comparison would measure that noise.
    """
    net = Sequential(case.make(), seed=3, dtype="float64", device=device,
                     input_shape=case.input_shape)  # fmt: skip
    if device == "cuda" and not hasattr(net.data, "copy_to_host"):
        raise AssertionError("the network's weights are not device arrays")
    opt = optim.SGD(net, lr=0.1, momentum=0.9)
    losses = []
    for _ in range(2):
        losses.append(net.loss_and_grad(case.x, case.y, case.loss))
        opt.step()
    host = net.backend.to_host
    run = {
        "loss": np.array(losses),
        "grad": host(net.grad),
        "data": host(net.data),
        "state": host(net.state),  # batch norm's running statistics
        "inference": net.forward(case.x),  # cache=False buffers; batch norm's running branch
    }
    if case.probe is not None:
        run["probe"] = np.asarray(case.probe(net))
    return run


def difference(case: Case) -> float:
    cpu, gpu = trained(case, "cpu"), trained(case, "cuda")
    return max(diff(cpu[key], gpu[key]) for key in cpu)


def cases() -> dict[str, Case]:
    """Every layer type, each backend path once: stride-1 and strided convolutions (the CPU's
    padded grid and im2col against CUDA's im2col, ∂x by col2im), both max-pool paths, batch norm
    on images and on features, all three recurrent cells with and without sequences out, dropout
    on sequences, and a causal transformer block after an embedding and the position code."""
    images, seqs = RNG.normal(size=(4, 16)), RNG.normal(size=(2, 2, 2))
    tokens = np.array([[1, 4, 0], [2, 2, 3]])
    return {
        "network cnn": Case(
            "images",
            lambda: [BatchNorm(1), Conv2D(1, 2, 3, stride=2, padding=1), Tanh(), MaxPool2D(2),
                     Flatten(), BatchNorm(2), Dense(2, 3), ELU(), Dense(3, 3), GELU()],
            (1, 4, 4), images, np.array([0, 2, 1, 2]), "cross_entropy",
        ),
        "network pooling": Case(
            "images",
            lambda: [BatchNorm(1), Conv2D(1, 2, 3, padding=1), ReLU(), MaxPool2D(2, stride=1),
                     AvgPool2D(2), Flatten(), Dense(2, 1), Sigmoid()],
            (1, 3, 3), images[:1, :9], RNG.random((1, 1)), "mse",
        ),
        "network recurrent": Case(
            "sequences",
            lambda: [RNN(2, 3), GRU(3, 3), Dropout(0.25), LSTM(3, 2, return_sequences=False),
                     LeakyReLU(0.1), Dense(2, 1)],
            (2, 2), seqs, RNG.normal(size=(2, 1)), "mse",
            probe=lambda net: net.layers[3].hidden_states(),
        ),
        "network attention": Case(
            "sequences",
            lambda: [Embedding(5, 4), PositionalEncoding(4), *transformer_block(4, 2, 8, True),
                     Dense(4, 5)],
            (3,), tokens, np.array([[4, 0, 1], [2, 3, 3]]), "cross_entropy",
            probe=lambda net: net.layers[2].inner[1].attention_weights,
        ),
    }  # fmt: skip


def layer_types(layers: list[Layer]) -> set[str]:
    """The type names of ``layers`` and of the layers inside their blocks."""
    names = set()
    for layer in layers:
        names.add(layer.type_name)
        names |= layer_types(getattr(layer, "inner", []))
    return names


def main(groups: list[str]) -> int:
    """Trains the networks of the named groups (``images``, ``sequences``; default both)."""
    strict_device_arrays()
    results: dict[str, object] = {}
    covered: set[str] = set()
    for name, case in cases().items():
        if groups and case.group not in groups:
            continue
        covered |= layer_types(case.make())
        try:
            results[name] = difference(case)
        except Exception as exc:  # every network reports, not just the first failure
            results[name] = f"error: {type(exc).__name__}: {exc}"
    results["layer types"] = sorted(covered)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
