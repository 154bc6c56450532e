"""Small matrix products in registers: C = A B for the per-step products of the recurrent layers.

A recurrent layer multiplies a few rows of hidden state by the same weights at every time step:
an LSTM of 128 units over 32 samples computes (32 × 128)(128 × 512) 32 times forward and
(32 × 512)(512 × 128) 32 times back. BLAS copies (packs) the weights into its own layout on every
call, and for products this small the copy costs a quarter of the call. ``tile_product`` reads B
from panels that ``pack`` writes once for all the steps and A where it lies: a tile of ``ROWS``
rows of C and ``VECTORS`` vector registers of columns stays in registers while k runs over the
inner dimension; each step broadcasts one element of each row of A and loads one row of the
tile's columns of B. With B in the cache (see ``suits``) that is 1.3–2 times as fast as OpenBLAS
for an LSTM of 64–128 units; from a few megabytes of B on, BLAS's packing pays and it is much
the faster.

Every element of C is one chain of fused multiply-adds in the order k = 0, 1, …, starting from
zero, whichever tile computes it: the result does not depend on the tile sizes, on how many rows
a call gets, or on the vector width of the machine.

The tiles are written in LLVM IR (``_tile``), with vectors as wide as the machine's registers
(``VECTOR_BYTES``): 64 bytes with AVX-512, 32 with AVX2, 16 on Arm. A processor without fused
multiply-add instructions keeps BLAS (``TILES`` is False).
"""

from __future__ import annotations

import platform
from typing import Any

from llvmlite import binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils, config, errors
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from engine import _numba_setup  # noqa: F401
from engine.kernels.cpu.views import flat


def _vector_shape() -> tuple[int, int, bool]:
    """(bytes per vector register, registers, fused multiply-add) of the machine Numba compiles
    for: the host, unless ``NUMBA_CPU_NAME`` names another (then no tiles: its features are
    not known here)."""
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return 16, 32, True
    if getattr(config, "CPU_NAME", None) or machine not in ("x86_64", "amd64"):
        return 16, 16, False
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # LLVM could not read them: BLAS, as on an unknown processor
        return 16, 16, False
    if features.get("avx512f", False):
        return 64, 32, True
    return 32, 16, features.get("avx2", False) and features.get("fma", False)


VECTOR_BYTES, _REGISTERS, TILES = _vector_shape()
ROWS = 8 if _REGISTERS >= 32 else 4
"""Rows of C a tile holds: each step of k broadcasts one element of each."""
VECTORS = 2
"""Vector registers of columns a tile holds: ``ROWS · VECTORS`` accumulators, one B load per
vector and one broadcast per row beside them, fit the machine's registers. With AVX-512, 8 × 2
tiles made the LSTM's step products 8–15 % faster than 4 × 4 (forward 711–774 µs a chunk
against 835–870, back 765–789 against 843–905): a narrower panel keeps twice as many rows of
B in the first-level cache."""
BLOCK_BYTES = 1 << 15
"""Bytes of a panel of B a tile reads from the first-level cache: k runs in blocks of as many rows
of the panel (256 rows of 32 float32 columns), each block's sums carried to the next in C."""
ALIGN = 16
"""Elements by which a caller rounds each thread's share of a packed room, so that every share
starts on a cache line where the room does (a panel's 64-byte loads split across two lines
otherwise: 6–9 % slower)."""
TILE_BYTES = 1 << 20
"""The largest B (bytes) ``suits`` takes: an LSTM of 256 units (1 MiB in float32) still gains
3–15 %, one of 512 units (4 MiB) runs at half BLAS's speed, as every tile then streams its
columns of B from beyond the cache."""


@njit(cache=True, nogil=True, inline="always")
def suits(k, n, itemsize):
    """Whether ``tile_product`` beats BLAS for a B of k × n elements of ``itemsize`` bytes."""
    return TILES and k * n * itemsize <= TILE_BYTES


