"""Compiling the kernels ahead of use, and knowing whether that is still to do.

Numba compiles each kernel the first time it is called with a new type signature and caches the
machine code on disk. A first start on an empty cache therefore compiles, in two parts:

- ``warm_first_step(run)``: only what the run's first training step and its first measurement
  call, on the layer-by-layer path (whose small kernels compile about three times faster than
  the fused whole-network kernel). The app shows "compiling kernels…" for these few seconds, on
  a thread, then trains.
- ``warm_up()``: every kernel of the Dense family, for both dtypes and every loss and optimiser,
  the fused kernel included. ``start_background()`` runs it in a separate process at low
  priority, so that it neither holds this process's compile lock (a training thread compiling
  anything would wait behind it) nor its interpreter lock; the disk cache is shared, and a
  network switched to the layer path meanwhile returns to the fused one once it is there.

A headless run (``dltui train``) always takes the fused kernel, compiling it in the foreground on
an empty cache: the two paths round differently, and the same config and seed must give the same
weights whatever the cache held. A checkpoint records the path its run trained on, and a resume
keeps it (:mod:`engine.experiment.runs`), so a run the app saved from the layer path resumes there.

The fused kernel is compiled once per dtype, loss and set of activations (only the code a
network uses, :mod:`engine.backends.cpu`). ``warm_up`` covers the tanh networks; any other Dense
network's kernel compiles in the background process too when ``start_background`` is given the
network, and ``defer_fused`` keeps that network on the layer path until it is there, so that no
training step waits seconds for a compile.

Markers, keyed by the version and the kernels' source, tell later starts what is already in the
cache: one for ``warm_up``, one per kind of network for ``warm_first_step``, one per fused
kernel.

Several processes starting at once on an empty cache warm up one at a time (a lock file beside
the marker): the first compiles, the others then load its work from the cache instead of
compiling the same kernels in parallel. Correctness does not depend on it, since the cache's own
updates are locked (:mod:`engine.cachelock`); this only saves the duplicated work.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import subprocess
import sys
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numba
import numpy as np

from engine import _numba_setup, activations, cachelock, optim
from engine.backends.cpu import CPU
from engine.backends.fused import LOSS_CODES, FusedStep, activation_kinds, dense_groups
from engine.events import Epoch, Finished
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu import fused as cpu_fused
from engine.kernels.cpu import optim as cpu_optim
from engine.layers import Dense, Dropout, Heaviside, Layer, LeakyReLU, ReLU, Sigmoid, Tanh
from engine.layers.activations import Activation
from engine.losses import LOSSES, STRAIGHT_THROUGH
from engine.network import Sequential

if TYPE_CHECKING:
    from engine.experiment.config import Run

WARM_LOCK = "dltui-warm.lock"
"""Held by the process warming up; distinct from the cache's own lock, which saves take inside."""


_BACKGROUND: dict[str | None, subprocess.Popen[bytes]] = {}
"""The background warm-ups this process started: the full one (None), then one per fused kernel
(its key) that the full one was not asked for."""

_LAYERED: weakref.WeakKeyDictionary[Sequential, str | None] = weakref.WeakKeyDictionary()
"""Networks put on the layer-by-layer path until their fused kernel is cached, with its key."""

BACKGROUND_NICE = 10
"""How much lower the background warm-up's priority is than the app's (``os.nice``)."""


def _cache_dir() -> Path:
    configured = getattr(numba.config, "CACHE_DIR", "")
    return Path(configured or str(_numba_setup.kernel_cache_dir()))


def _marker() -> Path:
    return _cache_dir() / f"warm-{_numba_setup.kernel_digest()}"


def _first_step_marker(run: Run) -> Path:
    """One marker per kind of network: its layer types, dtype, loss and optimiser."""
    net = run.net
    kinds = sorted({type(layer).__name__ for layer in net.layers})
    key = [*kinds, str(net.dtype), run.trainer.loss, type(run.optimizer).__name__]
    name = hashlib.sha256(" ".join(key).encode()).hexdigest()[:12]
    return _cache_dir() / f"first-{_numba_setup.kernel_digest()}-{name}"


