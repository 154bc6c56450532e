"""Setting the kernels' BLAS thread count while the process runs."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Dense, Sequential, threads


def test_blas_threads_can_be_set_and_read_back_and_products_stay_right() -> None:
    before = threads.blas_threads()
    if before is None:
        pytest.skip("this SciPy's BLAS is not OpenBLAS")
    net = Sequential([Dense(64, 64)], seed=0)
    x = np.random.default_rng(0).standard_normal((128, 64)).astype(np.float32)
    expected = net.forward(x).copy()
    try:
        assert threads.set_blas_threads(1)
        assert threads.blas_threads() == 1
        np.testing.assert_allclose(net.forward(x), expected, rtol=1e-6)
    finally:
        threads.set_blas_threads(before)
    assert threads.blas_threads() == before


def test_zero_threads_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        threads.set_blas_threads(0)
