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


def test_blas_to_one_and_back_restore_the_count() -> None:
    before = threads.blas_threads()
    if before is None:
        pytest.skip("this SciPy's BLAS is not OpenBLAS")
    try:
        threads.set_blas_threads(2)
        kept = threads.blas_to_one()
        assert kept == 2 and threads.blas_threads() == 1
        assert threads.blas_to_one() is None  # already on one: nothing to undo
        threads.blas_back(None)
        assert threads.blas_threads() == 1
        threads.blas_back(kept)
        assert threads.blas_threads() == 2
    finally:
        threads.set_blas_threads(before)


RUN = """
import os, sys
import engine
from numba.np.ufunc import parallel
print(os.environ.get("OMP_WAIT_POLICY"), parallel._is_initialized)
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "None True"), ({"OMP_WAIT_POLICY": "active"}, "active False")],
)
def test_openmp_policy_is_set_only_while_the_threading_layer_loads(
    env: dict[str, str], expected: str
) -> None:
    """``import engine`` loads Numba's threading layer with the passive wait policy and leaves
    the environment as it found it (a later OpenMP library keeps its defaults); a policy the
    user chose is left alone, and then nothing is loaded early."""
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    result = subprocess.run(
        [sys.executable, "-c", RUN], env={**clean, **env}, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert result.stdout.split("\n")[-2] == expected
