"""The fused kernel compiled for a network's own loss and activations: the same bits as the
kernel that holds them all, only those kernels compiled, and the result kept in the disk cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine import Dense, Sequential
from engine.activations import ACTIVATIONS
from engine.backends.fused import FusedStep, dense_groups
from engine.kernels.cpu import fused as cpu_fused
from engine.layers.activations import activation_layer

ROOT = Path(__file__).resolve().parent.parent.parent
DIFFERENTIABLE = [d.name for d in ACTIVATIONS.values() if d.differentiable and d.name != "identity"]


def _every_activation(dtype: str) -> Sequential:
    """A row of Dense layers with each differentiable activation once, and a linear output."""
    layers = []
    width = 3
    for i, name in enumerate(DIFFERENTIABLE):
        layers += [Dense(width, 4 + i % 2), activation_layer(name)]
        width = 4 + i % 2
    return Sequential([*layers, Dense(width, 3)], seed=5, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_kernel_for_a_networks_activations_gives_the_general_kernels_bits(dtype: str) -> None:
    """The backend's kernel, compiled for the loss and activations the network uses, against the
    same kernel called with plain integers, which compiles every loss and activation."""
    net = _every_activation(dtype)
    groups = dense_groups(net.layers)
    assert groups is not None and len({a.kind for _, a in groups if a}) == len(DIFFERENTIABLE)
    rng = np.random.default_rng(4)
    x = net.as_input(rng.normal(size=(7, 3)))
    labels = net.as_target(rng.integers(0, 3, 7), "cross_entropy", 7)
    step = FusedStep(net, groups, 7, "cross_entropy")
    value = step.run(x, labels)
    grad, out = net.grad.copy(), step.output.copy()
    w = step.workspace
    net.grad[:] = 0.0
    general = cpu_fused.mlp_loss_and_grad(
        x, step._no_y, labels, w.data, w.grad, w.ws, w.plan, w.alphas, w.spots,
        int(w.loss), float(w.huber_delta), int(w.kinds),
    )  # fmt: skip
    assert value == general
    np.testing.assert_array_equal(net.grad, grad)
    np.testing.assert_array_equal(step.output, out)
    layered = net.copy()
    layered.fuse = False
    ref = layered.loss_and_grad(x, labels, "cross_entropy")
    tol = {"float32": 1e-4, "float64": 1e-11}[dtype]
    assert value == pytest.approx(ref, rel=tol)
    np.testing.assert_allclose(grad, layered.grad, rtol=tol, atol=tol / 10)


_FIRST_STEP = """
import json, sys
import numpy as np
from numba.core import event

compiled = []

class Listener(event.Listener):
    def on_start(self, ev):
        pass

    def on_end(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)

event.register("numba:compile", Listener())
from engine import Dense, ReLU, Sequential
from engine.backends.fused import FusedStep, dense_groups

net = Sequential([Dense(3, 6), ReLU(), Dense(6, 2)], seed=0)
x = net.as_input(np.ones((4, 3)))
y = net.as_target(np.array([0, 1, 1, 0]), "cross_entropy", 4)
step = FusedStep(net, dense_groups(net.layers), 4, "cross_entropy")
value = step.run(x, y)
json.dump({"compiled": compiled, "value": value}, sys.stdout)
"""


def _first_step(cache: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_FIRST_STEP)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_an_empty_cache_compiles_only_the_networks_kernels_and_keeps_them(tmp_path: Path) -> None:
    """A ReLU network with cross-entropy compiles ReLU's and cross-entropy's kernels and none of
    the others; a second process loads the fused kernel from the disk cache."""
    first = _first_step(tmp_path)
    names = set(first["compiled"])
    assert {"mlp_loss_and_grad", "_relu_forward", "_relu_backward", "cross_entropy_loss"} <= names
    others = {"activation_forward", "activation_backward", "_tanh_forward", "_sigmoid_backward"}
    others |= {"mse_loss", "huber_loss", "bce_loss", "bce_logits_loss"}
    assert not names & others, f"compiled for no use: {sorted(names & others)}"
    second = _first_step(tmp_path)
    assert second["compiled"] == []
    assert second["value"] == first["value"]


_CALLEES_THEN_KERNEL = """
import json, sys
import numpy as np
from numba.core import event
from engine import Sequential, warmup
from engine.backends.fused import FusedStep, dense_groups

spec, loss = json.loads(sys.argv[1]), sys.argv[2]
warmup.warm_callees(spec, "float32", loss, "adam")  # what a second process compiles

compiled = []

class Listener(event.Listener):
    def on_start(self, ev):
        pass

    def on_end(self, ev):
        d = ev.data["dispatcher"]
        if type(d._cache).__name__ != "NullCache":  # a kernel of its own, cached on disk
            compiled.append(d.py_func.__qualname__)

event.register("numba:compile", Listener())
net = Sequential.from_spec(spec, seed=0, dtype="float32")
n = 4
x = net.as_input(np.ones((n, net.in_features)))
target = np.arange(n) % 2 if loss == "cross_entropy" else np.ones((n, net.widths()[-1]))
step = FusedStep(net, dense_groups(net.layers), n, loss)
step.run(x, net.as_target(target, loss, n))
json.dump(compiled, sys.stdout)
"""


@pytest.mark.parametrize(
    "acts,loss",
    [(["relu"], "cross_entropy"), (["tanh", "sigmoid"], "mse"), (DIFFERENTIABLE, "huber")],
    ids=["relu-cross_entropy", "tanh-sigmoid-mse", "every-huber"],
)
def test_the_callees_compiled_apart_leave_only_the_fused_kernel_to_compile(
    tmp_path: Path, acts: list[str], loss: str
) -> None:
    """``cpu_fused.callees`` names every cached kernel the fused kernel calls, with the types it
    calls them with: after ``warm_callees`` (a headless run's other process), compiling the
    fused kernel loads each of them from the cache and compiles only itself."""
    layers, width = [], 3
    for name in acts:
        layers += [Dense(width, 4), activation_layer(name)]
        width = 4
    spec = Sequential([*layers, Dense(width, 2)], seed=0).spec()
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_CALLEES_THEN_KERNEL), json.dumps(spec), loss],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=True,
    )  # fmt: skip
    compiled = json.loads(done.stdout.strip().splitlines()[-1])
    assert compiled == ["mlp_loss_and_grad"]
