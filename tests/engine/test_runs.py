"""Run folders: saving, opening, and resuming a stopped run to the same weights, bit for bit."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from engine.errors import UserError
from engine.events import Epoch, Event, Step
from engine.experiment.config import Experiment, Run
from engine.experiment.presets import get_preset
from engine.experiment.runs import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    RunDir,
    default_path,
    stop_on_sigint,
    train,
)
from engine.network import Sequential


def gaussians(epochs: int = 3) -> Experiment:
    """250 training rows in batches of 10: 25 steps an epoch, Adam."""
    return get_preset("gaussians").replace(train={"epochs": epochs})


def with_dropout(epochs: int = 3) -> Experiment:
    """36 steps an epoch, the last one short; dropout draws from the network's generator."""
    return Experiment.from_dict(
        {
            "name": "drop",
            "data": {"name": "moons", "n": 500, "noise": 0.1},
            "model": {"hidden": [8, 8], "activation": "relu", "dropout": 0.2},
            "train": {"optimizer": "rmsprop", "momentum": 0.5, "batch_size": 7, "epochs": epochs},
        }
    )


def stop_after(steps: int) -> Callable[[], bool]:
    """A ``stop`` callable that says yes once it has been asked ``steps`` times."""
    asked = [0]

    def stop() -> bool:
        asked[0] += 1
        return asked[0] >= steps

    return stop


def interrupt_after(steps: int) -> Callable[[Event], None]:
    """An ``on_event`` hook that raises KeyboardInterrupt at the ``steps``-th Step, as Ctrl-C."""
    seen = [0]

    def hook(event: Event) -> None:
        if isinstance(event, Step):
            seen[0] += 1
            if seen[0] == steps:
                raise KeyboardInterrupt

    return hook


def uninterrupted(exp: Experiment, path: Path) -> Run:
    run = exp.build()
    outcome = train(run, RunDir.create(path, run))
    assert outcome.reason == "epochs"
    return run


def comparable(rows: list[Epoch]) -> list[tuple]:
    """A row without its timing, which differs from run to run."""
    return [(r.epoch, r.step, r.train_loss, r.train_acc, r.val_loss, r.val_acc) for r in rows]


@pytest.mark.parametrize("make", [gaussians, with_dropout])
@pytest.mark.parametrize("how", ["stop", "keyboard_interrupt"])
def test_resumed_run_ends_with_the_same_weights(make, how, tmp_path: Path) -> None:
    whole = uninterrupted(make(), tmp_path / "whole")
    run = make().build()
    rundir = RunDir.create(tmp_path / "parts", run)
    for cut in (37, 9):  # mid-epoch 2, then again a little later
        if how == "stop":
            outcome = train(run, rundir, stop=stop_after(cut))
        else:
            outcome = train(run, rundir, on_event=interrupt_after(cut))
        assert outcome.reason == "interrupted"
        assert rundir.finished == "interrupted"
        rundir = RunDir.open(rundir.path)
        run = rundir.build()
    assert rundir.epochs_done == 1 and run.trainer.step == 46
    outcome = train(run, rundir)
    assert outcome.reason == "epochs" and outcome.epochs_done == 3
    assert run.trainer.step == whole.trainer.step
    assert np.array_equal(run.net.data, whole.net.data)
    assert comparable(RunDir.open(rundir.path).rows) == comparable(
        RunDir.open(tmp_path / "whole").rows
    )


def test_more_epochs_continue_a_finished_run_exactly(tmp_path: Path) -> None:
    whole = uninterrupted(gaussians(4), tmp_path / "whole")
    uninterrupted(gaussians(2), tmp_path / "short")
    rundir = RunDir.open(tmp_path / "short")
    run = rundir.build()
    assert train(run, rundir).reason == "complete"
    rundir.set_epochs(run, 4)
    assert "epochs = 2" in (tmp_path / "short" / CONFIG).read_text()  # not before training
    assert train(run, rundir).epochs_done == 4
    assert "epochs = 4" in (tmp_path / "short" / CONFIG).read_text()
    assert np.array_equal(run.net.data, whole.net.data)


def test_folder_holds_config_metrics_and_a_loadable_checkpoint(tmp_path: Path) -> None:
    run = uninterrupted(gaussians(2), tmp_path / "run")
    assert Experiment.from_toml(tmp_path / "run" / CONFIG).to_dict() == run.experiment.to_dict()
    lines = (tmp_path / "run" / METRICS).read_text().splitlines()
    assert (
        lines[0] == "epoch,step,train_loss,train_acc,val_loss,val_acc,seconds,lr,test_loss,test_acc"
    )
    assert [line.split(",")[:2] for line in lines[1:]] == [["1", "25"], ["2", "50"]]
    net = Sequential.load(tmp_path / "run" / CHECKPOINT)
    assert np.array_equal(net.data, run.net.data)
    meta = RunDir.open(tmp_path / "run").meta
    assert meta["format"] == "dltui-run" and meta["epochs_target"] == 2
    assert meta["layers"] == run.net.spec()


