"""Random small networks: the derivation, the engine and SymPy's own ``diff`` give one number."""

from __future__ import annotations

import numpy as np
from derive_helpers import engine_grad, entries, target_for
from hypothesis import given, settings
from hypothesis import strategies as st

from derive import derive
from engine import Dense, Dropout, Sequential, Sigmoid
from engine.activations import activation
from engine.layers.activations import ACTIVATION_LAYERS

# every registered activation a gradient flows through (None: no activation)
ACTIVATIONS = [c for n, c in ACTIVATION_LAYERS.items() if activation(n).differentiable] + [None]
LOSSES = ["mse", "huber", "bce", "bce_logits", "cross_entropy"]


@st.composite
def cases(draw: st.DrawFn) -> tuple:
    loss = draw(st.sampled_from(LOSSES))
    widths = draw(st.lists(st.integers(1, 3), min_size=2, max_size=4))
    if loss == "cross_entropy":
        widths[-1] = max(widths[-1], 2)
    layers = []
    for i in range(len(widths) - 1):
        layers.append(Dense(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            act = draw(st.sampled_from(ACTIVATIONS))
            if act is not None:
                layers.append(act())
            if draw(st.booleans()) and draw(st.booleans()):
                layers.append(Dropout(0.4))
    if loss == "bce":
        layers.append(Sigmoid())
    net = Sequential(layers, seed=draw(st.integers(0, 10_000)), dtype="float64")
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    n = draw(st.integers(1, 3))
    x = rng.normal(size=(n, widths[0])) * 1.5
    y = target_for(loss, rng, n, widths[-1])
    l1, l2 = draw(st.sampled_from([(0.0, 0.0), (0.01, 0.0), (0.0, 0.03), (0.02, 0.01)]))
    param = draw(st.sampled_from(entries(net)))
    view = draw(st.sampled_from(["index", "vector"]))
    return net, x, y, loss, l1, l2, param, view, draw(st.integers(0, n - 1))


@settings(max_examples=25, deadline=None)
@given(cases())
def test_derivation_engine_and_sympy_diff_agree(case: tuple) -> None:
    net, x, y, loss, l1, l2, param, view, sample = case
    net.loss_and_grad(x, y, loss, l1, l2)  # also draws the dropout masks derive then reads
    d = derive(net, x, y, loss, param, view=view, sample=sample, l1=l1, l2=l2, direct=True)
    engine = engine_grad(net, param)
    assert d.check is not None
    assert abs(d.value - engine) < 1e-9
    assert abs(d.check.value - engine) < 1e-9
    assert abs(d.check.value - d.value) < 1e-9