def fused_key(net: Sequential, loss: str) -> str | None:
    """What selects ``net``'s compiled fused kernel for ``loss``: dtype, loss and the bitmask
    of activation kinds it is compiled for, as ``"float32-cross_entropy-2"``; None for a
    network that does not train fused (not a Dense stack, not on the CPU, or a loss that takes
    the layer path)."""
    groups = dense_groups(net.layers)
    if groups is None or net.backend is not CPU or loss in STRAIGHT_THROUGH:
        return None
    return f"{net.dtype}-{loss}-{activation_kinds(CPU, groups, net.dtype)}"


def _fused_marker(key: str) -> Path:
    return _cache_dir() / f"fused-{_numba_setup.kernel_digest()}-{key}"


def fused_cached(net: Sequential, loss: str) -> bool:
    """True when ``net``'s fused kernel for ``loss`` is in the disk cache (or it has none)."""
    key = fused_key(net, loss)
    return key is None or _fused_marker(key).exists()


def defer_fused(net: Sequential, loss: str) -> bool:
    """Puts ``net`` on the layer-by-layer path until its fused kernel for ``loss`` is cached
    (``use_fused_when_ready`` switches it back); whether it did. A network already off the
    fused path, by choice or as it does not fit, is left alone."""
    if not net.fuse or (kernels_cached() and fused_cached(net, loss)):
        return False
    net.fuse = False
    _LAYERED[net] = fused_key(net, loss)
    return True


def _mark(marker: Path) -> None:
    """Leaves ``marker`` for later starts; without a writable cache folder, nothing."""
    with contextlib.suppress(OSError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def kernels_cached() -> bool:
    """True when ``warm_up`` has already compiled the current kernels into the disk cache."""
    return _marker().exists()


def first_step_cached(run: Run) -> bool:
    """True when the kernels of ``run``'s first training step are in the disk cache already."""
    return _first_step_marker(run).exists() or (kernels_cached() and _dense_family(run.net))


def _dense_family(net: Sequential) -> bool:
    """Whether every layer is one that ``warm_up`` compiles (Dense, activations, dropout)."""
    return all(isinstance(layer, (Dense, Dropout, Activation)) for layer in net.layers)


def warm_first_step(run: Run, progress: Callable[[str], None] | None = None) -> None:
    """Compiles what ``run``'s first training step and epoch call, on a copy of its trainer.

    The copy trains one short epoch on the first two batches of the training data with the
    same network, loss, optimiser and dtype; ``run`` itself is left untouched. Its network is
    switched to the layer-by-layer path (``net.fuse = False``) unless its fused kernel is
    cached already (``defer_fused``): ``use_fused_when_ready`` switches it back.
    """
    if progress:
        progress(f"{run.net.dtype} · {run.trainer.loss} · {type(run.optimizer).__name__}")
    defer_fused(run.net, run.trainer.loss)
    twin = copy.deepcopy(run.trainer)
    twin.net.fuse = run.net.fuse
    data = run.data
    rows = min(len(data.X_train), 2 * (twin.batch_size or len(data.X_train)))
    X, y = data.X_train[:rows], data.y_train[:rows]
    events = twin.run(X, y, epochs=1, val=(X, y))
    for event in events:
        if isinstance(event, (Epoch, Finished)):
            break
    events.close()
    twin.net.forward(X[:1])
    _mark(_first_step_marker(run))


def start_background(
    dtype: str = "float32",
    optimizer: str = "adam",
    net: Sequential | None = None,
    loss: str | None = None,
    fused_here: bool = False,
) -> subprocess.Popen[bytes] | None:
    """Starts ``warm_up`` in a separate process of lower priority; None if nothing is left to do.

    The process first compiles the backward and update kernels of ``dtype`` (``optimizer``'s
    first): a first step on the layer path reaches them last, so while this process compiles
    them on another core, the app compiles the forward ones, then finds these in the cache.
    Given a network and its loss, it next compiles that network's fused kernel, unless cached;
    a network given once the full warm-up is under way or done gets a process of its own.

    ``fused_here``: this process compiles that fused kernel itself, now (a headless run). The
    other process then starts with the kernels the fused one calls, last first
    (``warm_callees``), then ``optimizer``'s update and the forward pass that measures the
    epoch; it takes up the fused kernel only at its end, when this process has long cached it,
    to mark it (``background``).

    The process outlives the app if the app quits first, so the next start finds the cache
    filled; it exits when done. Its output is discarded: a failure there costs only speed, as
    every kernel still compiles on first use.
    """
    key = fused_key(net, loss) if net is not None and loss is not None else None
    if key is not None and _fused_marker(key).exists():
        key = None
    if key in _BACKGROUND:
        return _BACKGROUND[key]  # the command line starts it early, the screen asks again
    if (kernels_cached() and key is None) or not os.access(_cache_dir(), os.W_OK):
        return None  # done, or nowhere to keep the result: each kernel compiles on first use
    args = [dtype, optimizer]
    if key is not None and net is not None:
        args += [str(loss), json.dumps(net.spec())] + (["callees"] if fused_here else [])
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": root + (os.pathsep + path if path else "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.warmup", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # a Ctrl-C meant for the app does not stop it
    )
    _BACKGROUND.setdefault(None, process)  # the full warm-up runs in each of them
    _BACKGROUND[key] = process
    return process


