"""Calling a serial kernel from a parallel one by its address, so that it is compiled once.

A ``prange`` driver that calls a serial kernel by name links that kernel's code into its own
and has LLVM optimise the whole again: the driver of a convolution's backward pass took 3.2 s
to compile beside the 3.2 s of the serial kernel it calls, and a first opening of a CNN preset
compiled both. Called through ``call_at`` instead, the serial kernel runs as compiled (and
cached) on its own, and the driver compiles in a fraction of the time, only its loop.

The driver takes the kernel's address and a key as arguments. The key names the argument
types the kernel was compiled for (``type_key``); ``call_at`` compares it with the types the
driver passes and calls nothing where they differ, and the driver then raises ``WrongAddress``
(``check``): a stale or missing address is an error, never a call with the wrong arguments.
``Site`` keeps the addresses for one call site: it asks for them on the first call (key 0
matches no types) and again whenever the driver says that the argument types changed (another
dtype). The key tells argument types apart, not kernels: which kernel goes with which address
is the site's to say, in the order of its ``kernels``.

The driver's argument types (``Site``'s ``types_of``) follow Numba's rules for the views it
passes: ``part`` for rows ``a[lo:hi]``, ``item`` for ``a[c]``, ``whole`` for ``a``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, typeof, types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from engine import _numba_setup  # noqa: F401


class WrongAddress(Exception):
    """A driver was handed the address of a kernel compiled for other argument types."""


def type_key(argtypes: Sequence[types.Type]) -> int:
    """A positive 63-bit number naming a list of Numba argument types (never 0)."""
    text = ", ".join(str(t) for t in argtypes).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1 or 1


@intrinsic
def call_at(typingctx, address, key, args):
    """Calls the kernel at ``address`` (an ``int64``, Numba's calling convention, returning
    nothing) with the tuple ``args`` if ``key`` is the ``type_key`` of their types, and returns
    0; returns 1 without calling it otherwise. Errors the kernel raises pass on to the caller
    (inside a ``prange`` loop, as Numba passes on any error there: a ``SystemError``).

    A count, not an exception: inside a ``prange`` loop an exception does not reach the caller
    intact, so the driver adds up the calls missed and passes the sum to ``check``."""
    if not isinstance(address, types.Integer) or not isinstance(key, types.Integer):
        raise errors.TypingError("call_at: the address and the key must be integers")
    if not isinstance(args, types.BaseTuple):
        raise errors.TypingError("call_at: the arguments must be one tuple")
    given_types = tuple(args.types)
    argtypes = tuple(types.unliteral(t) for t in given_types)  # a constant passes as its type
    expected = type_key(argtypes)

    def codegen(context, builder, sig, llargs):
        addr, given, values = llargs
        given = context.cast(builder, given, sig.args[1], types.int64)
        match = builder.icmp_signed("==", given, ir.Constant(ir.IntType(64), expected))
        missed = cgutils.alloca_once_value(builder, ir.Constant(ir.IntType(64), 1))
        with builder.if_then(match, likely=True):
            addr = context.cast(builder, addr, sig.args[0], types.int64)
            fnty = context.call_conv.get_function_type(types.none, argtypes)
            fn = builder.inttoptr(addr, fnty.as_pointer())
            argvals = [
                context.cast(builder, builder.extract_value(values, i), t, argtypes[i])
                for i, t in enumerate(given_types)
            ]
            status, _ = context.call_conv.call_function(builder, fn, types.none, argtypes, argvals)
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            builder.store(ir.Constant(ir.IntType(64), 0), missed)
        return builder.load(missed)

    return types.int64(address, key, args), codegen


@njit(cache=True, nogil=True)
def check(missed):
    """Raises ``WrongAddress`` if a driver's ``call_at`` missed any call (``missed`` > 0)."""
    if missed:
        raise WrongAddress("the kernel's address is for other argument types")


_ADDRESSES: dict[tuple[Any, tuple[types.Type, ...]], tuple[int, int]] = {}


def address(kernel: Any, argtypes: Sequence[types.Type]) -> tuple[int, int]:
    """The address of ``kernel`` (a dispatcher) compiled for ``argtypes`` (loaded from the
    cache or compiled now), and the key of those types."""
    sig = tuple(argtypes)
    found = _ADDRESSES.get((kernel, sig))
    if found is None:
        kernel.compile(sig)
        cres = kernel.overloads[sig]
        if cres.signature.return_type != types.none:
            raise TypeError(f"{kernel.__name__} returns a value; call_at calls only procedures")
        addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
        found = _ADDRESSES[(kernel, sig)] = (addr, type_key(cres.signature.args))
    return found


def whole(a: Any) -> types.Type:
    """The Numba type of ``a`` as a driver receives it."""
    return typeof(a)


def part(a: np.ndarray) -> types.Array:
    """The type of ``a[lo:hi]`` in a driver: C-contiguous stays so, other layouts become 'A'."""
    t = typeof(a)
    assert isinstance(t, types.Array)
    return t if t.layout == "C" else t.copy(layout="A")


def item(a: np.ndarray) -> types.Array:
    """The type of ``a[c]`` in a driver: one dimension fewer, the layout as for ``part``."""
    t = part(a)
    assert t.ndim >= 2, "item: a[c] of a one-dimensional array is a scalar"
    return t.copy(ndim=t.ndim - 1)


def view(a: np.ndarray, ndim: int) -> types.Array:
    """The type of a C-contiguous view of ``a``'s memory with ``ndim`` dimensions in a driver
    (``engine.kernels.cpu.views``: ``flat``, ``mat``)."""
    return part(a).copy(ndim=ndim, layout="C")


class Site:
    """One driver's calls of serial kernels, with their addresses for the argument types last
    seen. The driver's first arguments are ``target``: an address and a key per kernel, in the
    order of ``kernels`` (integers: an array of them made a record of 192 bytes in a call);
    ``types_of`` maps the driver's other arguments to the types it passes to each kernel (one
    sequence per kernel). ``target`` is a tuple, replaced whole: a thread never pairs one
    dtype's address with another's key.

    Calling the site runs the driver. A caller that must not build a second argument tuple
    (a step's bytes) passes ``target``'s items itself and, on ``WrongAddress``, calls ``anew``.
    A call's arguments, addresses included, stay under 20: Python keeps tuples of up to 19
    items for reuse, and a larger one is allocated in every call."""

    __slots__ = ("driver", "kernels", "target", "types_of")

    def __init__(
        self,
        driver: Any,
        kernels: tuple[Any, ...],
        types_of: Callable[..., Sequence[Sequence[types.Type]]],
    ) -> None:
        self.driver, self.kernels, self.types_of = driver, kernels, types_of
        self.target: tuple[int, ...] = (0, 0) * len(kernels)

    def __call__(self, *args: Any) -> Any:
        try:
            return self.driver(*self.target, *args)
        except WrongAddress:
            return self.anew(*args)

    def anew(self, *args: Any) -> Any:
        """Finds the kernels' addresses for ``args``, keeps them and runs the driver with them
        (not with ``target`` read again: another thread may have replaced it meanwhile)."""
        found = zip(self.kernels, self.types_of(*args), strict=True)
        target = tuple(n for kernel, argtypes in found for n in address(kernel, argtypes))
        self.target = target
        return self.driver(*target, *args)
