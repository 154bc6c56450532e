"""Adding an activation to the engine's registry needs no change in ``derive``.

A subprocess registers a made-up activation (softplus) the way ``engine.activations`` defines
one, and a three-line layer class for it, before ``derive`` is imported; derive then prints it,
derives through it and checks its own chain rule against SymPy's ``diff`` of the whole loss.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import dataclasses
    import numpy as np
    from engine import activations as A
    sp_def = dataclasses.replace(
        A.ACTIVATIONS["sigmoid"], name="softplus", code=99, type_name="Softplus", symbol="softplus",
        latex=r"\\operatorname{softplus}", rule="softplus: log(1 + eᶻ)", rule_latex="softplus",
        prime_rule="derivative of softplus: σ(z)", prime_rule_latex="derivative of softplus",
        forward=lambda z, al: np.logaddexp(0.0, np.asarray(z, dtype=np.float64)),
        derivative=lambda z, a, al: 1 / (1 + np.exp(-np.asarray(z, dtype=np.float64))),
        sympy=lambda sp, z, al: sp.log(1 + sp.exp(z)),
        sympy_prime=lambda S, z, a, al: 1 / (1 + S.sp.exp(-z)),
    )
    A.ACTIVATIONS["softplus"] = sp_def
    A.BY_TYPE["Softplus"] = sp_def
    from engine.layers.activations import ACTIVATION_LAYERS, Activation

    class Softplus(Activation):
        type_name, function = "Softplus", "softplus"

    ACTIVATION_LAYERS["softplus"] = Softplus
    from engine import Dense, Sequential
    from derive import derive
    from derive.layers.derivations import derivation
    net = Sequential([Dense(2, 3), Softplus(), Dense(3, 1)], seed=0, dtype="float64")
    x, y = np.array([[0.3, -1.0], [1.2, 0.4]]), np.array([[0.5], [-0.5]])
    for view in ("index", "vector"):
        d = derive(net, x, y, "mse", "0.W[1,0]", view=view, direct=True)
        assert d.check.difference < 1e-12, d.check.difference
        assert "softplus(z¹₁)" in d.to_text() or view == "vector", d.to_text()
    assert derivation("Softplus").type_name == "Softplus"
    print("ok")
    """
)


def test_a_new_activation_is_derived_with_no_change_in_derive() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