def _check(*arrays: Any) -> None:
    """Refuses operands a tile cannot read: flat C-contiguous arrays of one float dtype."""
    dtype = arrays[0].dtype
    for a in arrays:
        if not (isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"):
            raise errors.TypingError("tiles: the operands must be flat C-contiguous arrays")
        if a.dtype != dtype or dtype not in (types.float32, types.float64):
            raise errors.TypingError("tiles: the operands must all be float32 or all float64")


def _fma_name(dtype: Any, lanes: int) -> str:
    """LLVM's fused multiply-add of ``lanes`` values of ``dtype`` at once."""
    return f"llvm.fma.v{lanes}{'f32' if dtype == types.float32 else 'f64'}"


def _tile(rows: int, vectors: int):
    """An intrinsic for one tile, C[rows, vectors·lanes] += A[rows, 0:k] B[0:k, vectors·lanes]:

        for i < rows, j < vectors·lanes:  acc[i, j] = 0 if start else C[i, j]
        for p < k:  acc[i, j] = fma(A[i, p], B[p, j], acc[i, j])     (all i, j at once)
        C[i, j] = acc[i, j]

    Its arguments are flat arrays with an offset and a row stride each, as ``blas.gemm`` takes
    them, then k ≥ 1 and ``start``: ``(a, ia, lda, b, ib, ldb, c, ic, ldc, k, start)``. The
    caller keeps the tile inside the arrays."""

    def typer(typingctx, a, ia, lda, b, ib, ldb, c, ic, ldc, k, start):
        _check(a, b, c)
        for i in (ia, lda, ib, ldb, ic, ldc, k):
            if not isinstance(i, types.Integer):
                raise errors.TypingError("tiles: offsets, strides and k must be integers")
        if not isinstance(start, types.Boolean):
            raise errors.TypingError("tiles: start must be a bool")

        def codegen(context, builder, sig, args):
            dtype = sig.args[0].dtype
            scalar = context.get_value_type(dtype)
            lanes = VECTOR_BYTES // context.get_abi_sizeof(scalar)
            vec = ir.VectorType(scalar, lanes)
            i64 = ir.IntType(64)
            ia_, lda_, ib_, ldb_, ic_, ldc_, k_ = (
                context.cast(builder, args[j], sig.args[j], types.int64)
                for j in (1, 2, 4, 5, 7, 8, 9)
            )

            def base(j: int, offset: ir.Value) -> ir.Value:
                data = make_array(sig.args[j])(context, builder, args[j]).data
                return builder.gep(data, [offset])

            def at(ptr: ir.Value, row: ir.Value, v: int) -> ir.Value:
                where = builder.gep(ptr, [builder.add(row, ir.Constant(i64, v * lanes))])
                return builder.bitcast(where, vec.as_pointer())

            pa, pb, pc = base(0, ia_), base(3, ib_), base(6, ic_)
            fma_v = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec] * 3), _fma_name(dtype, lanes)
            )
            zero = ir.Constant(vec, [0.0] * lanes)
            lane0 = ir.Constant(ir.IntType(32), 0)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            c_rows = [builder.mul(ir.Constant(i64, i), ldc_) for i in range(rows)]
            init = [
                [
                    builder.select(args[10], zero, builder.load(at(pc, c_rows[i], v), align=4))
                    for v in range(vectors)
                ]
                for i in range(rows)
            ]
            entry = builder.block
            loop = builder.append_basic_block("tile.loop")
            out = builder.append_basic_block("tile.out")
            builder.branch(loop)
            builder.position_at_end(loop)
            p = builder.phi(i64)
            p.add_incoming(ir.Constant(i64, 0), entry)
            acc = [[builder.phi(vec) for _ in range(vectors)] for _ in range(rows)]
            for i in range(rows):
                for v in range(vectors):
                    acc[i][v].add_incoming(init[i][v], entry)
            row_b = builder.mul(p, ldb_)
            bs = [builder.load(at(pb, row_b, v), align=4) for v in range(vectors)]
            new = []
            for i in range(rows):
                where = builder.gep(pa, [builder.add(builder.mul(ir.Constant(i64, i), lda_), p)])
                one = builder.insert_element(ir.Constant(vec, None), builder.load(where), lane0)
                a_i = builder.shuffle_vector(one, ir.Constant(vec, None), splat)
                new.append([builder.call(fma_v, [a_i, bs[v], acc[i][v]]) for v in range(vectors)])
            nxt = builder.add(p, ir.Constant(i64, 1))
            end = builder.block
            p.add_incoming(nxt, end)
            for i in range(rows):
                for v in range(vectors):
                    acc[i][v].add_incoming(new[i][v], end)
            builder.cbranch(builder.icmp_signed("<", nxt, k_), loop, out)
            builder.position_at_end(out)
            for i in range(rows):
                for v in range(vectors):
                    builder.store(new[i][v], at(pc, c_rows[i], v), align=4)
            return context.get_dummy_value()

        return types.none(a, ia, lda, b, ib, ldb, c, ic, ldc, k, start), codegen

    typer.__name__ = f"tile_{rows}x{vectors}"
    return intrinsic(typer)


