"""Damaged run folders: every bad value a checkpoint or metrics.csv can hold is a UserError
naming the file, never a crash, a traceback or training on garbage (issue 12: 1, 2, 9, 11)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.errors import UserError
from engine.experiment.checkpoint import read_npz, write_npz
from engine.experiment.config import Experiment
from engine.experiment.fingerprint import KEY
from engine.experiment.presets import get_preset
from engine.experiment.runs import CHECKPOINT, CONFIG, METRICS, RunDir, train

Arrays = dict[str, np.ndarray]
Meta = dict[str, Any]


def stop_after(steps: int) -> Callable[[], bool]:
    asked = [0]

    def stop() -> bool:
        asked[0] += 1
        return asked[0] >= steps

    return stop


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gaussians run (Adam, 25 steps an epoch) stopped mid-epoch 2: the order is saved."""
    path = tmp_path_factory.mktemp("stopped") / "run"
    run = get_preset("gaussians").replace(train={"epochs": 3}).build()
    assert train(run, RunDir.create(path, run), stop=stop_after(30)).reason == "interrupted"
    return path


def damaged_copy(src: Path, dst: Path, edit: Callable[[Arrays, Meta], None]) -> Path:
    """``src`` copied to ``dst``, its checkpoint edited as one would with NumPy."""
    dst.mkdir()
    for name in (CONFIG, METRICS):
        (dst / name).write_bytes((src / name).read_bytes())
    arrays, meta = read_npz(src / CHECKPOINT)
    edit(arrays, meta)
    write_npz(dst / CHECKPOINT, arrays, meta)
    return dst


def set_array(
    name: str, value: Callable[[np.ndarray], np.ndarray]
) -> Callable[[Arrays, Meta], None]:
    def edit(arrays: Arrays, meta: Meta) -> None:
        arrays[name] = value(arrays[name])

    return edit


def set_trainer(key: str, value: object) -> Callable[[Arrays, Meta], None]:
    def edit(arrays: Arrays, meta: Meta) -> None:
        meta["trainer"][key] = value

    return edit