def warm_callees(spec: list[dict], dtype: str, loss: str, optimizer: str) -> None:
    """Compiles what a headless run of the network ``spec`` describes calls besides its fused
    kernel, which that run compiles meanwhile: first the kernels the fused one calls, in the
    reverse of the order its compile reaches them (``cpu_fused.callees``), so that the two
    compiles meet half way; then ``optimizer``'s update and the layer path's forward pass,
    which the run calls once its fused kernel is compiled."""
    net = Sequential.from_spec(spec, seed=0, dtype=dtype)
    groups = dense_groups(net.layers)
    if groups is None or fused_key(net, loss) is None:
        return
    kinds = activation_kinds(CPU, groups, net.dtype)
    for kernel, args in reversed(cpu_fused.callees(net.dtype, LOSS_CODES[loss], kinds)):
        kernel(*args)
    if optimizer in optim.OPTIMIZERS:
        optim.create(optimizer, net, lr=1e-3).step()
    net.forward(np.zeros((2, net.in_features)))


def use_fused_when_ready(net: Sequential) -> bool:
    """Switches a network that ``warm_first_step`` put on the layer-by-layer path back to the
    fused kernel once ``warm_up`` has cached it; whether ``net`` is done waiting (on the fused
    path now, or never put off it)."""
    if net not in _LAYERED:
        return True
    key = _LAYERED[net]
    if not kernels_cached() or (key is not None and not _fused_marker(key).exists()):
        return False
    net.fuse = True
    del _LAYERED[net]
    return True


def warm_up(
    dtypes: tuple[str, ...] = ("float32", "float64"), progress: Callable[[str], None] | None = None
) -> None:
    """Calls every kernel once per dtype, serial and parallel twins, so all of them are compiled."""
    with _warm_lock():
        _warm_all(dtypes, progress)


@contextlib.contextmanager
def _warm_lock(name: str = WARM_LOCK) -> Iterator[None]:
    """Holds the lock file ``name`` (``WARM_LOCK``: the full warm-up's) of the cache folder: one
    process compiles that part at a time, and one that waited then finds it done."""
    folder = _marker().parent
    with contextlib.suppress(OSError):  # no cache folder: warm up unlocked, no marker
        folder.mkdir(parents=True, exist_ok=True)
    with cachelock.locked(str(folder), exclusive=True, name=name):
        yield


def _warm_all(dtypes: tuple[str, ...], progress: Callable[[str], None] | None) -> None:
    marker = _marker()
    if marker.exists():  # another process warmed the cache while this one waited
        return
    for dtype in dtypes:
        for loss in LOSSES:
            if progress:
                progress(f"{dtype} · {loss}")
            _one_step(dtype, loss, rows=8)
        _activation_kernels(dtype)
        _parallel_twins(dtype)
    _mark(marker)


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
    warm_fused(Sequential(fused, seed=0, dtype=dtype).spec(), dtype, loss)


def warm_fused(spec: list[dict], dtype: str, loss: str) -> None:
    """Compiles the fused kernel of the network ``spec`` describes, for a whole batch and one
    split over threads, and marks it cached (``fused_cached``). It holds a lock of that kernel's
    own: a second process asking for it waits, then finds it marked, and never waits behind
    another kernel or the full warm-up."""
    net = Sequential.from_spec(spec, seed=0, dtype=dtype)
    key = fused_key(net, loss)
    if key is None:
        return
    with _warm_lock(f"dltui-fused-{key}.lock"):
        if not _fused_marker(key).exists():
            _compile_fused(net, key, loss)