@pytest.mark.parametrize(("save_every", "on_disk"), [(0.0, [1, 2, 3]), (1e9, [1, 1, 1])])
def test_checkpoint_is_written_at_epoch_ends(save_every, on_disk, tmp_path: Path) -> None:
    run = gaussians().build()
    rundir = RunDir.create(tmp_path / "run", run)
    seen: list[int] = []

    def hook(event: Event) -> None:
        if isinstance(event, Epoch):
            seen.append(RunDir.open(rundir.path).epochs_done)

    train(run, rundir, on_event=hook, save_every=save_every)
    assert seen == on_disk
    assert RunDir.open(rundir.path).epochs_done == 3  # the end is always saved


def test_rows_newer_than_the_checkpoint_are_dropped(tmp_path: Path) -> None:
    uninterrupted(gaussians(2), tmp_path / "run")
    metrics = tmp_path / "run" / METRICS
    metrics.write_text(metrics.read_text() + "3,75,0.1,0.9,0.1,0.9,0.01,0.03,,\n")
    assert [row.epoch for row in RunDir.open(tmp_path / "run").rows] == [1, 2]


def test_diverged_run_saves_its_last_state(tmp_path: Path) -> None:
    exp = get_preset("plane").replace(train={"lr": 1000.0, "optimizer": "sgd"})
    run = exp.build()
    outcome = train(run, RunDir.create(tmp_path / "run", run))
    assert outcome.reason == "diverged" and outcome.diverged is not None
    reopened = RunDir.open(tmp_path / "run")
    assert reopened.finished == "diverged"
    assert np.all(np.isfinite(reopened.build().net.data))


def test_create_refuses_to_overwrite_a_run(tmp_path: Path) -> None:
    uninterrupted(gaussians(1), tmp_path / "run")
    with pytest.raises(UserError, match="already holds a run"):
        RunDir.create(tmp_path / "run", gaussians(1).build())


def test_open_names_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        RunDir.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no config.toml"):
        RunDir.open(tmp_path / "empty")
    run = uninterrupted(gaussians(1), tmp_path / "run")
    (tmp_path / "run" / CHECKPOINT).write_bytes(b"not a zip file at all")
    with pytest.raises(UserError, match="checkpoint.*cannot be read") as info:
        RunDir.open(tmp_path / "run")
    assert "not a dltui .npz file" in info.value.message  # not NumPy's "load it unsafely"
    assert "pickle" not in info.value.message
    run.net.save(tmp_path / "run" / CHECKPOINT)  # a network, not a run
    with pytest.raises(UserError, match="not a run checkpoint"):
        RunDir.open(tmp_path / "run")


def test_resume_refuses_a_config_that_changed_what_was_trained(tmp_path: Path) -> None:
    uninterrupted(gaussians(1), tmp_path / "run")
    config = tmp_path / "run" / CONFIG
    original = config.read_text()
    config.write_text(original.replace("seed = 0", "seed = 5"))
    with pytest.raises(UserError, match=r"\[train\] seed is 5"):
        RunDir.open(tmp_path / "run").build()
    config.write_text(original.replace("hidden = [2]", "hidden = [3]"))
    with pytest.raises(UserError, match=r"\[model\] hidden"):
        RunDir.open(tmp_path / "run").build()
    config.write_text(original.replace("lr = 0.03", "lr = 0.003"))  # allowed
    assert RunDir.open(tmp_path / "run").build().optimizer.lr == pytest.approx(0.003)


def test_default_path_is_named_and_unique(tmp_path: Path) -> None:
    now = datetime(2025, 1, 2, 3, 4, 5)
    first = default_path("my config", tmp_path, now)
    assert first == tmp_path / "my-config-20250102-030405"
    first.mkdir()
    assert default_path("my config", tmp_path, now).name == "my-config-20250102-030405-2"


def test_a_long_or_odd_experiment_name_still_makes_a_usable_folder(tmp_path: Path) -> None:
    now = datetime(2025, 1, 2, 3, 4, 5)
    path = default_path("x" * 300 + "/../../etc", tmp_path, now)
    assert path.parent == tmp_path and len(path.name) <= 64 + 16
    path.mkdir()


def test_first_ctrl_c_asks_to_stop_and_the_second_interrupts() -> None:
    before = signal.getsignal(signal.SIGINT)
    with stop_on_sigint() as stop:
        assert not stop.is_set()
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


def test_early_stopped_run_is_complete(tmp_path: Path) -> None:
    run = get_preset("gaussians").replace(train={"patience": 1, "epochs": 50}).build()
    outcome = train(run, RunDir.create(tmp_path / "run", run))
    assert outcome.reason == "early_stopping" and outcome.epochs_done < 50
    rundir = RunDir.open(tmp_path / "run")
    assert train(rundir.build(), rundir).reason == "complete"


def test_damaged_metrics_are_named(tmp_path: Path) -> None:
    uninterrupted(gaussians(1), tmp_path / "run")
    (tmp_path / "run" / METRICS).write_text("epoch,step\n1,oops\n")
    with pytest.raises(UserError, match="metrics.csv is damaged"):
        RunDir.open(tmp_path / "run")
