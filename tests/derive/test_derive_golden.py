"""The XOR 2-2-1 derivation in every format, against reviewed golden files.

To accept a deliberate change, regenerate and review the diff::

    DLTUI_UPDATE_GOLDEN=1 pytest tests/derive/test_derive_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from derive_helpers import xor_net

from derive import Derivation, derive
from engine import optim

GOLDEN = Path(__file__).parent / "golden"
FILES = {
    "text": "xor_2_2_1.txt",
    "unicode": "xor_2_2_1.unicode.txt",
    "latex": "xor_2_2_1.tex",
    "markdown": "xor_2_2_1.md",
}


def golden_derivation() -> Derivation:
    """Fixed weights (seed 0), sample x = (0, 1), y = 1, SGD with momentum at step 4."""
    net = xor_net(seed=0)
    opt = optim.SGD(net, lr=0.5, momentum=0.9)
    opt.t = 3
    opt.state["momentum_buffer"][...] = np.random.default_rng(7).normal(0.0, 0.05, net.n_params)
    return derive(net, np.array([0.0, 1.0]), np.array([1.0]), "mse", "0.W[0,1]", optimizer=opt)


@pytest.mark.parametrize("fmt", list(FILES))
def test_xor_derivation_matches_its_golden_file(fmt: str) -> None:
    rendered = golden_derivation().render(fmt)
    path = GOLDEN / FILES[fmt]
    if os.environ.get("DLTUI_UPDATE_GOLDEN") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert rendered == path.read_text(encoding="utf-8")


def test_golden_derivation_is_the_engines_gradient() -> None:
    d = golden_derivation()
    net = xor_net(seed=0)
    net.loss_and_grad(np.array([0.0, 1.0]), np.array([1.0]), "mse")
    assert d.value == pytest.approx(float(net.grads["0.W"][0, 1]), abs=1e-15)
