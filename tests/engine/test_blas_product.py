"""``blas.product`` against ``np.dot``: the same BLAS calls, so the same bits.

``product`` replaces ``np.dot`` inside the kernels only to save compile time on a first start;
every layout, transposition, dtype and shape class ``np.dot`` treats differently (a matrix, a
row or column vector, a single number, an empty product) must give bit-identical results.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from engine.kernels.cpu.blas import product


@njit(cache=False)
def _by_dot(a, ta, b, tb, c):
    if ta and tb:
        np.dot(a.T, b.T, c)
    elif ta:
        np.dot(a.T, b, c)
    elif tb:
        np.dot(a, b.T, c)
    else:
        np.dot(a, b, c)


@njit(cache=False)
def _by_product(a, ta, b, tb, c):
    if ta and tb:
        product(a, True, b, True, c)
    elif ta:
        product(a, True, b, False, c)
    elif tb:
        product(a, False, b, True, c)
    else:
        product(a, False, b, False, c)


SHAPES = [(6, 9, 4), (33, 65, 17), (1, 7, 5), (5, 7, 1), (1, 7, 1), (1, 1, 1), (0, 3, 2), (3, 0, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("ta,tb", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("fortran", [False, True])
def test_product_gives_the_bits_of_np_dot(dtype, m, k, n, ta, tb, fortran) -> None:
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.normal(size=(k, m) if ta else (m, k)).astype(dtype)
    b = rng.normal(size=(n, k) if tb else (k, n)).astype(dtype)
    if fortran:  # contiguous the other way round, as a transposed view passed in would be
        a, b = np.asfortranarray(a), np.asfortranarray(b)
    expected, got = np.full((m, n), 7.0, dtype), np.full((m, n), -7.0, dtype)
    _by_dot(a, ta, b, tb, expected)
    _by_product(a, ta, b, tb, got)
    assert np.array_equal(got, expected)
    reference = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-5)


def test_product_wants_constant_transpositions_and_contiguous_matrices() -> None:
    @njit(cache=False)
    def runtime_flag(a, flag):
        product(a, flag, a, False, a)

    @njit(cache=False)
    def strided(a, c):
        product(a[:, ::2], False, a, False, c)

    @njit(cache=False)
    def plain(a, b, c):
        product(a, False, b, False, c)

    a = np.ones((2, 2))
    with pytest.raises(TypingError, match="constants True or False"):
        runtime_flag(a, True)
    with pytest.raises(TypingError, match="contiguous"):
        strided(np.ones((2, 4)), a)
    with pytest.raises(TypingError, match="all float32 or all float64"):
        plain(a.astype(np.float32), a, a)


@pytest.mark.parametrize(
    "a,b,c", [((2, 3), (4, 5), (2, 5)), ((2, 3), (3, 5), (2, 4)), ((2, 3), (3, 5), (3, 5))]
)
def test_shapes_that_do_not_fit_raise_instead_of_reading_past_an_array(a, b, c) -> None:
    with pytest.raises(ValueError, match="does not fit c"):
        _by_product(np.ones(a), False, np.ones(b), False, np.zeros(c))