# Three tile heights, each ``VECTORS`` vectors wide: full tiles, half ones and single rows for
# the last rows of C.
TALL, HALF_TALL, ONE_ROW = _tile(ROWS, VECTORS), _tile(ROWS // 2, VECTORS), _tile(1, VECTORS)


@njit(cache=True, nogil=True)
def _block(r, a, ia, lda, b, ib, ldb, c, ic, ldc, k, start):
    """r rows of C (1 ≤ r ≤ ``ROWS``) at the given offsets: one full tile, or a half tile and
    single rows (three loops to compile, not one per height; a function of its own, so that its
    two callers in ``tile_product`` share one copy)."""
    if r == ROWS:
        TALL(a, ia, lda, b, ib, ldb, c, ic, ldc, k, start)
        return
    done = 0
    if r >= ROWS // 2:
        HALF_TALL(a, ia, lda, b, ib, ldb, c, ic, ldc, k, start)
        done = ROWS // 2
    for i in range(done, r):
        ONE_ROW(a, ia + i * lda, lda, b, ib, ldb, c, ic + i * ldc, ldc, k, start)


@njit(cache=True, nogil=True, inline="always")
def _width(itemsize):
    """Columns of a panel of B (``pack``): one tile's, ``VECTORS`` vectors."""
    return VECTORS * (VECTOR_BYTES // itemsize)


@njit(cache=True, nogil=True)
def packed_size(k, n, itemsize):
    """Elements ``pack`` writes for a (k, n) B, its last panel padded to a whole one, and room
    for one tile of C after them."""
    width = _width(itemsize)
    return k * ((n + width - 1) // width * width) + ROWS * width


@njit(cache=True, nogil=True)
def pack(B, out):
    """B (k, n) into ``out`` (``packed_size`` elements) as ``tile_product`` reads it: panels of
    ``VECTORS`` vectors of columns, each its k rows one after another, the last one padded with
    zero columns to the same width. A tile then reads its columns of B as one stream, where in
    B's own rows they would lie a row apart (rows of 2 KiB fall in the same few sets of the
    cache and evict each other)."""
    k, n = B.shape
    width = _width(B.itemsize)
    for j0 in range(0, n, width):
        w = min(width, n - j0)
        for p in range(k):
            at = j0 * k + p * width
            row = B[p]
            for j in range(w):
                out[at + j] = row[j0 + j]
            for j in range(w, width):
                out[at + j] = 0.0


@njit(cache=True, nogil=True)
def pack_t(W, out):
    """``pack`` of Wᵀ for W (n, k): the panels of the (k, n) operand Wᵀ, read from W."""
    pack(W.T, out)


def room_for(each: int, chunks: int) -> int:
    """Elements of a room from which ``share`` gives each of ``chunks`` threads ``each`` or
    more: every share rounded up to whole cache lines (``ALIGN``)."""
    return chunks * (-(-each // ALIGN) * ALIGN)


@njit(cache=True, nogil=True, inline="always")
def share(packed, c, chunks):
    """Thread c's share of a room cut in ``chunks`` shares of whole cache lines (``ALIGN``), as
    ``room_for`` sizes it."""
    size = packed.size // chunks // ALIGN * ALIGN
    return packed[c * size : (c + 1) * size]


@njit(cache=True, nogil=True)
def tile_product(A, packed, C):
    """C = A B for C-contiguous A (m, k) and C (m, n), B (k, n) as ``pack`` left it in
    ``packed``; one float dtype, C overwritten:

        for i, j:  C[i, j] = fma(A[i, k−1], B[k−1, j], … fma(A[i, 0], B[0, j], 0))

    Panel by panel, k in blocks of ``BLOCK_BYTES`` of the panel, tiles of up to ``ROWS`` rows
    inside. A last panel that reaches past n runs one tile at a time into the room after the
    panels, whose first columns then go to C."""
    m, k = A.shape
    n = C.shape[1]
    a, c = flat(A), flat(C)
    if k == 0:
        c[:] = 0.0
        return
    width = _width(A.itemsize)
    depth = max(1, BLOCK_BYTES // (width * A.itemsize))
    whole = n // width * width
    for j0 in range(0, whole, width):
        for p0 in range(0, k, depth):
            d = min(depth, k - p0)
            for i in range(0, m, ROWS):
                _block(min(ROWS, m - i), a, i * k + p0, k, packed, j0 * k + p0 * width, width,
                       c, i * n + j0, n, d, p0 == 0)  # fmt: skip
    if whole == n:
        return
    room = (whole + width) * k
    for i in range(0, m, ROWS):
        r = min(ROWS, m - i)
        for p0 in range(0, k, depth):
            d = min(depth, k - p0)
            _block(r, a, i * k + p0, k, packed, whole * k + p0 * width, width, packed, room,
                   width, d, p0 == 0)  # fmt: skip
        for ii in range(r):
            for j in range(n - whole):
                C[i + ii, whole + j] = packed[room + ii * width + j]
