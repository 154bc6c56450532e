"""The benchmark suite: its reference implementations compute the engine's step, and it runs.

Nothing here asserts anything about time: the suite's numbers depend on the machine. What can
fail is whether the NumPy and PyTorch steps train the same network the same way as the engine
(otherwise the ratios compare different work), and whether the command runs and reports. The
per-workload tests are generated from the registry, so a new workload is checked without
touching this file.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import UserError
from tui.bench import impl_torch, probes, report, suite, workers, workloads
from tui.bench.deep import DeepNet
from tui.bench.impl_numpy import NumpyMLP
from tui.bench.mlp import MLP
from tui.bench.workers import IMPLEMENTATIONS, steps_for, timed_round
from tui.bench.workloads import StepWorkload

NO_TORCH = pytest.mark.skipif(impl_torch.available() is None, reason="PyTorch is not installed")
SMALL = {
    "t": MLP((3, 5, 4, 1), "tanh", "bce_logits", "sgd", 0.1, 6),
    "c": MLP((7, 6, 5, 3), "relu", "cross_entropy", "adam", 0.01, 9),
}
STEP_WORKLOADS = [w for w in workloads.registry().values() if isinstance(w, StepWorkload)]
REFERENCES = [
    pytest.param(w, impl, id=f"{w.name}-{impl}", marks=[NO_TORCH] if impl == "pytorch" else [])
    for w in STEP_WORKLOADS
    for impl in ("numpy", "pytorch")
    if impl in w.implementations()
]
DEEP = [w for w in STEP_WORKLOADS if isinstance(w.spec, DeepNet)]


def _engine_weights_after_steps(m: MLP, steps: int) -> tuple[np.ndarray, list[float]]:
    net = m.engine_net()
    step = m.engine_step(net=net)
    losses = [step() for _ in range(steps)]
    return np.array(net.data), losses


# ------------------------------------------------------------------------------- the registry


def test_registry_names_every_workload_once_with_what_the_suite_needs() -> None:
    registry = workloads.registry()
    assert list(registry) == list(workloads.names()) and len(registry) >= 2
    for name, w in registry.items():
        assert w.name == name and w.label
        impls = w.implementations()
        assert "engine" in impls and set(impls) <= set(IMPLEMENTATIONS), name
        if w.gemm_target is not None:  # the FLOP share needs the products counted
            assert w.matmul_flops, name


def test_an_unknown_workload_names_the_valid_ones() -> None:
    with pytest.raises(UserError) as info:
        workloads.select(["toy", "nosuch"])
    assert "nosuch" in info.value.message
    assert all(name in info.value.hint for name in workloads.names())
    assert [w.name for w in workloads.select(None)] == list(workloads.names())


@pytest.mark.parametrize("w", STEP_WORKLOADS, ids=lambda w: w.name)
def test_every_engine_step_trains_its_batch(w: StepWorkload) -> None:
    step = w.make_step("engine", "cpu")
    losses = [step() for _ in range(3)]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]


@pytest.mark.parametrize(("w", "impl"), REFERENCES)
def test_every_reference_step_trains_like_the_engine(w: StepWorkload, impl: str) -> None:
    """Same losses over three steps from the same weights and batch (float32)."""
    engine_step, other_step = w.make_step("engine", "cpu"), w.make_step(impl, "cpu")
    losses = [engine_step() for _ in range(3)]
    ref_losses = [other_step() for _ in range(3)]
    np.testing.assert_allclose(ref_losses, losses, rtol=1e-4)


# ------------------------------------------------------------------------------- the MLP steps


@pytest.mark.parametrize("m", SMALL.values(), ids=SMALL.keys())
def test_numpy_reference_trains_exactly_like_the_engine(m: MLP) -> None:
    data, losses = _engine_weights_after_steps(m, 3)
    model = NumpyMLP(m.initial_weights(), m.activation, m.loss, m.optimizer, m.lr)
    x, y = m.batch_data()
    ref_losses = [model.step(x, y) for _ in range(3)]
    flat = np.concatenate([p.ravel() for p in model.params])
    np.testing.assert_allclose(flat, data, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref_losses, losses, rtol=1e-5)


@NO_TORCH
@pytest.mark.parametrize("m", SMALL.values(), ids=SMALL.keys())
def test_pytorch_reference_trains_exactly_like_the_engine(m: MLP) -> None:
    data, losses = _engine_weights_after_steps(m, 3)
    step = m.torch_step()
    ref_losses = [step() for _ in range(3)]
    flat = np.concatenate([p.detach().numpy().ravel() for p in step.model.parameters()])
    np.testing.assert_allclose(flat, data, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref_losses, losses, rtol=1e-5)


def test_numpy_reference_refuses_what_it_cannot_compute() -> None:
    with pytest.raises(ValueError, match="relu"):
        NumpyMLP(SMALL["t"].initial_weights(), "sigmoid", "bce_logits", "sgd", 0.1)


def test_matmul_flops_count_every_product() -> None:
    m = MLP((4, 3, 2), "relu", "mse", "sgd", 0.1, 10)
    forward = 10 * (4 * 3 + 3 * 2)
    backward_w = forward
    backward_x = 10 * 3 * 2  # not for the first layer
    assert m.matmul_flops() == 2 * (forward + backward_w + backward_x)


class _Clock:
    """A clock that each step moves on by a fixed time: the count does not depend on load."""

    def __init__(self, per_step: float) -> None:
        self.now, self.per_step = 0.0, per_step

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.per_step


def test_steps_per_round_follow_the_step_time() -> None:
    slow, fast = _Clock(0.002), _Clock(1e-7)
    assert steps_for(slow.step, 0.02, clock=slow) == 10
    assert steps_for(fast.step, 0.001, clock=fast) == 10_000


def test_a_round_times_its_steps_after_the_lead_in() -> None:
    """The lead-in's steps run but are not timed: a step that is slow at first (a core waking
    up) counts only where the round begins without a lead-in."""
    clock = _Clock(0.0)
    calls = []

    def step() -> None:
        calls.append(1)
        clock.now += 0.01 if len(calls) <= 5 else 0.001  # five slow steps, then fast ones

    assert timed_round(step, 10, lead=0.0, clock=clock) == pytest.approx(0.0055)
    calls.clear()
    assert timed_round(step, 10, lead=0.045, clock=clock) == pytest.approx(0.001)
    assert len(calls) == 15  # five lead-in steps, ten timed


def test_engine_step_allocates_nothing_numpy_does() -> None:
    m = SMALL["c"]
    engine = probes.steady_state_memory(m.engine_step(), steps=10)
    numpy = probes.steady_state_memory(m.numpy_step(), steps=3)
    assert engine["step_bytes"] < 1024 and engine["retained_bytes"] < 4096
    assert numpy["step_bytes"] > 10 * engine["step_bytes"]


# ------------------------------------------------------------------------------- deep networks


@pytest.mark.parametrize("w", DEEP, ids=lambda w: w.name)
def test_the_deep_workloads_build_what_they_say(w: StepWorkload) -> None:
    spec: DeepNet = w.spec
    net = spec.engine_net()
    x, y = spec.batch_data()
    assert net.input_shape == spec.input_shape and net.output_shape[-1] == spec.classes
    places = math.prod(net.output_shape[:-1])  # a label per position for a sequence's outputs
    assert net.as_input(x).shape[0] == spec.batch and len(y) == spec.batch * places
    assert y.min() >= 0 and y.max() < spec.classes
    assert set(spec.torch_names) <= set(net.params)


@NO_TORCH
@pytest.mark.parametrize("w", DEEP, ids=lambda w: w.name)
def test_pytorch_trains_the_deep_workloads_like_the_engine(w: StepWorkload) -> None:
    """Same gradients at the start, then the same losses over three Adam steps (float32)."""
    spec: DeepNet = w.spec
    net = spec.engine_net()
    engine_step = spec.engine_step(net=net)
    torch_step = spec.torch_step()
    x, y = spec.batch_data()
    net._loss_and_grad(net.as_input(x), net.as_target(y, spec.loss, spec.batch), spec.loss, 0, 0)
    torch_step.loss_fn(torch_step.model(torch_step.x), torch_step.y).backward()
    theirs = dict(torch_step.model.named_parameters())
    assert sorted(spec.torch_names.values()) == sorted(theirs)
    for ours, name in spec.torch_names.items():
        # as a whole, not entry by entry: the transformer has a ReLU input within 1e-8 of 0, on
        # whose side float32's rounding decides, and that one unit's row of linear1 differs
        expected = theirs[name].grad.numpy()
        error = np.linalg.norm(net.grads[ours] - expected)
        assert error <= 1e-2 * np.linalg.norm(expected) + 1e-6, name
    losses = [engine_step() for _ in range(3)]
    ref_losses = [torch_step() for _ in range(3)]
    np.testing.assert_allclose(ref_losses, losses, rtol=1e-4)


# ------------------------------------------------------------------------------- the suite


@pytest.fixture(scope="module")
def quick_toy() -> dict:
    return suite.run_suite(quick=True, only=["toy"], use_torch=False, threads=True)


def test_quick_suite_reports_ratios_and_targets(quick_toy: dict) -> None:
    row = quick_toy["workloads"]["toy"]
    assert row["seconds"]["engine"] > 0 and row["vs_numpy"] > 0
    if quick_toy["machine"]["cores"] > 1:  # the engine also ran limited to one thread
        assert row["seconds"]["engine-1t"] > 0
    assert "vs_pytorch" not in row
    names = [t["name"] for t in quick_toy["targets"]]
    assert any(n.startswith("toy") for n in names)
    text, note = report.markdown(quick_toy), report.torch_note(quick_toy)
    assert "| toy |" in text and note is not None and note in text
    assert quick_toy["machine"]["cores"] >= 1
    assert isinstance(quick_toy["machine"]["openmp"], str)  # how the engine's threads waited
    assert "OpenMP wait" in report.machine_line(quick_toy["machine"])
    json.dumps(quick_toy)  # everything is plain data


def test_workers_start_one_after_another_and_none_outlives_a_failure(monkeypatch) -> None:
    """Each worker answers ``ready`` before the next starts; when one fails, those started
    are closed and the error goes on."""
    events: list[str] = []

    class Fake:
        def __init__(self, impl: str, device: str) -> None:
            self.impl = impl
            events.append(f"start {impl}")

        def ask(self, **command: object) -> dict:
            events.append(f"{command['cmd']} {self.impl}")
            if self.impl == "pytorch":
                raise workers.WorkerError("pytorch worker ended: no message")
            return {"ok": True, "openmp": "test"}

        def close(self) -> None:
            events.append(f"close {self.impl}")

    monkeypatch.setattr(suite, "Worker", Fake)
    mnist = workloads.select(["mnist-mlp"])
    started = suite.start_workers(mnist, "cpu", use_torch=False, one_thread=False)
    assert list(started) == ["engine", "numpy"] and started["engine"].openmp == "test"
    assert events == ["start engine", "ready engine", "start numpy", "ready numpy"]
    events.clear()
    with pytest.raises(workers.WorkerError):
        suite.start_workers(mnist, "cpu", use_torch=True, one_thread=False)
    assert events[-4:] == ["ready pytorch", "close engine", "close numpy", "close pytorch"]


def test_bench_command_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    out = tmp_path / "bench.json"
    argv = ["bench", "--quick", "--only", "toy", "--no-torch", "--no-threads", "--json", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["mode"] == "quick" and "toy" in data["workloads"]
    assert "toy" in capsys.readouterr().out
    assert main(["bench", "--json", str(tmp_path / "missing" / "x.json")]) == 2


def test_bench_command_rejects_an_unknown_workload(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    assert main(["bench", "--only", "toy", "--only", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "Traceback" not in err
    assert all(name in err for name in workloads.names())


WORKER_ORDER = """
import io, json, sys
from tui.bench import workers
sys.stdin = io.StringIO(json.dumps({"cmd": "setup", "workload": "toy", "warmup": 0.0,
                                    "seconds": 0.01}) + "\\n" + json.dumps({"cmd": "quit"}) + "\\n")
workers.serve("pytorch", "cpu")
names = list(sys.modules)
print("order", names.index("torch") < names.index("engine"))
"""


@NO_TORCH
def test_a_pytorch_worker_loads_pytorch_before_the_engine() -> None:
    """Both link ``libgomp.so.1``, and the first to load it sets OpenMP's wait policy for both:
    after the engine, PyTorch's threads would sleep between its regions and its times, which
    the engine's are compared with, would be 1.4 to 3 times too long."""
    result = subprocess.run(
        [sys.executable, "-c", WORKER_ORDER], capture_output=True, text=True, timeout=300
    )
    assert "order True" in result.stdout, result.stdout + result.stderr
