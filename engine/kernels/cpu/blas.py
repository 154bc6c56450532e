"""Strided matrix products inside Numba kernels, through the BLAS that ``np.dot`` uses there.

``np.dot`` in ``njit`` code needs contiguous operands and overwrites its output. ``gemm`` takes
matrices where they lie in a flat buffer (an offset and a row stride each) and can add into its
output (β = 1), so a kernel can multiply blocks of its workspaces in place: heads of attention
read from ``qkv``, or a convolution's gradient added straight into shifted windows of the padded
image. It calls SciPy's OpenBLAS through Numba's own bridge, like ``np.dot`` does: mixing it with
NumPy's OpenBLAS in one step leaves two thread pools spinning on the same cores.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

from numba import njit, types
from numba.np.linalg import ensure_blas

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
