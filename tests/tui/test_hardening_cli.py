"""The command line against hostile but fair input: over-long paths, refused paths, signals at
awkward moments, every preset's default derivation, empty and huge arguments."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.experiment.presets import PRESETS
from engine.experiment.runs import CHECKPOINT, RunDir
from tui import cli
from tui.commands import derive as derive_cmd
from tui.commands import train as train_cmd

OFFLINE = [p for p in PRESETS if "mnist" not in p]  # the others download their data
LONG_NAME = "a" * 300  # one name longer than NAME_MAX
LONG_PATH = "d/" * 2100 + "run"  # short names, but longer than PATH_MAX in all


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide output, so that Rich does not wrap long messages in the middle of a word."""
    monkeypatch.setenv("COLUMNS", "1000")


def dltui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- paths
@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["train", "--preset", "xor", "--out", LONG_NAME], "--out"),
        (["train", "--preset", "xor", "--out", LONG_PATH], "--out"),
        (["train", "--resume", LONG_NAME], "--resume"),
        (["train", LONG_NAME + ".toml"], "the config file"),
        ([LONG_NAME], "the config file"),
        ([LONG_NAME + ".toml"], "the config file"),
        ([f"{LONG_NAME}/x.toml"], "the config file"),
        (["bench", "--json", LONG_NAME], "--json"),
    ],
)
def test_an_over_long_path_names_the_argument_and_the_limit(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = dltui(capsys, *argv)
    assert code == 2, err
    assert f"error: {named} '" in err and "is too long" in err and "hint: use a shorter path" in err
    assert ("255" if LONG_NAME in argv[-1] else "4096") in err
    assert "Traceback" not in err and "OSError" not in err
    assert list(tmp_path.iterdir()) == []  # nothing made


@pytest.mark.parametrize(
    ("code", "reason", "fix"),
    [
        (errno.EACCES, "Permission denied", "permissions"),
        (errno.EROFS, "Read-only file system", "read-only"),
        (errno.ENAMETOOLONG, "File name too long", "shorter path"),
        (errno.ENOTDIR, "Not a directory", "not a folder"),
    ],
)
def test_a_path_the_system_refuses_is_named_not_a_traceback(
    code: int, reason: str, fix: str, capsys, tmp_path: Path, monkeypatch
) -> None:
    """Whatever check a command lacks, an OSError reaching the command line is a message."""
    refused = tmp_path / "refused" / "run"

    def create(path: Path, net_run: object) -> None:
        raise OSError(code, reason, str(path))

    monkeypatch.setattr(train_cmd.RunDir, "create", create)
    exit_code, _, err = dltui(capsys, "train", "--preset", "xor", "--out", str(refused))
    assert exit_code == 2
    assert f"error: {refused}: {reason}" in err and fix in err and "Traceback" not in err


def test_an_out_folder_below_a_file_is_refused(capsys, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    code, _, err = dltui(capsys, "train", "--preset", "xor", "--out", str(tmp_path / "file" / "r"))
    assert code == 2 and str(tmp_path / "file") in err and "Traceback" not in err


# ---------------------------------------------------------------------- derive
@pytest.mark.parametrize("preset", OFFLINE)
def test_every_preset_derives_its_first_weight_by_default(
    preset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = dltui(capsys, "derive", "--preset", preset, "--steps", "0")
    assert code == 0, err
    assert "the gradient of the loss by 0." in out


def test_the_default_parameter_is_the_networks_own() -> None:
    from engine.experiment.presets import get_preset

    assert derive_cmd._param(get_preset("xor").build().net, None) == "0.W[0,0]"
    assert derive_cmd._param(get_preset("lenet-digits").build().net, None) == "0.W[0,0,0,0]"
    assert derive_cmd._param(get_preset("lstm-sine").build().net, None) == "0.W_ih[0,0]"


@pytest.mark.parametrize("param", ["", "  "])
def test_an_empty_param_lists_the_valid_names(param: str, capsys) -> None:
    code, out, err = dltui(capsys, "derive", "--param", param)
    assert code == 2 and out == ""
    assert "--param is empty" in err and "0.W[0..1,0..1], 0.b[0..1], 2.W[0..0,0..1]" in err


def test_a_param_index_of_4301_digits_is_a_message(capsys) -> None:
    code, _, err = dltui(capsys, "derive", "--param", f"0.W[{'7' * 4301},0]")
    assert code == 2 and "4301 digits" in err and "Traceback" not in err


# ---------------------------------------------------------------------- caps
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["train", "--preset", "xor", "--epochs", str(10**20)], "10,000,000"),
        (["train", "--preset", "xor", "--epochs", "10000001"], "--epochs 10000000"),
        (["derive", "--steps", str(10**9)], "100,000"),
        (["derive", "--steps", "100001"], "--steps 100000"),
        (["train", "--preset", "xor", "--save-every", "nan"], "--save-every nan is not a number"),
        (["train", "--preset", "xor", "--save-every", "-1"], "--save-every -1.0 is not a number"),
    ],
)
def test_endless_or_impossible_numbers_are_refused_up_front(
    argv: list[str], says: str, capsys, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    code, _, err = dltui(capsys, *argv)
    assert code == 2 and says in err and "Traceback" not in err
    assert time.perf_counter() - started < 10  # refused, not started
    assert list(tmp_path.iterdir()) == []


def test_a_config_of_endless_epochs_is_refused_before_the_run_folder(capsys, tmp_path) -> None:
    config = tmp_path / "long.toml"
    config.write_text("[train]\nepochs = 100000000000000000000\n")
    code, _, err = dltui(capsys, "train", str(config), "--out", str(tmp_path / "run"))
    assert code == 2 and "[train] epochs = 100000000000000000000" in err and "10,000,000" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("command", "says"), [("train", "10,000,000"), ("derive", "100,000")])
