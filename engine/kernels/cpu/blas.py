"""Matrix products inside Numba kernels, through the BLAS that ``np.dot`` uses there.

``product`` makes the calls ``np.dot`` would for whole contiguous matrices, without compiling
``np.dot`` for each layout. ``np.dot`` and ``product`` overwrite their output. ``gemm`` takes
matrices where they lie in a flat buffer (an offset and a row stride each) and can add into its
output (β = 1), so a kernel can multiply blocks of its workspaces in place: heads of attention
read from ``qkv``, or a convolution's gradient added straight into shifted windows of the padded
image. It calls SciPy's OpenBLAS through Numba's own bridge, like ``np.dot`` does: mixing it with
NumPy's OpenBLAS in one step leaves two thread pools spinning on the same cores.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

from numba import njit, types
from numba.core import cgutils, errors
from numba.extending import intrinsic
from numba.np.arrayobj import make_array
from numba.np.linalg import call_xxdot, call_xxgemm, call_xxgemv, ensure_blas

from engine import _numba_setup  # noqa: F401

_CYTHON_BLAS = "scipy.linalg.cython_blas"


def _load_cython_blas() -> None:
    """Loads SciPy's ``cython_blas`` extension from its file, without the ``scipy.linalg`` package.

    Numba's bridge only needs that one module (it reads the ?gemm pointers from it), but a plain
    import runs ``scipy.linalg/__init__`` first, which loads all of SciPy's linear algebra: a
    quarter of a second at every start. Put in ``sys.modules`` under its own name, the module is
    the one any later import of it finds, ``scipy.linalg``'s included. Wherever the file cannot be
    found this way, the ordinary import in ``ensure_blas`` takes over.
    """
    if _CYTHON_BLAS in sys.modules:
        return
    try:
        scipy = importlib.util.find_spec("scipy")
        roots = scipy.submodule_search_locations if scipy is not None else None
        if not roots:
            return
        for root in roots:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = Path(root) / "linalg" / f"cython_blas{suffix}"
                if path.is_file():
                    loader = importlib.machinery.ExtensionFileLoader(_CYTHON_BLAS, str(path))
                    spec = importlib.util.spec_from_file_location(_CYTHON_BLAS, path, loader=loader)
                    if spec is None:
                        return
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[_CYTHON_BLAS] = module
                    try:
                        loader.exec_module(module)
                    except BaseException:
                        del sys.modules[_CYTHON_BLAS]
                        raise
                    return
    except (ImportError, OSError, ValueError):
        sys.modules.pop(_CYTHON_BLAS, None)


_load_cython_blas()
ensure_blas()  # SciPy's BLAS must be importable; Numba's bridge loads ?gemm from it on first use

# numba_xxgemm(kind, transa, transb, m, n, k, *alpha, *a, lda, *b, ldb, *beta, *c, ldc): Numba's
# C helper in front of scipy.linalg.cython_blas.?gemm (kind 's' or 'd'), column-major like BLAS.
_xxgemm = types.ExternalFunction(
    "numba_xxgemm",
    types.intc(
        types.char,
        types.char,
        types.char,
        types.intp,
        types.intp,
        types.intp,
        types.voidptr,
        types.voidptr,
        types.intp,
        types.voidptr,
        types.intp,
        types.voidptr,
        types.voidptr,
        types.intp,
    ),
)
_NO_TRANS, _TRANS, _SINGLE, _DOUBLE = ord("n"), ord("t"), ord("s"), ord("d")


@njit(cache=True, nogil=True, inline="always")
def gemm(ta, tb, m, n, k, coef, a, ia, lda, b, ib, ldb, c, ic, ldc):
    """Row-major C = coef[0] · op(A) op(B) + coef[1] · C, with C (m, n) and inner size k.

    A, B and C are flat arrays of one dtype; each matrix starts at its offset (``ia`` …) and its
    rows lie ``lda`` / ``ldb`` / ``ldc`` elements apart; ``op`` transposes when ``ta`` / ``tb``.
    BLAS is column-major and sees a row-major matrix as its transpose, hence Cᵀ = op(B)ᵀ op(A)ᵀ.
    """
    kind = _SINGLE if a.itemsize == 4 else _DOUBLE
    status = _xxgemm(
        kind,
        _TRANS if tb else _NO_TRANS,
        _TRANS if ta else _NO_TRANS,
        n,
        m,
        k,
        coef[0:].ctypes,
        b[ib:].ctypes,
        ldb,
        a[ia:].ctypes,
        lda,
        coef[1:].ctypes,
        c[ic:].ctypes,
        ldc,
    )
    if status != 0:
        raise RuntimeError("SciPy's BLAS could not be loaded")


def _operand(context, builder, typ, value, flag, as_seen):
    """An operand of ``product`` as Numba's BLAS calls take it: its type as BLAS sees it (the
    other layout when transposed), its shape after ``op`` and its data pointer."""
    arr = make_array(typ)(context, builder, value)
    rows, cols = builder.extract_value(arr.shape, 0), builder.extract_value(arr.shape, 1)
    return as_seen, ((cols, rows) if flag else (rows, cols)), arr.data


@intrinsic
def product(typingctx, a, ta, b, tb, c):
    """c = op(a) op(b), ``op`` transposing where the constants ``ta`` / ``tb`` say, for
    contiguous matrices a and b and a C-contiguous c of shape (rows of op(a), columns of op(b)).

    The very BLAS calls that ``np.dot(a.T if ta else a, b.T if tb else b, c)`` makes inside a
    kernel (Numba's own ``call_xxgemm``, and its vector routines where op(a) has one row or
    op(b) one column, so the same bits), emitted in place: ``np.dot`` costs a compiled function
    of its own for each combination of layouts, a tenth of a second or more each on a first
    start, and checks shapes that the callers here guarantee.
    """
    flags = [
        flag.literal_value if isinstance(flag, types.BooleanLiteral) else None for flag in (ta, tb)
    ]
    if None in flags:
        raise errors.TypingError("product: ta and tb must be the constants True or False")
    if not all(isinstance(m, types.Array) and m.ndim == 2 for m in (a, b, c)):
        raise errors.TypingError("product: a, b and c must be matrices")
    if a.layout not in "CF" or b.layout not in "CF" or c.layout != "C":
        raise errors.TypingError("product: a and b must be contiguous and c C-contiguous")
    if not a.dtype == b.dtype == c.dtype or a.dtype not in (types.float32, types.float64):
        raise errors.TypingError("product: a, b and c must be all float32 or all float64")
    # op(m) as BLAS sees it: a transposed operand is the same memory in the other layout
    seen = [m.copy(layout="FC"[m.layout == "F"]) if t else m for m, t in zip((a, b), flags)]

    def codegen(context, builder, sig, args):
        (x, x_shape, x_data), (y, y_shape, y_data) = (
            _operand(context, builder, typ, value, flag, as_seen)
            for typ, value, flag, as_seen in zip((a, b), (args[0], args[2]), flags, seen)
        )
        out = make_array(c)(context, builder, args[4])
        (m, k), (inner, n) = x_shape, y_shape
        zero, one, most = (context.get_constant(types.intp, v) for v in (0, 1, 2**31 - 1))
        rows, cols = (builder.extract_value(out.shape, i) for i in (0, 1))
        unfit = [builder.icmp_signed("!=", *pair) for pair in ((k, inner), (rows, m), (cols, n))]
        unfit += [builder.icmp_signed(">", size, most) for size in (m, n, k)]  # BLAS takes int
        with cgutils.if_unlikely(builder, functools.reduce(builder.or_, unfit)):
            message = "product: op(a) op(b) does not fit c, or a size is 2**31 or more"
            context.call_conv.return_user_exc(builder, ValueError, (message,))
        empty = builder.or_(
            builder.icmp_signed("==", k, zero),
            builder.or_(builder.icmp_signed("==", m, zero), builder.icmp_signed("==", n, zero)),
        )
        # as np.dot: a (1, k) or (k, 1) operand is a vector, for the vector routines of BLAS
        with builder.if_else(empty, likely=False) as (nothing, something):
            with nothing:
                cgutils.memset(builder, out.data, builder.mul(out.itemsize, out.nitems), 0)
            with something:
                left_vec, right_vec = (builder.icmp_signed("==", v, one) for v in (m, n))
                with builder.if_else(right_vec) as (to_vec, to_mat):
                    with to_vec, builder.if_else(left_vec) as (vv, mv):
                        with vv:
                            call_xxdot(
                                context, builder, False, c.dtype, k, x_data, y_data, out.data
                            )
                        with mv:
                            call_xxgemv(
                                context,
                                builder,
                                x.layout == "C",
                                x,
                                x_shape,
                                x_data,
                                y_data,
                                out.data,
                            )
                    with to_mat, builder.if_else(left_vec) as (vm, mm):
                        with vm:
                            call_xxgemv(
                                context,
                                builder,
                                y.layout != "C",
                                y,
                                y_shape,
                                y_data,
                                x_data,
                                out.data,
                            )
                        with mm:
                            out_shape = (m, n)
                            call_xxgemm(
                                context,
                                builder,
                                x,
                                x_shape,
                                x_data,
                                y,
                                y_shape,
                                y_data,
                                c,
                                out_shape,
                                out.data,
                            )
        return context.get_dummy_value()

    return types.none(a, ta, b, tb, c), codegen
