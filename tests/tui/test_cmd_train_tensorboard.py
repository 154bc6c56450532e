"""``dltui train --tensorboard``: event files that TensorBoard's own reader reads back, with the
numbers of metrics.csv and metrics.jsonl."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.events import Event, Step
from engine.experiment.presets import get_preset
from engine.experiment.runs import METRICS_JSONL, RunDir, train
from tui import cli
from tui.commands import train as train_cmd

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

STEPS_PER_EPOCH = 25  # gaussians: 250 rows in batches of 10


def dltui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def read_board(run: Path) -> Any:
    board = event_accumulator.EventAccumulator(
        str(run / "tb"), size_guidance={"scalars": 0, "histograms": 0}
    )
    board.Reload()
    return board


def scalars(board: Any, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in board.Scalars(tag)}


def test_scalars_and_histograms_read_back_equal_the_metrics(capsys, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _, err = dltui(
        capsys, "train", "--preset", "gaussians", "--epochs", "3", "--out", str(run),
        "--tensorboard", "--log-steps",
    )  # fmt: skip
    assert code == 0, err
    rows = RunDir.open(run).rows
    board = read_board(run)
    for field, tag in (("train_loss", "loss/train"), ("val_loss", "loss/val"),
                       ("train_acc", "accuracy/train"), ("val_acc", "accuracy/val"),
                       ("lr", "lr")):  # fmt: skip
        assert scalars(board, tag) == pytest.approx({r.step: getattr(r, field) for r in rows})
    steps = [json.loads(line) for line in (run / METRICS_JSONL).read_text().splitlines()]
    steps = [s for s in steps if s["kind"] == "step"]
    assert len(steps) == 3 * STEPS_PER_EPOCH
    assert scalars(board, "loss/step") == pytest.approx({s["step"]: s["loss"] for s in steps})
    tags = board.Tags()["histograms"]
    oracle = gradient_norms(tmp_path / "again")
    assert set(tags) == {f"grad_norm/{name}" for name in oracle}
    for name, norms in oracle.items():
        events = board.Histograms(f"grad_norm/{name}")
        assert [e.step for e in events] == [r.step for r in rows]
        for epoch, e in enumerate(events):
            assert e.histogram_value.num == STEPS_PER_EPOCH  # one norm per step of the epoch
            mine = norms[epoch * STEPS_PER_EPOCH : (epoch + 1) * STEPS_PER_EPOCH]
            assert e.histogram_value.sum == pytest.approx(sum(mine), rel=1e-5)
            assert e.histogram_value.max == pytest.approx(max(mine), rel=1e-5)


def gradient_norms(path: Path) -> dict[str, list[float]]:
    """The same run trained again through the engine, each parameter's gradient norm taken
    with NumPy after every step."""
    run = get_preset("gaussians").replace(train={"epochs": 3}).build()
    norms: dict[str, list[float]] = {name: [] for name in run.net.grads}

    def on_event(event: Event) -> None:
        if isinstance(event, Step):
            for name, values in norms.items():
                values.append(float(np.linalg.norm(run.net.grads[name].astype(np.float64))))

    train(run, RunDir.create(path, run), on_event)
    return norms


def test_a_resumed_run_repeats_no_event(capsys, monkeypatch, tmp_path: Path) -> None:
    run = tmp_path / "run"
    original = train_cmd._Display.on_event

    def on_event(self: train_cmd._Display, event: Event) -> None:
        original(self, event)
        if isinstance(event, Step) and event.step == 40:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(train_cmd._Display, "on_event", on_event)
    argv = ("--preset", "gaussians", "--epochs", "3", "--out", str(run), "--tensorboard")
    code, _, _ = dltui(capsys, "train", *argv)
    assert code == cli.EXIT_INTERRUPTED
    monkeypatch.setattr(train_cmd._Display, "on_event", original)
    code, _, err = dltui(capsys, "train", "--resume", str(run), "--tensorboard")
    assert code == 0, err
    board = read_board(run)
    train_steps = [e.step for e in board.Scalars("loss/train")]
    assert train_steps == [r.step for r in RunDir.open(run).rows] == [25, 50, 75]
    for event in board.Histograms("grad_norm/0.W"):
        assert event.histogram_value.num == STEPS_PER_EPOCH or event.step == 50


def test_without_tensorboardx_the_message_names_the_extra(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    run = tmp_path / "run"
    argv = ("--preset", "gaussians", "--epochs", "1", "--out", str(run), "--tensorboard")
    code, _, err = dltui(capsys, "train", *argv)
    assert code == 2
    assert 'pip install -e ".[tensorboard]"' in err
    assert not run.exists()


def test_tensorboardx_loads_only_when_asked() -> None:
    code = (
        "import sys, engine.experiment.runs, engine.experiment.tensorboard, tui.commands.train; "
        "print('tensorboardX' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_events_a_crash_left_beyond_the_checkpoint_are_superseded(tmp_path: Path) -> None:
    from engine.events import Epoch
    from engine.experiment.tensorboard import TensorBoardLog

    net = get_preset("gaussians").build().net

    def row(step: int, loss: float) -> Epoch:
        return Epoch(step // 25, step, loss, None, None, None, 0.0, 0.01)

    first = TensorBoardLog(tmp_path, net)
    for step, loss in ((25, 0.5), (50, 0.4), (75, 0.3)):  # the checkpoint stayed at step 25
        first.on_event(row(step, loss))
    first.close()
    resumed = TensorBoardLog(tmp_path, net, purge_step=25)
    for step, loss in ((50, 0.45), (75, 0.35)):
        resumed.on_event(row(step, loss))
    resumed.close()
    board = read_board(tmp_path)
    assert scalars(board, "loss/train") == pytest.approx({25: 0.5, 50: 0.45, 75: 0.35})
    assert len(board.Scalars("loss/train")) == 3