def test_the_limits_are_in_the_help(command: str, says: str, capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    assert f"at most {says}" in " ".join(capsys.readouterr().out.split())


# ---------------------------------------------------------------------- signals
def _spawn(script: str, *argv: str, cwd: Path) -> subprocess.Popen[str]:
    """A Python running ``script`` then ``tui.cli.main(argv)``, as the console script does."""
    code = f"import sys\n{script}\nfrom tui.cli import main\nsys.exit(main({list(argv)!r}))\n"
    env = {**os.environ, "COLUMNS": "1000", "PYTHONPATH": str(Path(__file__).parents[2])}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proc: subprocess.Popen[str], marker: str, stream: str = "stdout") -> None:
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    for line in pipe:
        if marker in line:
            return
    raise AssertionError(f"{marker!r} never came; exit code {proc.wait()}")


# Holds the import of Numba (the slowest part of start-up) until a signal comes.
SLOW_IMPORT = """
import importlib.abc, time
class Slow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "numba":
            print("importing numba", flush=True)
            time.sleep(30)
sys.meta_path.insert(0, Slow())
"""


@pytest.mark.parametrize("argv", [["train", "--preset", "xor"], ["presets"], []])
def test_ctrl_c_during_start_up_is_one_line_and_130(argv: list[str], tmp_path: Path) -> None:
    proc = _spawn(SLOW_IMPORT, *argv, cwd=tmp_path)
    _wait_for(proc, "importing numba")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted" and "Traceback" not in out + err


@pytest.mark.parametrize("argv", [["train", "--preset", "xor"], []])
def test_sigterm_during_start_up_exits_143(argv: list[str], tmp_path: Path) -> None:
    proc = _spawn(SLOW_IMPORT, *argv, cwd=tmp_path)
    _wait_for(proc, "importing numba")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and err.strip() == "terminated"


# Holds the final summary until a signal comes.
SLOW_SUMMARY = """
import time
import tui.commands.train as train_cmd
def summary(*args):
    print("summing up", flush=True)
    time.sleep(30)
train_cmd._print_summary = summary
"""


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_the_summary_says_the_run_is_saved(
    signum: int, code: int, tmp_path: Path
) -> None:
    argv = ["train", "--preset", "xor", "--epochs", "2", "--out", "run"]
    proc = _spawn(SLOW_SUMMARY, *argv, cwd=tmp_path)
    _wait_for(proc, "summing up")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "summary skipped; the run is saved in run" in out and "Traceback" not in out + err
    assert RunDir.open(tmp_path / "run").epochs_done == 2


def test_sigterm_saves_the_run_as_ctrl_c_does_and_exits_143(tmp_path: Path) -> None:
    argv = ["train", "--preset", "spiral", "--epochs", "10000000", "--out", "run"]
    proc = _spawn("", *argv, cwd=tmp_path)
    _wait_for(proc, "epoch 1/")  # the kernels are ready and training
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "the state is saved in run" in out and "resume with: dltui train --resume run" in out
    assert "Traceback" not in out + err
    rundir = RunDir.open(tmp_path / "run")
    assert (tmp_path / "run" / CHECKPOINT).exists() and 1 <= rundir.epochs_done < 10000000
    assert rundir.finished == "interrupted"  # as Ctrl-C leaves it
