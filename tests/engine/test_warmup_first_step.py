"""A first start compiles only the run's first step; the rest fills the cache in the background.

The markers live beside Numba's cache; these tests point them at a fresh folder, so each starts
from "nothing warmed yet" whatever the machine's own cache holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numba
import numpy as np
import pytest

from engine import warmup
from engine.events import Step
from engine.experiment.presets import get_preset

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def markers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Markers go to an empty folder (the kernels themselves stay in the session's cache)."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path), raising=False)
    return tmp_path


def test_the_first_step_compiles_on_a_copy_and_leaves_the_run_as_built(markers: Path) -> None:
    run = get_preset("spiral").build()
    weights, slots = run.net.data.copy(), {k: v.copy() for k, v in run.optimizer.state.items()}
    said: list[str] = []
    warmup.warm_first_step(run, said.append)
    assert np.array_equal(run.net.data, weights)
    assert all(np.array_equal(run.optimizer.state[k], v) for k, v in slots.items())
    assert run.trainer.step == 0 and run.trainer.epoch == 0 and run.optimizer.t == 0
    assert said == ["float32 · bce_logits · Adam"]
    assert run.net.fuse is False  # the fused kernel is not cached yet: the layer path meanwhile
    assert warmup.first_step_cached(run)
    assert not warmup.kernels_cached()


def _fused_marker(run) -> Path:
    key = warmup.fused_key(run.net, run.trainer.loss)
    assert key is not None
    return warmup._fused_marker(key)


def test_the_first_step_keeps_the_fused_path_once_everything_is_cached(markers: Path) -> None:
    warmup._marker().touch()
    run = get_preset("spiral").build()
    _fused_marker(run).touch()
    warmup.warm_first_step(run)
    assert run.net.fuse is True


def test_the_network_returns_to_the_fused_kernel_once_it_is_cached(markers: Path) -> None:
    run = get_preset("spiral").build()
    warmup.warm_first_step(run)
    assert warmup.use_fused_when_ready(run.net) is False and run.net.fuse is False
    warmup._marker().touch()
    assert warmup.use_fused_when_ready(run.net) is False  # its own fused kernel is not there yet
    _fused_marker(run).touch()
    assert warmup.use_fused_when_ready(run.net) is True and run.net.fuse is True


def test_each_fused_kernel_is_waited_for_on_its_own(markers: Path) -> None:
    """The full warm-up compiles the tanh networks' fused kernels: a ReLU network, or another
    loss, trains layer by layer until its own is cached, instead of compiling it mid-step."""
    warmup._marker().touch()
    spiral, digits = get_preset("spiral").build(), get_preset("digits").build()
    _fused_marker(spiral).touch()
    assert warmup.fused_key(spiral.net, "bce_logits") != warmup.fused_key(digits.net, "bce_logits")
    assert warmup.fused_key(digits.net, "mse") != warmup.fused_key(digits.net, "cross_entropy")
    assert not warmup.defer_fused(spiral.net, spiral.trainer.loss) and spiral.net.fuse
    assert warmup.defer_fused(digits.net, digits.trainer.loss) and not digits.net.fuse
    assert not warmup.use_fused_when_ready(digits.net)
    _fused_marker(digits).touch()
    assert warmup.use_fused_when_ready(digits.net) and digits.net.fuse


def test_networks_without_a_fused_kernel_have_no_key() -> None:
    lstm = get_preset("lstm-sine").build()
    assert warmup.fused_key(lstm.net, lstm.trainer.loss) is None
    assert warmup.fused_cached(lstm.net, lstm.trainer.loss)
    digits = get_preset("digits").build()
    assert warmup.fused_key(digits.net, "perceptron") is None  # its rule takes the layer path


def test_a_network_kept_off_the_fused_kernel_on_purpose_stays_off(markers: Path) -> None:
    """Only what the warm-up switched is switched back: ``net.fuse = False`` chosen by a user
    (or a network the fused kernel does not fit) is left alone."""
    run = get_preset("spiral").build()
    run.net.fuse = False
    warmup.warm_first_step(run)
    warmup._marker().touch()
    assert warmup.use_fused_when_ready(run.net) is True and run.net.fuse is False


def test_a_copy_trains_on_the_same_path() -> None:
    net = get_preset("spiral").build().net
    net.fuse = False
    assert net.copy().fuse is False


def test_switching_paths_mid_run_gives_the_numbers_of_a_run_fused_throughout() -> None:
    """The app trains a cold start's first steps layer by layer, then switches to the fused
    kernel: the losses match a run that used the fused kernel from its first step."""
    fused, switched = (get_preset("spiral").build() for _ in range(2))
    switched.net.fuse = False
    losses: list[list[float]] = [[], []]
    for run, seen in zip((fused, switched), losses, strict=True):
        X, y = run.data.X_train[:200], run.data.y_train[:200]
        for event in run.trainer.run(X, y, epochs=2):
            if isinstance(event, Step):
                seen.append(event.loss)
                run.net.fuse = run.net.fuse or event.step == 25
    assert len(losses[0]) == 40 and switched.net.fuse
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_each_kind_of_network_has_its_own_first_step_marker(markers: Path) -> None:
    """The full warm-up covers Dense stacks only: a recurrent network needs its own step."""
    mlp, lstm = get_preset("spiral").build(), get_preset("lstm-sine").build()
    warmup._marker().touch()
    _fused_marker(mlp).touch()
    assert warmup.first_step_cached(mlp)
    assert not warmup.first_step_cached(lstm)
    assert warmup._first_step_marker(mlp) != warmup._first_step_marker(lstm)


def test_no_background_warm_up_once_cached_or_without_a_cache_folder(
    markers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warmup, "_BACKGROUND", {})
    warmup._marker().touch()
    assert warmup.start_background() is None
    missing = markers / "missing" / "numba"
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(missing), raising=False)
    assert not warmup.kernels_cached()
    assert warmup.start_background() is None  # nowhere to keep its work


def test_the_background_process_compiles_the_backward_kernels_first(tmp_path: Path) -> None:
    """``python -m engine.warmup DTYPE OPTIMIZER`` as start_background runs it; the full warm-up
    is marked done here, so the process compiles only what it compiles first."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    marker = subprocess.run(
        [sys.executable, "-c", "from engine import warmup; print(warmup._marker())"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    Path(marker).touch()
    subprocess.run(
        [sys.executable, "-m", "engine.warmup", "float64", "adam"],
        env=env, capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    cached = {path.name.split(".")[1].rsplit("-", 1)[0] for path in tmp_path.rglob("*.nbi")}
    assert {"_relu_backward", "_tanh_backward", "dense_backward", "adam_step"} <= cached, cached
    assert "mlp_loss_and_grad" not in cached


def test_the_background_process_compiles_the_networks_fused_kernel(tmp_path: Path) -> None:
    """Given a loss and a network's layers, the process compiles that network's fused kernel
    (whole batch and split) and marks it, so the app can leave the layer path."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    run = get_preset("digits").build()
    key = warmup.fused_key(run.net, "cross_entropy")
    where = "from engine import warmup; print(warmup._marker()); print(warmup._fused_marker(%r))"
    full, fused = subprocess.run(
        [sys.executable, "-c", where % key],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    Path(full).touch()
    spec = json.dumps(run.net.spec())
    subprocess.run(
        [sys.executable, "-m", "engine.warmup", "float32", "adam", "cross_entropy", spec],
        env=env, capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    cached = {path.name.split(".")[1].rsplit("-", 1)[0] for path in tmp_path.rglob("*.nbi")}
    assert {"mlp_loss_and_grad", "mlp_loss_and_grad_chunks"} <= cached, cached
    assert Path(fused).exists()


def test_one_background_warm_up_per_process(markers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line starts it before the interface loads; the warm-up screen asks again."""
    started: list[list[str]] = []

    class Process:
        def __init__(self, args: list[str], **_kwargs: object) -> None:
            started.append(args)

    monkeypatch.setattr(warmup, "_BACKGROUND", {})
    monkeypatch.setattr(warmup.subprocess, "Popen", Process)
    first = warmup.start_background("float64", "sgd")
    assert warmup.start_background("float32", "adam") is first
    assert started == [[sys.executable, "-m", "engine.warmup", "float64", "sgd"]]
    # a network whose fused kernel the running warm-up was not given gets a process of its own
    run = get_preset("digits").build()
    second = warmup.start_background("float32", "adam", run.net, "cross_entropy")
    assert second is not first
    assert started[1][3:] == ["float32", "adam", "cross_entropy", json.dumps(run.net.spec())]
    assert warmup.start_background("float32", "adam", run.net, "cross_entropy") is second
    assert len(started) == 2


def test_a_second_background_warm_up_waits_for_the_first(
    markers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app started again while the last one's full warm-up still runs: the new process
    compiles its own network's fused kernel at once, then waits for the full warm-up instead of
    compiling it beside the other, and finds it done."""
    import fcntl

    calls: list[str] = []
    monkeypatch.setattr(warmup.os, "nice", lambda _n: 0)
    monkeypatch.setattr(warmup, "backward_first", lambda *_a: calls.append("backward"))
    monkeypatch.setattr(warmup, "warm_fused", lambda *_a: calls.append("fused"))
    monkeypatch.setattr(warmup, "_one_step", lambda *_a, **_k: calls.append("full"))
    monkeypatch.setattr(warmup, "_activation_kernels", lambda *_a: None)
    monkeypatch.setattr(warmup, "_parallel_twins", lambda *_a: None)
    spec = json.dumps(get_preset("digits").build().net.spec())
    args = ["float32", "adam", "cross_entropy", spec]
    second = threading.Thread(target=warmup.background, args=(args,), daemon=True)
    fd = os.open(markers / warmup.WARM_LOCK, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the first process, mid-way through the full warm-up
        second.start()
        second.join(1.0)
        assert second.is_alive() and calls == ["backward", "fused"]
        warmup._marker().touch()  # the first one finishes
    finally:
        os.close(fd)
    second.join(10)
    assert not second.is_alive()
    assert calls == ["backward", "fused"]  # the full warm-up is not run a second time


def test_a_fused_kernel_another_process_compiles_is_waited_for_not_compiled_again(
    markers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    compiled: list[str] = []
    monkeypatch.setattr(warmup, "_compile_fused", lambda _net, key, _loss: compiled.append(key))
    run = get_preset("digits").build()
    key = warmup.fused_key(run.net, "cross_entropy")
    args = (run.net.spec(), "float32", "cross_entropy")
    waiting = threading.Thread(target=warmup.warm_fused, args=args, daemon=True)
    fd = os.open(markers / f"dltui-fused-{key}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another process, compiling this kernel
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive() and compiled == []
        assert key is not None
        warmup._fused_marker(key).touch()  # it finishes
    finally:
        os.close(fd)
    waiting.join(10)
    assert not waiting.is_alive() and compiled == []
    warmup._fused_marker(key).unlink()
    warmup.warm_fused(*args)  # with nobody else at it: compiled here
    assert compiled == [key]


def test_a_headless_runs_background_process_marks_its_fused_kernel(
    markers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dltui train`` compiles its fused kernel itself; the process it starts compiles the
    callees, the rest, and at last marks that kernel, so later starts find it cached and start
    no process for it."""
    run = get_preset("digits").build()
    loss = run.trainer.loss
    calls: list[str] = []
    monkeypatch.setattr(warmup.os, "nice", lambda increment: 0)  # this process keeps its place
    monkeypatch.setattr(warmup, "warm_callees", lambda *a: calls.append("callees"))
    monkeypatch.setattr(warmup, "backward_first", lambda *a: calls.append("backward"))
    monkeypatch.setattr(
        warmup, "_warm_all", lambda *a: calls.append("all") or warmup._mark(warmup._marker())
    )
    assert not warmup.fused_cached(run.net, loss)
    argv = ["float32", "adam", loss, json.dumps(run.net.spec()), "callees"]
    warmup.background(argv)
    assert calls == ["callees", "backward", "all"]
    assert warmup.fused_cached(run.net, loss)
    assert warmup.start_background("float32", "adam", run.net, loss, fused_here=True) is None