DAMAGES: dict[str, Callable[[Arrays, Meta], None]] = {
    "order cut to 3": set_array("order", lambda o: o[:3]),
    "order holds 10**7": set_array("order", lambda o: np.where(o == 0, 10**7, o)),
    "order holds -10**6": set_array("order", lambda o: np.where(o == 0, -(10**6), o)),
    "order repeats a sample": set_array("order", lambda o: np.where(o == 0, 1, o)),
    "order of floats": set_array("order", lambda o: o.astype(np.float64)),
    "order 2-D": set_array("order", lambda o: o.reshape(-1, 1)),
    "order complex": set_array("order", lambda o: o.astype(np.complex128)),
    "cursor -1": set_trainer("cursor", -1),
    "cursor past the epoch": set_trainer("cursor", 10**6),
    "cursor a float": set_trainer("cursor", 2.5),
    "step a string": set_trainer("step", "many"),
    "epoch negative": set_trainer("epoch", -3),
    "opt_t missing": lambda arrays, meta: meta["trainer"].__delitem__("opt_t"),
    "sums a string": set_trainer("sums", "x"),
    "best_val a string": set_trainer("best_val", "low"),
    "rng damaged": set_trainer("rng", {"bit_generator": "PCG64", "state": 5}),
    "adam buffer cut": set_array("opt.exp_avg", lambda a: a[:3]),
    "adam buffer NaN": set_array("opt.exp_avg", lambda a: np.full_like(a, np.nan)),
    "adam buffer of ints": set_array("opt.exp_avg_sq", lambda a: a.astype(np.int64)),
    "adam buffer missing": lambda arrays, meta: arrays.__delitem__("opt.exp_avg"),
    "weights complex": set_array("data", lambda a: a.astype(np.complex64)),
    "weights infinite": set_array("data", lambda a: np.full_like(a, np.inf)),
    "net_rng cut": lambda arrays, meta: meta.__setitem__("net_rng", []),
    "epochs_done a string": lambda arrays, meta: meta.__setitem__("epochs_done", "2"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_checkpoint_is_a_user_error_naming_it(
    damage: str, stopped: Path, tmp_path: Path
) -> None:
    run_dir = damaged_copy(stopped, tmp_path / "run", DAMAGES[damage])
    with pytest.raises(UserError) as info:
        RunDir.open(run_dir).build()
    assert str(run_dir / CHECKPOINT) in info.value.message
    assert "--out" in info.value.hint or "dltui train" in info.value.hint


def test_undamaged_copy_resumes(stopped: Path, tmp_path: Path) -> None:
    """The check above fails for the damage, not for the copying."""
    run_dir = damaged_copy(stopped, tmp_path / "run", lambda arrays, meta: None)
    run = RunDir.open(run_dir).build()
    assert run.trainer.step == 30


def test_cli_resume_of_a_cut_order_exits_2_without_a_crash(stopped: Path, tmp_path: Path) -> None:
    """The reproduction of the report: a child process, since a bad index could kill it."""
    run_dir = damaged_copy(stopped, tmp_path / "run", DAMAGES["order cut to 3"])
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "train", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "order holds 3 sample indices" in done.stdout + done.stderr


# ---------------------------------------------------------------------- item 2: changed data
def csv_run(tmp_path: Path, rows: int) -> tuple[Path, Path]:
    table = tmp_path / "table.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(rows)))
    exp = Experiment.from_dict(
        {
            "name": "table",
            "data": {"name": f"csv:{table}"},
            "model": {"hidden": [4]},
            "train": {"epochs": 3, "batch_size": 10},
        }
    )
    run = exp.build()
    path = tmp_path / "run"
    assert train(run, RunDir.create(path, run), stop=stop_after(12)).reason == "interrupted"
    return table, path


def test_resume_on_fewer_rows_names_the_change(tmp_path: Path) -> None:
    table, path = csv_run(tmp_path, 200)
    table.write_text("\n".join(table.read_text().splitlines()[:51]) + "\n")
    with pytest.raises(UserError, match=r"train data .* changed .* had 160 rows, it has 40 now"):
        RunDir.open(path).build()


def test_resume_on_other_values_names_the_hash(tmp_path: Path) -> None:
    table, path = csv_run(tmp_path, 200)
    table.write_text(table.read_text().replace("3,3,1\n", "3,4,1\n"))
    with pytest.raises(UserError, match="SHA-256 differs") as info:
        RunDir.open(path).build()
    assert "--out" in info.value.hint


def test_folder_without_a_fingerprint_still_resumes(tmp_path: Path) -> None:
    """A run folder from before fingerprints: no check possible, it resumes as before."""
    _, path = csv_run(tmp_path, 200)
    arrays, meta = read_npz(path / CHECKPOINT)
    del meta[KEY]
    write_npz(path / CHECKPOINT, arrays, meta)
    rundir = RunDir.open(path)
    assert rundir.data_fingerprint is None
    assert train(rundir.build(), rundir).reason == "epochs"
    assert KEY in RunDir.open(path).meta  # and it has one from then on


# ---------------------------------------------------------------------- item 9: atomic folder
KILL_DURING_CREATE = """
import os, signal, sys
import engine.experiment.runs as runs
from engine.experiment.presets import get_preset

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

runs.write_npz = killed  # config.toml and metrics.csv are written, the checkpoint is next
run = get_preset("xor").build()
runs.RunDir.create(sys.argv[1], run)
"""


def test_sigkill_while_creating_leaves_no_half_made_run(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "xor"
    script = textwrap.dedent(KILL_DURING_CREATE)
    done = subprocess.run([sys.executable, "-c", script, str(target)], timeout=120)
    assert done.returncode == -9
    assert not target.exists()  # no config.toml without its checkpoint
    leftovers = list((tmp_path / "runs").iterdir())
    assert [p.name.startswith(".xor.") for p in leftovers] == [True]  # a hidden sibling
    run = get_preset("xor").build()
    RunDir.create(target, run)  # the same --out works at once
    assert RunDir.open(target).epochs_done == 0


def test_half_made_folder_is_named_and_can_be_created_over(tmp_path: Path) -> None:
    """A folder left by an older dltui: config.toml and metrics.csv, no checkpoint."""
    target = tmp_path / "run"
    target.mkdir()
    (target / CONFIG).write_text(get_preset("xor").to_toml())
    (target / METRICS).write_text("epoch,step\n")
    with pytest.raises(UserError, match="stopped while being created") as info:
        RunDir.open(target)
    assert f"--out {target}" in info.value.hint
    run = get_preset("xor").build()
    RunDir.create(target, run)
    assert RunDir.open(target).rows == []


def test_create_into_an_empty_folder_uses_it(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    run = get_preset("xor").build()
    RunDir.create(tmp_path / "run", run)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ---------------------------------------------------------------------- item 11 and 12: metrics
def xor_run(tmp_path: Path, epochs: int) -> RunDir:
    run = get_preset("xor").replace(train={"epochs": epochs}).build()
    rundir = RunDir.create(tmp_path / "run", run)
    train(run, rundir, save_every=0.0)
    return RunDir.open(rundir.path)


def test_metrics_are_appended_not_rewritten(tmp_path: Path) -> None:
    rundir = xor_run(tmp_path, 3)
    before = rundir.metrics_path.read_bytes()
    inode = rundir.metrics_path.stat().st_ino
    run = rundir.build()
    rundir.set_epochs(run, 6)
    train(run, rundir, save_every=0.0)
    after = rundir.metrics_path.read_bytes()
    assert after.startswith(before) and rundir.metrics_path.stat().st_ino == inode
    assert [row.epoch for row in RunDir.open(rundir.path).rows] == [1, 2, 3, 4, 5, 6]


def test_a_torn_last_line_is_dropped_and_overwritten(tmp_path: Path) -> None:
    """A crash mid-append leaves half a row: the file still loads, and resuming repairs it."""
    rundir = xor_run(tmp_path, 2)
    with rundir.metrics_path.open("a") as fh:
        fh.write("3,3,0.2")  # no newline: the append was cut short
    rundir = RunDir.open(rundir.path)
    assert [row.epoch for row in rundir.rows] == [1, 2]
    run = rundir.build()
    rundir.set_epochs(run, 4)
    train(run, rundir)
    lines = rundir.metrics_path.read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]


@pytest.mark.parametrize(
    "text", ["", "epoch,step,train_loss,train_acc,val_loss,val_acc,seconds,lr\n"]
)
def test_emptied_metrics_are_refused_and_deleting_them_recovers(tmp_path: Path, text: str) -> None:
    rundir = xor_run(tmp_path, 2)
    rundir.metrics_path.write_text(text)
    with pytest.raises(UserError, match="holds no rows.*trained 2 epochs") as info:
        RunDir.open(rundir.path)
    assert "delete it" in info.value.hint
    rundir.metrics_path.unlink()  # the documented recovery
    rundir = RunDir.open(rundir.path)
    run = rundir.build()
    rundir.set_epochs(run, 3)
    train(run, rundir)
    assert [row.epoch for row in RunDir.open(rundir.path).rows] == [3]


def test_epochs_on_resume_leave_config_alone_until_training_saves(tmp_path: Path) -> None:
    rundir = xor_run(tmp_path, 2)
    config = rundir.config_path.read_text()
    run = rundir.build()
    rundir.set_epochs(run, 5)  # what `--resume --epochs 5` calls; then the session fails
    assert rundir.config_path.read_text() == config
    assert Experiment.from_toml(rundir.config_path).train.epochs == 2
    with pytest.raises(UserError, match="positive whole number"):
        rundir.set_epochs(run, 0)


def test_memory_per_epoch_stays_bounded(tmp_path: Path) -> None:
    """Each epoch's row is written out, not kept: growth over 2000 tiny epochs, in bytes
    (about 9 bytes an epoch, all of it the last save's record; it was 294 with every row kept)."""
    run = get_preset("xor").replace(train={"epochs": 200}).build()
    rundir = RunDir.create(tmp_path / "run", run)
    train(run, rundir)  # warm: kernels compiled, buffers made
    tracemalloc.start()
    try:
        rundir.set_epochs(run, 400)
        train(run, rundir)
        first, _ = tracemalloc.get_traced_memory()
        rundir.set_epochs(run, 2400)
        train(run, rundir)
        second, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_epoch = (second - first) / 2000
    assert per_epoch < 64, f"{per_epoch:.0f} bytes per epoch"
    assert RunDir.open(rundir.path).epochs_done == 2400
