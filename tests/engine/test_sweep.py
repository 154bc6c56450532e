"""Sweeps: grids and draws read and checked, points trained in local worker processes into run
folders identical to single runs, the summary, ``--resume`` and diverged or failed points."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest

import engine
from engine.errors import UserError
from engine.experiment.checkpoint import read_npz
from engine.experiment.config import Experiment
from engine.experiment.presets import get_preset
from engine.experiment.runs import CHECKPOINT, CONFIG, METRICS, RunDir, train
from engine.sweep import driver, folder
from engine.sweep.executors import LocalExecutor
from engine.sweep.grid import draw, make_points, parse_distributions, parse_grid
from engine.sweep.point import FINISHED_STATES, Point, PointTask, run_point
from engine.threads import blas_threads, set_blas_threads

EPOCHS = 60


def xor(epochs: int = EPOCHS) -> Experiment:
    return get_preset("xor").replace(train={"epochs": epochs})


# ---------------------------------------------------------------------- reading grids
def test_grid_values_are_read_as_toml_scalars_and_lists() -> None:
    base = get_preset("spiral")
    grid = parse_grid(
        [
            "train.lr=0.001,1e-2, 1",
            "train.optimizer=sgd,'adam'",
            "model.hidden=8x8,[16, 4],32,4-4",
            "train.augment_flip=true,false",
        ],
        base,
    )
    assert grid["train.lr"] == [0.001, 0.01, 1]
    assert grid["train.optimizer"] == ["sgd", "adam"]
    assert grid["model.hidden"] == [[8, 8], [16, 4], [32], [4, 4]]
    assert grid["train.augment_flip"] == [True, False]


@pytest.mark.parametrize(
    ("spec", "names", "fix"),
    [
        ("lr=0.1", "'lr' is not a config key", "section.key"),
        ("train.lrr=0.1", "no key 'lrr'", "the keys of [train]"),
        ("optim.lr=0.1", "'optim.lr' is not a config key", "data, model, train"),
        ("train.lr", "not KEY=VALUES", "--grid train.lr="),
        ("train.lr=0.1,,1", "a value is missing", "separate values with commas"),
        ("train.lr=", "a value is missing", "separate values with commas"),
    ],
)
def test_a_bad_grid_spec_names_the_key_and_the_fix(spec: str, names: str, fix: str) -> None:
    with pytest.raises(UserError) as info:
        parse_grid([spec], xor())
    assert names in info.value.message
    assert fix in info.value.hint


@pytest.mark.parametrize(
    ("grid", "names", "fix"),
    [
        ({"train.lr": ["abc"]}, "train.lr=abc", "a number"),
        ({"train.optimizer": ["adamm"]}, "optimizer = 'adamm'", "adam"),
        ({"data.bogus": [1]}, "'bogus'", "options for xor-gate"),
        ({"model.hidden": [[0]]}, "hidden", ""),
    ],
)
def test_a_value_the_experiment_refuses_stops_every_point_before_a_run(
    grid: dict, names: str, fix: str
) -> None:
    with pytest.raises(UserError) as info:
        make_points(xor(), grid)
    assert names in info.value.message
    assert fix in info.value.hint


def test_conflicting_sweeps_are_refused() -> None:
    with pytest.raises(UserError, match="train.seed"):
        make_points(xor(), {"train.seed": [1, 2]}, seeds=2)
    with pytest.raises(UserError, match="both in the grid"):
        make_points(xor(), {"train.lr": [1]}, random={"n": 2, "train.lr": "uniform(0,1)"})
    with pytest.raises(UserError, match="--random N"):
        make_points(xor(), {}, random={"train.lr": "uniform(0,1)"})
    with pytest.raises(UserError, match="seeds"):
        make_points(xor(), {"train.lr": [1]}, seeds=0)


@pytest.mark.parametrize(
    "spec",
    ["train.lr=loguniform(0,1)", "train.lr=uniform(1,0)", "train.lr=normal(0,1)", "train.lr=2"],
)
def test_a_bad_distribution_is_refused(spec: str) -> None:
    with pytest.raises(UserError, match="train.lr"):
        parse_distributions([spec], xor())


def test_random_draws_are_fixed_and_inside_their_bounds() -> None:
    base = xor()
    dists = parse_distributions(
        ["train.lr=loguniform(1e-4,1)", "train.optimizer=choice(sgd,adam)"], base
    )
    first, again = draw(dists, 50, base), draw(dists, 50, base)
    assert first == again
    rates = [d["train.lr"] for d in first]
    assert all(1e-4 <= r <= 1 for r in rates)
    # log-uniform: about as many draws in each decade (50 draws over 4 decades)
    decades = np.histogram(np.log10(rates), bins=4, range=(-4, 0))[0]
    assert decades.min() >= 5
    assert {d["train.optimizer"] for d in first} == {"sgd", "adam"}


def test_points_cross_the_grid_the_draws_and_the_seeds() -> None:
    points = make_points(
        xor(),
        {"train.lr": [0.5, 2.0], "train.optimizer": ["sgd", "adam"]},
        seeds=3,
        random={"n": 2, "train.momentum": "uniform(0, 0.9)"},
    )
    assert len(points) == 2 * 2 * 2 * 3
    ids = [p.id for p, _ in points]
    assert ids == [f"p{i:03d}" for i in range(24)]
    assert len({p.name for p, _ in points}) == 24
    first, exp = points[0]
    assert first.name.startswith("p000-lr0.5-sgd-momentum")
    assert first.name.endswith("-s0")
    assert exp.train.lr == 0.5 and exp.train.optimizer == "sgd" and exp.train.seed == 0
    assert exp.train.momentum == first.values["train.momentum"]
    # one seed: the config's own is kept, and not swept
    (single, single_exp), *_ = make_points(xor(), {"train.lr": [0.5]})
    assert "train.seed" not in single.values
    assert single_exp.train.seed == xor().train.seed


# ---------------------------------------------------------------------- one point
def test_a_point_that_cannot_run_is_a_failed_result() -> None:
    config = xor().to_dict()
    config["data"] = {"name": "no-such-set"}
    result = run_point(PointTask(Point("p000", {}, "p000"), config))
    assert result.state == "failed"
    assert "no-such-set" in result.error
    assert result.files == {}


# ---------------------------------------------------------------------- a whole sweep
GRID: dict[str, list[Any]] = {"train.lr": [0.5, 2.0], "train.optimizer": ["sgd", "adam"]}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """4 points × 2 seeds of xor on two local worker processes."""
    out = tmp_path_factory.mktemp("sweep") / "xor"
    records = engine.sweep(xor(), GRID, seeds=2, workers=2, out=out)
    return out, records


def test_a_sweep_writes_a_run_folder_per_point_and_a_summary(
    swept: tuple[Path, list[dict]],
) -> None:
    out, records = swept
    assert [r["id"] for r in records] == [f"p{i:03d}" for i in range(8)]
    assert all(r["state"] == "done" and r["epochs"] == EPOCHS for r in records)
    for rec in records:
        rundir = RunDir.open(out / rec["name"])
        assert rundir.epochs_done == EPOCHS
        assert rundir.experiment.train.lr == rec["values"]["train.lr"]
        assert rundir.experiment.train.seed == rec["values"]["train.seed"]
        last = rundir.rows[-1]
        assert rec["final"]["train_loss"] == last.train_loss
        assert rec["final"]["test_loss"] == last.val_loss  # no validation split: the test set's
        assert rec["best"]["test_loss"] == min(row.val_loss or math.inf for row in rundir.rows)
    summary = json.loads((out / folder.SUMMARY_JSON).read_text())
    assert summary["points"] == records
    plan = json.loads((out / folder.PLAN).read_text())
    assert summary["sweep"] == plan
    assert plan["seeds"] == 2 and plan["grid"] == GRID and len(plan["points"]) == 8
    rows = list(csv.DictReader((out / folder.SUMMARY_CSV).open()))
    assert [row["name"] for row in rows] == [r["name"] for r in records]
    assert rows[3]["train.optimizer"] == records[3]["values"]["train.optimizer"]
    assert float(rows[3]["final_train_loss"]) == records[3]["final"]["train_loss"]


def test_each_point_has_the_weights_of_a_single_run_on_one_thread(
    swept: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    out, records = swept
    threads, blas = numba.get_num_threads(), blas_threads()
    numba.set_num_threads(1)
    set_blas_threads(1)
    try:
        for rec in records:
            experiment = Experiment.from_toml(out / rec["name"] / CONFIG)
            run = experiment.build()
            rundir = RunDir.create(tmp_path / rec["name"], run)
            train(run, rundir)
            swept_arrays, _ = read_npz(out / rec["name"] / CHECKPOINT)
            single_arrays, _ = read_npz(rundir.checkpoint_path)
            assert np.array_equal(swept_arrays["data"], single_arrays["data"]), rec["name"]
    finally:
        numba.set_num_threads(threads)
        if blas is not None:
            set_blas_threads(blas)


def test_resume_runs_only_the_points_not_finished(
    swept: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    source, records = swept
    out = tmp_path / "copy"
    shutil.copytree(source, out)
    gone = records[5]
    shutil.rmtree(out / gone["name"])
    summary = json.loads((out / folder.SUMMARY_JSON).read_text())
    summary["points"] = [r for r in summary["points"] if r["id"] != gone["id"]]
    (out / folder.SUMMARY_JSON).write_text(json.dumps(summary))
    plan, kept = driver.plan_from_folder(out)
    assert len(kept) == 7
    ran: list[dict] = []
    resumed = driver.run(plan, out, LocalExecutor(1), kept, ran.append)
    assert [r["id"] for r in ran] == [gone["id"]]
    assert len(resumed) == 8
    again, _ = read_npz(out / gone["name"] / CHECKPOINT)
    before, _ = read_npz(source / gone["name"] / CHECKPOINT)
    assert np.array_equal(again["data"], before["data"])
    assert (out / gone["name"] / METRICS).read_text().count("\n") == EPOCHS + 1


def test_a_diverged_point_is_a_result_with_its_run_folder(tmp_path: Path) -> None:
    base = xor(30).replace(model={"output": "none"})
    records = engine.sweep(base, {"train.lr": [0.5, 1e3]}, workers=1, out=tmp_path / "d")
    assert [r["state"] for r in records] == ["done", "diverged"]
    diverged = records[1]
    assert diverged["state"] in FINISHED_STATES
    assert diverged["epochs"] < 30
    assert RunDir.open(tmp_path / "d" / diverged["name"]).finished == "diverged"
    # a non-finite figure is written as None, so summary.json stays standard JSON
    text = (tmp_path / "d" / folder.SUMMARY_JSON).read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert all(v is None or math.isfinite(v) for v in diverged["final"].values())


def test_a_new_sweep_never_writes_over_another(swept: tuple[Path, list[dict]]) -> None:
    out, _ = swept
    with pytest.raises(UserError, match="already holds a sweep") as info:
        engine.sweep(xor(), GRID, out=out)
    assert "--resume" in info.value.hint


def test_a_point_whose_worker_dies_runs_again_to_the_same_weights(
    swept: tuple[Path, list[dict]],
) -> None:
    out, records = swept
    rec = records[0]
    point = Point(rec["id"], rec["values"], rec["name"])
    config = Experiment.from_toml(out / rec["name"] / CONFIG).to_dict()
    executor = LocalExecutor(1)
    killed: list[int] = []

    def kill_first_worker() -> None:
        while not killed:
            busy = list(executor._busy)
            if busy:
                busy[0].proc.kill()
                killed.append(busy[0].proc.pid)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    try:
        (result,) = list(executor.map_unordered([PointTask(point, config)]))
    finally:
        executor.close()
    killer.join(timeout=5)
    assert killed
    assert result.state == "done"
    arrays, _ = read_npz(out / rec["name"] / CHECKPOINT)
    again = np.load(io.BytesIO(result.files[CHECKPOINT]))
    assert np.array_equal(arrays["data"], again["data"])


def test_a_script_that_sweeps_at_its_top_level_runs_as_written(tmp_path: Path) -> None:
    script = tmp_path / "sweep_lr.py"
    script.write_text(
        "import engine\n"
        "records = engine.sweep('xor', {'train.lr': [0.5, 2.0]}, workers=2, out='s')\n"
        "print([r['state'] for r in records])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(engine.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "['done', 'done']" in done.stdout
