"""``views.flat`` and ``views.mat``: the views ``reshape`` gives, at a fraction of its compile
time, sharing memory and keeping a read-only array read-only."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from engine.kernels.cpu.views import flat, mat


@njit(cache=False)
def _flat_sum_and_scale(a, out):
    f, o = flat(a), flat(out)
    s = 0.0
    for i in range(f.size):
        s += f[i]
        o[i] = 2.0 * f[i]
    return s


@njit(cache=False)
def _window(buf, offset, rows, cols):
    m = mat(buf, offset, rows, cols)
    m[0, 0] = -1.0
    return m.copy()


@njit(cache=False)
def _write_through_flat(a):
    flat(a)[0] = 42.0


def test_flat_is_reshape_minus_one_and_shares_memory() -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    out = np.zeros_like(a)
    assert _flat_sum_and_scale(a, out) == a.sum()
    np.testing.assert_array_equal(out, 2 * a)


def test_mat_views_a_window_of_a_flat_buffer() -> None:
    buf = np.arange(20.0)
    window = _window(buf, 5, 3, 4)
    expected = np.arange(20.0)[5:17].reshape(3, 4)
    expected[0, 0] = -1.0
    np.testing.assert_array_equal(window, expected)
    assert buf[5] == -1.0  # the view wrote into buf


def test_a_read_only_array_stays_read_only_through_flat() -> None:
    a = np.ones((2, 2))
    a.flags.writeable = False
    with pytest.raises(TypingError):
        _write_through_flat(a)


def test_flat_wants_a_c_contiguous_array() -> None:
    with pytest.raises(TypingError, match="C-contiguous"):
        _flat_sum_and_scale(np.asfortranarray(np.ones((2, 3))), np.ones((3, 2)).T)
