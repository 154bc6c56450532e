"""Test setup for the layer-registry tests: this folder on ``sys.path``, for ``layer_cases`` and
``torch_helpers`` (the suite imports test modules by path, not as a package)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
