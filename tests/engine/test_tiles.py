"""Products in register tiles (``engine.kernels.cpu.tiles``) against NumPy: exact on integers,
within rounding on random values, and the same bits for a row whatever else the call holds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.kernels.cpu import tiles

DTYPES = [np.float32, np.float64]


GUARD = 64  # elements on each side of the room and of C that a call must leave as they were


def product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``tile_product`` of A and B, through ``pack``; the room and C start as NaN, so that a read
    of what was not written shows, and sit between guard elements that must stay untouched."""
    (m, k), n = A.shape, B.shape[1]
    size = tiles.packed_size(k, n, A.itemsize)
    room = np.full(size + 2 * GUARD, 7.0, A.dtype)
    packed = room[GUARD : GUARD + size]
    packed[:] = np.nan
    tiles.pack(B, packed)
    out = np.full(m * n + 2 * GUARD, 7.0, A.dtype)
    C = out[GUARD : GUARD + m * n].reshape(m, n)
    C[:] = np.nan
    tiles.tile_product(A, packed, C)
    for guarded in (room, out):
        assert (guarded[:GUARD] == 7.0).all() and (guarded[-GUARD:] == 7.0).all()
    return C


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 3, 4, 5, 9, 32])
@pytest.mark.parametrize("k", [1, 7, 128, 129, 300])
def test_exact_on_small_integers(dtype, m: int, k: int) -> None:
    """Integer operands keep every product and sum exact, so any misplaced element, row, panel
    or block of k shows as a difference: widths below, at and past a vector and a panel."""
    rng = np.random.default_rng(k * 100 + m)
    for n in (1, 5, 15, 16, 17, 33, 64, 65, 100, 130):
        A = rng.integers(-8, 9, (m, k)).astype(dtype)
        B = rng.integers(-8, 9, (k, n)).astype(dtype)
        np.testing.assert_array_equal(product(A, B), A @ B, err_msg=f"n = {n}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_random_values_within_rounding(dtype) -> None:
    rng = np.random.default_rng(3)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for m, k, n in ((32, 128, 512), (32, 512, 128), (7, 50, 200), (64, 256, 1024)):
        A, B = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        C = product(A.astype(dtype), B.astype(dtype))
        ref = A.astype(dtype).astype(np.float64) @ B.astype(dtype).astype(np.float64)
        assert np.abs(C - ref).max() <= tol * np.abs(ref).max()


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_row_has_the_same_bits_in_any_call(dtype) -> None:
    """Each element is one chain of multiply-adds in the order of k: a row's result does not
    depend on which tile it fell in, so a batch split in chunks gives the whole batch's bits."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((37, 300)).astype(dtype)
    B = rng.standard_normal((300, 130)).astype(dtype)
    whole = product(A, B)
    for lo, hi in ((0, 1), (1, 6), (5, 37), (13, 30)):
        np.testing.assert_array_equal(product(A[lo:hi], B), whole[lo:hi])


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_t_packs_the_transpose(dtype) -> None:
    rng = np.random.default_rng(5)
    W = rng.standard_normal((70, 20)).astype(dtype)  # Wᵀ: k = 20, n = 70
    size = tiles.packed_size(20, 70, W.itemsize)
    a, b = np.full(size, np.nan, dtype), np.full(size, np.nan, dtype)
    tiles.pack_t(W, a)
    tiles.pack(np.ascontiguousarray(W.T), b)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_dimensions(dtype) -> None:
    """No inner dimension gives zeros; no rows or no columns, an empty C."""
    C = product(np.empty((3, 0), dtype), np.empty((0, 5), dtype))
    np.testing.assert_array_equal(C, np.zeros((3, 5), dtype))
    assert product(np.empty((0, 4), dtype), np.ones((4, 5), dtype)).shape == (0, 5)
    assert product(np.ones((3, 4), dtype), np.empty((4, 0), dtype)).shape == (3, 0)


def test_tiles_take_what_fits_the_cache() -> None:
    """BLAS's packing pays for a B of several megabytes: the tiles take up to ``TILE_BYTES``."""
    assert tiles.suits(128, 512, 4) == tiles.TILES  # an LSTM of 128 units, float32
    assert not tiles.suits(512, 2048, 4)  # 512 units: 4 MiB


@pytest.mark.parametrize("each", [1, 16, 17, 1000])
@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_a_room_sized_by_room_for_gives_every_share_its_need_on_whole_lines(
    each: int, chunks: int
) -> None:
    from numba import njit

    room = np.zeros(tiles.room_for(each, chunks), np.float32)
    cut = njit(lambda r, c, n: tiles.share(r, c, n))
    for c in range(chunks):
        part = cut(room, c, chunks)
        assert part.size >= each
        assert (part.ctypes.data - room.ctypes.data) % (tiles.ALIGN * 4) == 0