def _compile_fused(net: Sequential, key: str, loss: str) -> None:
    rows, out = 8, net.widths()[-1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, net.in_features))
    y = rng.integers(0, out, rows) if loss == "cross_entropy" else rng.random((rows, out)).round()
    net.loss_and_grad(x, y, loss=loss)
    groups = dense_groups(net.layers)
    assert groups is not None
    xb, yb = net.as_input(x), net.as_target(y, loss, rows)
    FusedStep(net, groups, rows, loss, chunks=2).run(xb, yb)
    _mark(_fused_marker(key))


def _activation_kernels(dtype: str, forward: bool = True) -> None:
    """Each common activation's own kernels (``cpu.FORWARD``, ``cpu.BACKWARD``) on ``dtype``
    arrays, as the backend picks them; any other activation takes the general kernels, which
    the fused kernel and the ``prange`` twins compile."""
    z = np.linspace(-1.0, 1.0, 8, dtype=dtype).reshape(2, 4)
    for kind in sorted(cpu.BACKWARD.keys() - {activations.TANH_F32}):  # the backend maps tanh
        if forward:
            CPU.activation_forward(z, z.copy(), kind, 0.0)
        CPU.activation_backward(z, z, z, z.copy(), kind, 0.0)


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


def backward_first(dtype: str, optimizer: str) -> None:
    """The layer path's backward and update kernels of ``dtype``, ``optimizer``'s first."""
    net = Sequential([Dense(2, 4), Tanh(), Dense(4, 1)], seed=0, dtype=dtype)
    backend = net.backend
    x, z = np.ones((2, 2), dtype=dtype), np.ones((2, 4), dtype=dtype)
    _activation_kernels(dtype, forward=False)
    W, gW, gb = net.params["0.W"], net.grads["0.W"], net.grads["0.b"]
    backend.dense_backward(x, W, z, gW, gb, x.copy())
    backend.dense_backward(x, W, z, gW, gb, None)
    names = [optimizer, *(name for name in optim.OPTIMIZERS if name != optimizer)]
    for name in names:
        if name in optim.OPTIMIZERS:
            optim.create(name, net, lr=1e-3).step()


def background(argv: list[str]) -> None:
    """What ``start_background`` runs: ``DTYPE OPTIMIZER [LOSS SPEC_JSON [callees]]``.

    The process outlives its app, so an app started again finds the last one's still running.
    The two long parts are locked so that they run once, not side by side (which on two cores
    slowed both apps and both compiles): a network's fused kernel under a lock of its own
    (``warm_fused``), so that it never waits behind another network's or the full warm-up; the
    full warm-up under ``WARM_LOCK``. Whoever waited then finds the work done. The backward
    kernels, first and short, are not locked: a process that would wait for them is no help to
    its app; nor are a headless run's callees (``warm_callees``), which meet that run's compile.
    After those, a headless run's fused kernel goes through ``warm_fused`` last, when the run has
    long put it in the cache: loaded, not compiled, it gets the marker that tells later starts.
    """
    with contextlib.suppress(OSError):
        os.nice(BACKGROUND_NICE)  # the app, training beside it, comes first
    spec = json.loads(argv[3]) if len(argv) >= 4 else None
    headless = len(argv) == 5
    if spec is not None and headless:  # a headless run compiles the fused kernel: meet it
        warm_callees(spec, argv[0], argv[2], argv[1])
    if len(argv) >= 2:
        backward_first(argv[0], argv[1])
    if spec is not None and not headless:  # and the app's network's fused kernel
        warm_fused(spec, argv[0], argv[2])
    with _warm_lock():
        _warm_all(("float32", "float64"), None)
    if spec is not None and headless:  # the run's fused kernel: cached by now, and marked
        warm_fused(spec, argv[0], argv[2])
    _numba_setup.prune_other_caches()  # another version's kernels, not started for a month


if __name__ == "__main__":  # python -m engine.warmup [DTYPE OPTIMIZER [LOSS SPEC_JSON [callees]]]
    background(sys.argv[1:])
