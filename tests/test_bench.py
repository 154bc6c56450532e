"""The benchmark suite: its reference implementations compute the engine's step, and it runs.

Nothing here asserts anything about time: the suite's numbers depend on the machine. What can
fail is whether the NumPy and PyTorch steps train the same network the same way as the engine
(otherwise the ratios compare different work), and whether the command runs and reports.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tui.bench import impl_engine, impl_numpy, impl_torch, probes, report, suite
from tui.bench.deep import DEEP_WORKLOADS
from tui.bench.workers import steps_for
from tui.bench.workloads import WORKLOADS, Workload

SMALL = [
    Workload("t", (3, 5, 4, 1), "tanh", "bce_logits", "sgd", 0.1, 6),
    Workload("c", (7, 6, 5, 3), "relu", "cross_entropy", "adam", 0.01, 9),
]


def _engine_weights_after_steps(w: Workload, steps: int) -> list[np.ndarray]:
    net = impl_engine.build_net(w)
    step = impl_engine.make_step(w, net=net)
    losses = [step() for _ in range(steps)]
    return [np.array(net.data)], losses


@pytest.mark.parametrize("w", SMALL, ids=lambda w: w.name)
def test_numpy_reference_trains_exactly_like_the_engine(w: Workload) -> None:
    (data,), losses = _engine_weights_after_steps(w, 3)
    model = impl_numpy.NumpyMLP(
        impl_engine.initial_weights(w), w.activation, w.loss, w.optimizer, w.lr
    )
    x, y = w.batch_data()
    ref_losses = [model.step(x, y) for _ in range(3)]
    flat = np.concatenate([p.ravel() for p in model.params])
    np.testing.assert_allclose(flat, data, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref_losses, losses, rtol=1e-5)


@pytest.mark.skipif(impl_torch.available() is None, reason="PyTorch is not installed")
@pytest.mark.parametrize("w", SMALL, ids=lambda w: w.name)
def test_pytorch_reference_trains_exactly_like_the_engine(w: Workload) -> None:
    (data,), losses = _engine_weights_after_steps(w, 3)
    step = impl_torch.make_step(w, impl_engine.initial_weights(w))
    ref_losses = [step() for _ in range(3)]
    flat = np.concatenate([p.detach().numpy().ravel() for p in step.model.parameters()])
    np.testing.assert_allclose(flat, data, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ref_losses, losses, rtol=1e-5)


def test_matmul_flops_count_every_product() -> None:
    w = Workload("x", (4, 3, 2), "relu", "mse", "sgd", 0.1, 10)
    forward = 10 * (4 * 3 + 3 * 2)
    backward_w = forward
    backward_x = 10 * 3 * 2  # not for the first layer
    assert w.matmul_flops() == 2 * (forward + backward_w + backward_x)
    assert set(WORKLOADS) == {"toy", "mnist-mlp", "wide"}


def test_steps_per_round_follow_the_step_time() -> None:
    assert steps_for(lambda: time.sleep(0.002), 0.02) in range(4, 16)
    assert steps_for(lambda: None, 0.001) > 100


def test_engine_step_allocates_nothing_numpy_does() -> None:
    w = SMALL[1]
    engine = probes.steady_state_memory(impl_engine.make_step(w), steps=10)
    model = impl_numpy.NumpyMLP(
        impl_engine.initial_weights(w), w.activation, w.loss, w.optimizer, w.lr
    )
    x, y = w.batch_data()
    numpy = probes.steady_state_memory(lambda: model.step(x, y), steps=3)
    assert engine["step_bytes"] < 1024 and engine["retained_bytes"] < 4096
    assert numpy["step_bytes"] > 10 * engine["step_bytes"]


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
    text = report.markdown(quick_toy)
    assert "| toy |" in text and report.torch_note(quick_toy) in text
    assert quick_toy["machine"]["cores"] >= 1
    json.dumps(quick_toy)  # everything is plain data


def test_bench_command_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    out = tmp_path / "bench.json"
    argv = ["bench", "--quick", "--only", "toy", "--no-torch", "--no-threads", "--json", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["mode"] == "quick" and "toy" in data["workloads"]
    assert "toy" in capsys.readouterr().out
    assert main(["bench", "--json", str(tmp_path / "missing" / "x.json")]) == 2


@pytest.mark.skipif(impl_torch.available() is None, reason="PyTorch is not installed")
@pytest.mark.parametrize("name", sorted(DEEP_WORKLOADS))
def test_pytorch_trains_the_deep_workloads_like_the_engine(name: str) -> None:
    """Same gradients at the start, then the same losses over three Adam steps (float32)."""
    w = DEEP_WORKLOADS[name]
    net = w.engine_net()
    engine_step = impl_engine.make_step(w, net=net)
    torch_step = impl_torch.deep_step(w)
    x, y = w.batch_data()
    net._loss_and_grad(net.as_input(x), net.as_target(y, w.loss, w.batch), w.loss, 0.0, 0.0)
    torch_step.loss_fn(torch_step.model(torch_step.x), torch_step.y).backward()
    theirs = dict(torch_step.model.named_parameters())
    assert sorted(w.torch_names().values()) == sorted(theirs)
    for ours, name in w.torch_names().items():
        expected = theirs[name].grad.numpy()
        np.testing.assert_allclose(net.grads[ours], expected, rtol=1e-3, atol=1e-6, err_msg=name)
    losses = [engine_step() for _ in range(3)]
    ref_losses = [torch_step() for _ in range(3)]
    np.testing.assert_allclose(ref_losses, losses, rtol=1e-4)


def test_the_deep_workloads_build_what_they_say() -> None:
    lenet, lstm = DEEP_WORKLOADS["lenet"].engine_net(), DEEP_WORKLOADS["lstm"].engine_net()
    assert lenet.input_shape == (1, 28, 28) and lenet.output_shape == (10,)
    assert lstm.input_shape == (32, 32) and lstm.layers[0].hidden == 128
    x, y = DEEP_WORKLOADS["lstm"].batch_data()
    assert x.shape == (64, 32 * 32) and y.max() < 10
