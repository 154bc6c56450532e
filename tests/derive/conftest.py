"""Test setup for the derive tests: this folder on ``sys.path``, for ``derive_helpers``.

pytest runs with ``--import-mode=importlib``, which adds no test folder to the path.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
