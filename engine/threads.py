"""How many threads the kernels' BLAS runs on, set while the process runs; how Numba's wait.

The engine's matrix products go through SciPy's OpenBLAS (``engine.kernels.cpu.blas``, by
Numba's bridge, as ``np.dot`` in a kernel would). Its threads busy-wait between calls; beside
another busy thread — the app's interface, or any other program — they fight over the cores,
and a step can take several times as long. Measured on two cores, with one other process busy: the
``transformer-text`` preset trained at 60 steps/s on two BLAS threads and 204 on one (205 on one
with the machine idle, 128 on two), ``lenet-digits`` at 291 against 875. Networks this small
gain nothing from a second BLAS thread; a wide layer on the layer-by-layer path does, so the
library leaves OpenBLAS's default alone and the app sets one thread. (A large Dense network's
fused step splits its batch over Numba's threads instead, each chunk's products on one BLAS
thread: ``engine.backends.fused``.)

``OPENBLAS_NUM_THREADS`` only counts before the library loads; this module changes it after,
through OpenBLAS's own ``set_num_threads``, found in the shared library SciPy ships.

Numba's own threads (its OpenMP pool, for the kernels that split a batch over threads) wait in
one of two ways when a parallel region ends, chosen once as the pool loads (``pace_openmp``):
where nothing else wants the cores, they spin for a short while (about 0.1–0.2 ms) before they
sleep, so the next region, which a training loop starts within microseconds, finds them awake;
on a busy machine they sleep at once, because a spinning thread takes a core from whatever runs
next, and there that made every parallel step several times slower (below).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_PATTERNS = ("scipy.libs/*openblas*", "scipy/.dylibs/*openblas*")
_SETTERS = ("scipy_openblas_set_num_threads", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads", "openblas_get_num_threads")

OPENMP_SPIN = {"GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}
"""The wait of an idle machine: GNU OpenMP's spins before a thread sleeps (0.1–0.2 ms here); for
an LLVM or Intel OpenMP runtime, its shortest block time, 1 ms."""
OPENMP_WAIT = {"OMP_WAIT_POLICY": "PASSIVE"}
"""The wait of a busy machine: an idle thread sleeps at once."""
OPENMP_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
"""The variables that set the wait: where the user set any of them, the user's choice stands."""
PROC = Path("/proc")
openmp_choice = "not made"
"""What ``pace_openmp`` did, for reports (``dltui bench``): the settings it loaded OpenMP with,
or why it set none."""


def runnable_elsewhere(readings: int = 3, proc: Path = PROC) -> int | None:
    """How many threads of other programs the machine is running or has waiting to run: the
    kernel's count of runnable threads less this process's own (a BLAS pool spins for a while
    after it loads), the least of a few readings 1 ms apart (a busy program is runnable in every
    reading, a passing one in few). None where the counts cannot be read (no ``/proc``): then
    the caller assumes the worst. Inside a container ``/proc/loadavg`` may count the whole
    host's threads, which leans to the passive policy, the safe side."""
    least: int | None = None
    for i in range(readings):
        if i:
            time.sleep(0.001)
        others = _reading(proc)
        if others is None:
            return None
        least = others if least is None else min(least, others)
    return None if least is None else max(least, 0)


def _reading(proc: Path) -> int | None:
    """One reading for ``runnable_elsewhere``: runnable threads less this process's own."""
    try:
        running = int((proc / "loadavg").read_text().split()[3].split("/")[0])
        own = sum(_runnable(task) for task in (proc / "self" / "task").iterdir())
    except (OSError, ValueError, IndexError):  # UnicodeDecodeError is a ValueError
        return None
    return running - own


def _runnable(task: Path) -> bool:
    """Whether a thread (``/proc/<pid>/task/<tid>``) is running or waiting to run; a thread
    that ended meanwhile is not."""
    try:
        return (task / "stat").read_text().rpartition(")")[2].split()[0] == "R"
    except (OSError, ValueError, IndexError):
        return False


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def openmp_wait(threads: int, others: int | None, cores: int) -> dict[str, str]:
    """The OpenMP settings for a pool of ``threads`` where ``others`` threads of other programs
    are runnable on ``cores`` cores: a short spin where the pool and the others fit on the
    cores, the passive policy where they do not or the others are not known."""
    if others is not None and others + threads <= cores:
        return OPENMP_SPIN
    return OPENMP_WAIT


