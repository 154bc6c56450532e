"""metrics.jsonl: the epochs of metrics.csv as JSON records, each step's when asked, and a resume
that repeats no record."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.presets import get_preset
from engine.experiment.runs import METRIC_FIELDS, METRICS_JSONL, RunDir, train


def gaussians(epochs: int = 3) -> Experiment:
    """250 training rows in batches of 10: 25 steps an epoch."""
    return get_preset("gaussians").replace(train={"epochs": epochs})


def stop_after(steps: int) -> Callable[[], bool]:
    asked = [0]

    def stop() -> bool:
        asked[0] += 1
        return asked[0] >= steps

    return stop


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (path / METRICS_JSONL).read_text().splitlines()]


def same(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == b)


def check_epochs_match_csv(path: Path) -> None:
    csv_rows = RunDir.open(path).rows
    epochs = [r for r in records(path) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [row.epoch for row in csv_rows]
    for record, row in zip(epochs, csv_rows, strict=True):
        for name, value in asdict(row).items():
            assert same(record[name], value), (name, record[name], value)
    assert set(epochs[0]) == {"kind", *METRIC_FIELDS}


def test_every_epoch_is_a_record_equal_to_its_csv_row(tmp_path: Path) -> None:
    run = gaussians(3).build()
    rundir = RunDir.create(tmp_path / "run", run)
    outcome = train(run, rundir, save_every=0)
    assert outcome.epochs_done == 3
    check_epochs_match_csv(rundir.path)
    assert all(r["kind"] == "epoch" for r in records(rundir.path))  # steps only when asked


def test_with_log_steps_every_step_is_a_record(tmp_path: Path) -> None:
    run = gaussians(2).build()
    rundir = RunDir.create(tmp_path / "run", run)
    rundir.log_steps = True
    losses: list[float] = []
    outcome = train(run, rundir, lambda e: losses.append(getattr(e, "loss", math.nan)))
    steps = [r for r in records(rundir.path) if r["kind"] == "step"]
    assert [r["step"] for r in steps] == list(range(1, outcome.step + 1))
    assert outcome.step == 2 * 25
    assert [r["epoch"] for r in steps] == [1] * 25 + [2] * 25
    assert all(r["lr"] == run.experiment.train.lr for r in steps)
    step_losses = [x for x in losses if not math.isnan(x)][: outcome.step]
    assert [r["loss"] for r in steps] == pytest.approx(step_losses, rel=0, abs=0)
    # each epoch's record follows its last step
    kinds = [(r["kind"], r["step"]) for r in records(rundir.path)]
    assert kinds.index(("epoch", 25)) == kinds.index(("step", 25)) + 1
    check_epochs_match_csv(rundir.path)


def test_a_resume_repeats_no_record(tmp_path: Path) -> None:
    run = gaussians(3).build()
    rundir = RunDir.create(tmp_path / "run", run)
    rundir.log_steps = True
    first = train(run, rundir, stop=stop_after(40), save_every=0)  # mid-epoch 2
    assert first.reason == "interrupted" and first.step == 40
    again = RunDir.open(tmp_path / "run")
    again.log_steps = True
    outcome = train(again.build(), again, save_every=0)
    assert outcome.epochs_done == 3
    kept = records(again.path)
    steps = [r["step"] for r in kept if r["kind"] == "step"]
    assert steps == list(range(1, 3 * 25 + 1))
    assert [r["epoch"] for r in kept if r["kind"] == "epoch"] == [1, 2, 3]
    check_epochs_match_csv(again.path)


def test_records_a_crash_left_beyond_the_checkpoint_are_dropped(tmp_path: Path) -> None:
    run = gaussians(2).build()
    rundir = RunDir.create(tmp_path / "run", run)
    train(run, rundir, stop=stop_after(30), save_every=0)
    jsonl = tmp_path / "run" / METRICS_JSONL
    whole = jsonl.read_text()
    stray = {"kind": "epoch", **{k: 1.0 for k in METRIC_FIELDS}, "epoch": 2, "step": 50}
    jsonl.write_text(whole + json.dumps(stray) + "\n" + '{"kind": "ep')  # and a cut-off line
    again = RunDir.open(tmp_path / "run")
    assert jsonl.read_text().startswith(whole)  # opening changes nothing
    train(again.build(), again, save_every=0)
    assert [r["epoch"] for r in records(again.path)] == [1, 2]
    check_epochs_match_csv(again.path)


def test_a_run_from_before_metrics_jsonl_gets_its_epochs_on_resume(tmp_path: Path) -> None:
    run = gaussians(2).build()
    rundir = RunDir.create(tmp_path / "run", run)
    train(run, rundir, stop=stop_after(30), save_every=0)
    (tmp_path / "run" / METRICS_JSONL).unlink()
    again = RunDir.open(tmp_path / "run")
    train(again.build(), again, save_every=0)
    assert [r["epoch"] for r in records(again.path)] == [1, 2]
    check_epochs_match_csv(again.path)


def test_a_damaged_record_is_a_user_error_naming_the_file(tmp_path: Path) -> None:
    run = gaussians(1).build()
    rundir = RunDir.create(tmp_path / "run", run)
    train(run, rundir)
    (tmp_path / "run" / METRICS_JSONL).write_text("not json\n")
    with pytest.raises(UserError, match="metrics.jsonl is damaged"):
        RunDir.open(tmp_path / "run")
