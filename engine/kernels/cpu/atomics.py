"""Atomic counters for kernels whose threads share out work inside one parallel region.

A ``prange`` region ends with every thread waiting for the others; where a step needs two
rounds of work, the second waiting for all of the first, two regions cost two of these waits and
two wake-ups of the threads, each 30–70 µs on a virtual machine where they sleep between regions
(as on a busy machine: ``engine.threads.pace_openmp``). With these counters one region does both
rounds: each thread claims the next piece of work (``claim``), counts it done (``done``), and
between the rounds spins until the whole first round is counted (``wait_for``). A thread only
ever waits for work another thread has claimed and is running, so a region with fewer threads
than pieces, or none but the caller, still finishes: the first thread to arrive does what nobody
has claimed.

Each counter is an ``int64`` cell of an array the caller zeroes before the region; counters
that threads update at once sit a cache line apart (``LINE``).
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from engine import _numba_setup  # noqa: F401

LINE = 8
"""``int64`` cells per 64-byte cache line: counters ``LINE`` cells apart never share one."""

_X86, _ARM = ("x86_64", "amd64", "i686", "x86"), ("aarch64", "arm64")
_MACHINE = platform.machine().lower()


def _counter(context, builder, sig, args):
    """A pointer to ``a[i]`` for the intrinsics below (their caller keeps ``i`` in bounds)."""
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    i = context.cast(builder, args[1], sig.args[1], types.intp)
    return builder.gep(ary.data, [i])


def _check(a: types.Type, i: types.Type) -> None:
    if not (
        isinstance(a, types.Array)
        and a.dtype == types.int64
        and a.ndim == 1
        and a.layout == "C"
        and a.mutable
    ):
        raise errors.TypingError(
            "atomics: the counters must be a writable, C-contiguous, one-dimensional int64 array"
        )
    if not isinstance(i, types.Integer):
        raise errors.TypingError("atomics: the counter's index must be an integer")


@intrinsic
def fetch_add(typingctx, a, i, value):
    """Adds ``value`` to ``a[i]`` as one indivisible step and returns what ``a[i]`` held before;
    sequentially consistent, so whatever the thread wrote first is seen by a thread that reads
    the new count."""
    _check(a, i)
    if not isinstance(value, types.Integer):
        raise errors.TypingError("fetch_add: the amount must be an integer")

    def codegen(context, builder, sig, args):
        amount = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", _counter(context, builder, sig, args), amount, "seq_cst")

    return types.int64(a, i, value), codegen


@intrinsic
def load(typingctx, a, i):
    """``a[i]`` read with acquire order: a loop that polls it sees every store made before the
    ``fetch_add`` that changed it, and the compiler cannot hoist the read out of the loop."""
    _check(a, i)

    def codegen(context, builder, sig, args):
        return builder.load_atomic(_counter(context, builder, sig, args), "acquire", 8)

    return types.int64(a, i), codegen


@intrinsic
def relax(typingctx):
    """The processor's hint that this is a spin-wait (``pause`` on x86, ``yield`` on Arm): the
    loop then draws less power and leaves more of the core to a sibling hyper-thread."""

    def codegen(context, builder, sig, args):
        if _MACHINE in _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(
                cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause"), []
            )
        elif _MACHINE in _ARM:
            fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(32)])
            hint = cgutils.get_or_insert_function(builder.module, fnty, "llvm.aarch64.hint")
            builder.call(hint, [ir.Constant(ir.IntType(32), 1)])  # 1: YIELD
        return context.get_dummy_value()

    return types.none(), codegen


@njit(cache=True, nogil=True)
def claim(a, i):
    """The next piece of work of the round counted in ``a[i]``: 0, 1, 2, ... in turn across
    the threads; a thread stops when it gets one past the last."""
    return fetch_add(a, i, 1)


@njit(cache=True, nogil=True)
def done(a, i):
    """Counts one piece of the round in ``a[i]`` as finished, after everything it wrote."""
    fetch_add(a, i, 1)


@njit(cache=True, nogil=True)
def wait_for(a, i, count):
    """Spins until ``a[i]`` reaches ``count``: every piece of a round claimed and finished."""
    while load(a, i) < count:
        relax()
