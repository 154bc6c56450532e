"""``dltui sweep`` end to end: input mistakes (exit 2, before anything runs), a sweep whose run
folders match ``dltui train``'s, and Ctrl-C that keeps the finished points for ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.experiment.checkpoint import read_npz
from engine.experiment.runs import CHECKPOINT, CONFIG
from engine.sweep import folder
from tui import cli


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")


def dltui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "names", "fix"),
    [
        (["--grid", "lr=0.1"], "'lr' is not a config key", "section.key"),
        (["--grid", "train.lrr=0.1"], "no key 'lrr'", "keys of [train]"),
        (["--grid", "train.lr=abc"], "train.lr=abc", "write a number"),
        (["--grid", "train.lr=0.1,,1"], "a value is missing", "commas"),
        (["--grid", "train.lr=0.1", "--grid", "train.lr=1"], "given twice", "one --grid"),
        ([], "nothing to sweep", "--grid KEY=V1,V2"),
        (["--seeds", "2", "--seeds", "0"], "--seeds 0", "--seeds 3"),
        (["--random", "3"], "no distribution", "--dist"),
        (["--dist", "train.lr=loguniform(1,0)"], "low < high", "loguniform(a,b)"),
        (["--grid", "train.lr=1", "--workers", "0"], "--workers 0", "--workers 2"),
        (["--grid", "train.lr=1", "--epochs", "0"], "--epochs 0", "--epochs 50"),
        (["--resume", "x", "--grid", "train.lr=1"], "--resume", "without --resume"),
    ],
)
def test_a_mistake_is_exit_2_with_the_fix_and_nothing_written(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    names: str,
    fix: str,
) -> None:
    out = tmp_path / "s"
    code, _, err = dltui(capsys, "sweep", "--preset", "xor", "--out", str(out), *argv)
    assert code == 2
    assert names in err and fix in err
    assert not out.exists()


def test_resume_of_a_folder_without_a_sweep(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = dltui(capsys, "sweep", "--resume", str(tmp_path))
    assert code == 2
    assert "not a sweep folder" in err


def _env() -> dict[str, str]:
    """A child process on one thread, sharing this session's kernel cache."""
    env = dict(os.environ)
    env.update(NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return env


def test_a_sweep_point_matches_dltui_train_of_its_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "s"
    code, stdout, _ = dltui(
        capsys,
        "sweep",
        "--preset",
        "xor",
        "--grid",
        "train.lr=0.5,2",
        "--seeds",
        "2",
        "--epochs",
        "40",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    assert code == 0
    assert "4 points, 4 to run on 2 local processes" in stdout
    summary = json.loads((out / folder.SUMMARY_JSON).read_text())
    assert [p["state"] for p in summary["points"]] == ["done"] * 4
    point = summary["points"][3]
    single = tmp_path / "single"
    cmd = [sys.executable, "-m", "tui.cli", "train", str(out / point["name"] / CONFIG)]
    subprocess.run([*cmd, "--out", str(single)], env=_env(), check=True, capture_output=True)
    swept, _ = read_npz(out / point["name"] / CHECKPOINT)
    trained, _ = read_npz(single / CHECKPOINT)
    assert np.array_equal(swept["data"], trained["data"])


def test_ctrl_c_keeps_the_finished_points_and_resume_runs_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "s"
    rates = ",".join(str(0.1 * (i + 1)) for i in range(12))
    argv = ["sweep", "--preset", "xor", "--grid", f"train.lr={rates}", "--epochs", "2000"]
    argv += ["--workers", "1", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *argv],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        summary = out / folder.SUMMARY_JSON
        if summary.is_file() and json.loads(summary.read_text())["points"]:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout
    assert f"resume with: dltui sweep --resume {out}" in stdout
    assert "Traceback" not in stdout
    kept = json.loads((out / folder.SUMMARY_JSON).read_text())["points"]
    assert 1 <= len(kept) < 12
    names = {p.name for p in out.iterdir() if p.is_dir()}
    assert names == {p["name"] for p in kept}  # no half-written run folder
    resumed = subprocess.run(
        [sys.executable, "-m", "tui.cli", "sweep", "--resume", str(out), "--workers", "2"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"12 points, {12 - len(kept)} to run" in resumed.stdout
    done = json.loads((out / folder.SUMMARY_JSON).read_text())["points"]
    assert len(done) == 12
    before = {p["id"]: p for p in kept}
    assert all(done_p == before[done_p["id"]] for done_p in done if done_p["id"] in before)


def test_the_sweep_benchmark_runs_and_reports_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import numba

    from engine.threads import blas_threads, set_blas_threads
    from tui.bench import sweep as bench

    threads, blas = numba.get_num_threads(), blas_threads()
    try:  # the benchmark sets this process to one thread
        assert bench.main(["--epochs", "1", "--repeat", "1"]) == 0
    finally:
        numba.set_num_threads(threads)
        if blas is not None:
            set_blas_threads(blas)
    out = capsys.readouterr().out
    assert "digits, 16 points × 1 epochs" in out
    assert "speed-up, 2 workers over 1" in out and "overhead per point" in out
