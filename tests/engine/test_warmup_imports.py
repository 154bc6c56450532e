"""What a start imports: the modules the first frame needs, not the ones a later action needs.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    """The names in ``sys.modules`` once a fresh interpreter has run ``code``."""
    script = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(out.stdout.split())


def test_the_app_command_loads_neither_scipy_linalg_nor_the_network_stack() -> None:
    loaded = _modules_after("import tui.commands.app")
    assert "scipy.linalg.cython_blas" in loaded  # the BLAS the kernels call, and only that
    assert "scipy.linalg" not in loaded
    assert not {"urllib.request", "http.client", "ssl"} & loaded


def test_scipy_linalg_imported_later_shares_the_loaded_blas_module() -> None:
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import engine.kernels.cpu.blas\n"
        "early = sys.modules['scipy.linalg.cython_blas']\n"
        "import scipy.linalg\n"
        "from scipy.linalg import cython_blas\n"
        "assert cython_blas is early, 'scipy.linalg loaded a second copy of cython_blas'\n"
        "a = np.arange(6.0).reshape(2, 3)\n"
        "assert np.allclose(scipy.linalg.blas.dgemm(1.0, a, a.T), a @ a.T)\n"
    )
    assert "scipy.linalg" in _modules_after(code)
