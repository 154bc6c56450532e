"""Compiling the kernels ahead of use, and knowing whether that is still to do.

Numba compiles each kernel the first time it is called with a new type signature and caches the
machine code on disk. The first start of dltui therefore spends some seconds compiling; the app
shows "compiling kernels…" during ``warm_up()`` instead of a blank screen. A marker file, keyed by
the version and the kernels' source, tells later starts that the cache is already filled.

Several processes starting at once on an empty cache warm up one at a time (a lock file beside
the marker): the first compiles, the others then load its work from the cache instead of
compiling the same kernels in parallel. Correctness does not depend on it, since the cache's own
updates are locked (:mod:`engine.cachelock`); this only saves the duplicated work.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from engine import _numba_setup, activations, cachelock, optim
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu import fused as cpu_fused
from engine.kernels.cpu import optim as cpu_optim
from engine.layers import Dense, Dropout, Heaviside, Layer, LeakyReLU, ReLU, Sigmoid, Tanh
from engine.losses import LOSSES, STRAIGHT_THROUGH
from engine.network import Sequential

WARM_LOCK = "dltui-warm.lock"
"""Held by the process warming up; distinct from the cache's own lock, which saves take inside."""


def _marker() -> Path:
    digest = hashlib.sha256()
    for module in (activations, cpu, cpu_optim, cpu_fused):
        digest.update(Path(str(module.__file__)).read_bytes())
    configured = getattr(numba.config, "CACHE_DIR", "")
    cache = configured or str(_numba_setup.user_cache_dir() / "numba")
    return Path(cache) / f"warm-{digest.hexdigest()[:16]}"


def kernels_cached() -> bool:
    """True when ``warm_up`` has already compiled the current kernels into the disk cache."""
    return _marker().exists()


def warm_up(
    dtypes: tuple[str, ...] = ("float32", "float64"), progress: Callable[[str], None] | None = None
) -> None:
    """Calls every kernel once per dtype, serial and parallel twins, so all of them are compiled."""
    marker = _marker()
    with contextlib.suppress(OSError):  # no cache folder: warm up unlocked, no marker
        marker.parent.mkdir(parents=True, exist_ok=True)
    with cachelock.locked(str(marker.parent), exclusive=True, name=WARM_LOCK):
        if marker.exists():  # another process warmed the cache while this one waited
            return
        for dtype in dtypes:
            for loss in LOSSES:
                if progress:
                    progress(f"{dtype} · {loss}")
                _one_step(dtype, loss, rows=8)
            _parallel_twins(dtype)
        with contextlib.suppress(OSError):
            marker.touch()


def _head(loss: str) -> list[Layer]:
    """The output unit ``loss`` needs: a sigmoid for bce, a step for the perceptron's rule."""
    if loss == "bce":
        return [Sigmoid()]
    return [Heaviside()] if loss in STRAIGHT_THROUGH else []


def _one_step(dtype: str, loss: str, rows: int) -> None:
    out = 3 if loss == "cross_entropy" else 1
    width = 16 if rows > 8 else 4
    layers = [Dense(2, width), ReLU(), Dense(width, width), LeakyReLU(), Dropout(0.1)]
    layers += [Dense(width, width), Tanh(), Dense(width, out), *_head(loss)]
    net = Sequential(layers, seed=0, dtype=dtype)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 2))
    y = rng.integers(0, out, rows) if loss == "cross_entropy" else rng.random((rows, 1)).round()
    for name in optim.OPTIMIZERS:
        net.loss_and_grad(x, y, loss=loss, l1=1e-4, l2=1e-4)
        optim.clip_grad_norm(net, 1.0)
        optim.create(name, net, lr=1e-3).step()
    xb = np.empty_like(net.as_input(x))
    net.backend.gather_rows(net.as_input(x), np.arange(rows, dtype=np.int64), 0, rows, xb)
    net.backend.all_finite(net.data)
    fused = [Dense(2, width), Tanh(), Dense(width, out), *_head(loss)]
    Sequential(fused, seed=0, dtype=dtype).loss_and_grad(x, y, loss=loss)  # engine.backends.fused


def _parallel_twins(dtype: str) -> None:
    """The ``prange`` twins, called directly: the backend takes them only for huge arrays."""
    z = np.linspace(-1.0, 1.0, 8, dtype=dtype).reshape(2, 4)
    for kind in (activations.RELU, activations.TANH):
        cpu.activation_forward_par(z, z.copy(), kind, 0.0)
        cpu.activation_backward_par(z, z, z, z.copy(), kind, 0.0)
    net = Sequential([Dense(2, 2)], seed=0, dtype=dtype)
    for cls in optim.OPTIMIZERS.values():
        opt = cls(net, lr=0.1)
        opt.t = 1
        getattr(cpu_optim, opt.kernel + "_par")(net.data, net.grad, *opt.kernel_args())