def pace_openmp() -> None:
    """Loads Numba's threading layer with the wait that suits the machine now (``openmp_wait``):
    a short spin when nothing else is running, the passive policy when something is.

    Measured on two cores (Intel Xeon virtual machine), a region of a sleeping pool starts its
    second thread 40 µs late (the first 15 µs), a spinning one within 1 µs. With 10,000 spins
    (0.1–0.2 ms) against the passive policy, idle: a ``mnist-mlp`` step 0.68–0.75 ms against
    0.79–0.85, ``lenet`` 5.9–6.5 against 7.1–7.5, ``transformer`` 12.0–13.2 against 14.0–15.5.
    Beside busy programs spinning loses: with four busy processes a ``mnist-mlp`` step took
    2.8 ms against 2.3 passive, and earlier on this machine, beside one, 1.6 ms against 1.15;
    with other programs running (load 7–9) OpenMP's own default, a long spin, made it 14–28 ms
    against 7–8, and a LeNet step 120–250 ms against 46–66.

    The settings are read once, when the OpenMP library loads, so they are set for that moment
    only: the process's environment is left as it was. The choice is not made again: a program
    that starts later finds the threads spinning a moment after each region. A library that
    links the same ``libgomp.so.1`` and loads after the engine shares the settings, though:
    PyTorch's own OpenMP threads then wait the engine's way too, and asleep its multi-threaded
    steps took 1.4 to 3 times as long on two cores. Import ``torch`` first where a process
    trains with both (then this call changes nothing). A setting the user made
    (``OPENMP_SETTINGS``) wins.
    """
    global openmp_choice
    from numba.np.ufunc import parallel

    if any(name in os.environ for name in OPENMP_SETTINGS):
        openmp_choice = "the user's"
        return
    if parallel._is_initialized:
        openmp_choice = "loaded before the engine"
        return
    import numba

    threads = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    chosen = openmp_wait(threads, runnable_elsewhere(), available_cores())
    os.environ.update(chosen)
    try:
        parallel._launch_threads()
        openmp_choice = " ".join(f"{k}={v}" for k, v in chosen.items())
    except (ImportError, ValueError, RuntimeError):
        openmp_choice = "no threading layer"  # the kernels that need one say so when called
    finally:
        for name in chosen:
            os.environ.pop(name, None)


@functools.cache
def _library() -> ctypes.CDLL | None:
    """SciPy's OpenBLAS, loaded (it is already, once a kernel has run), or None."""
    try:
        import scipy
        import scipy.linalg.cython_blas  # loads the library
    except ImportError:
        return None
    site = Path(scipy.__file__).parent.parent
    for pattern in _PATTERNS:
        for path in sorted(site.glob(pattern)):
            try:
                return ctypes.CDLL(str(path))
            except OSError:
                continue
    return None


@functools.cache
def _function(names: tuple[str, ...]) -> Any:
    """The first of ``names`` the library has, its types set once: a getter returns an int, a
    setter takes one (setting them on every call made a list and a tuple a step)."""
    lib = _library()
    for name in names if lib is not None else ():
        fn = getattr(lib, name, None)
        if fn is not None:
            if names == _SETTERS:
                fn.argtypes, fn.restype = [ctypes.c_int], None
            else:
                fn.restype = ctypes.c_int
            return fn
    return None


def blas_threads() -> int | None:
    """The number of threads the kernels' BLAS uses, or None where it cannot be told."""
    fn = _function(_GETTERS)
    if fn is None:
        return None
    return int(fn())


def set_blas_threads(n: int) -> bool:
    """Runs the kernels' BLAS on ``n`` threads from now on; False where it cannot be set
    (a SciPy built on another BLAS), which changes nothing else."""
    if n < 1:
        raise ValueError(f"BLAS needs at least one thread, got {n}")
    fn = _function(_SETTERS)
    if fn is None:
        return False
    fn(int(n))
    return True


def blas_to_one() -> int | None:
    """Puts BLAS on one thread, for kernels that call it from each of Numba's threads; returns
    the count to put back with ``blas_back`` (None: nothing to undo). ``blas_threads_for(1)``
    without a context manager, which a training step would allocate on every call."""
    before = blas_threads()
    if before is None or before == 1:
        return None
    set_blas_threads(1)
    return before


def blas_back(before: int | None) -> None:
    """Undoes ``blas_to_one``."""
    if before is not None:
        set_blas_threads(before)


_STEP = threading.local()
"""How deep this thread is in passes that split a batch over Numba's threads (``split_step``)."""


def in_split_step() -> bool:
    """Whether this thread runs a pass of a network that splits its batch over Numba's threads,
    with BLAS on one thread: only then does the CPU backend lend those threads to the layers
    that do not split on their own (large Dense products, activations, the loss), as nothing
    else uses them. Another thread's pass, or BLAS set to one thread for the whole process (as
    the app does), lends nothing."""
    return getattr(_STEP, "depth", 0) > 0


def enter_split_step() -> int | None:
    """``blas_to_one`` for such a pass, this thread marked as in one until
    ``leave_split_step``; returns what that takes."""
    _STEP.depth = getattr(_STEP, "depth", 0) + 1
    return blas_to_one()


def leave_split_step(before: int | None) -> None:
    """Undoes ``enter_split_step``."""
    _STEP.depth -= 1
    blas_back(before)


@contextlib.contextmanager
def split_step() -> Iterator[None]:
    """``enter_split_step`` … ``leave_split_step`` around a block."""
    before = enter_split_step()
    try:
        yield
    finally:
        leave_split_step(before)


@contextlib.contextmanager
def blas_threads_for(n: int) -> Iterator[None]:
    """BLAS on ``n`` threads inside the block, as it was after it.

    For kernels that split a batch over Numba's threads and call BLAS from each: a
    multithreaded BLAS called from inside them would put its threads on the same cores.
    """
    before = blas_threads()
    if before is None or before == n:
        yield
        return
    set_blas_threads(n)
    try:
        yield
    finally:
        set_blas_threads(before)
