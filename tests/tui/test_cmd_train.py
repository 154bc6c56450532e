"""``dltui train`` end to end through ``tui.cli.main``: runs, resuming, and every input mistake."""

from __future__ import annotations

import io
import re
import signal
from pathlib import Path
from types import SimpleNamespace

import numba
import numpy as np
import pytest
from rich.console import Console

from engine import warmup
from engine.events import Event, Step
from engine.experiment.presets import get_preset
from engine.experiment.runs import CHECKPOINT, CONFIG, METRICS, METRICS_JSONL, RunDir
from engine.network import Sequential
from tui import cli
from tui.commands import train as train_cmd


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide output, so that Rich does not wrap long paths in the middle of a message."""
    monkeypatch.setenv("COLUMNS", "1000")


def dltui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def weights(run_dir: Path) -> np.ndarray:
    return Sequential.load(run_dir / CHECKPOINT).data


def interrupt_at_step(monkeypatch: pytest.MonkeyPatch, step: int, how: str) -> None:
    """Makes the progress display press Ctrl-C when it sees step ``step``."""
    original = train_cmd._Display.on_event

    def on_event(self: train_cmd._Display, event: Event) -> None:
        original(self, event)
        if isinstance(event, Step) and event.step == step:
            if how == "signal":
                signal.raise_signal(signal.SIGINT)
            else:
                raise KeyboardInterrupt

    monkeypatch.setattr(train_cmd._Display, "on_event", on_event)


# ---------------------------------------------------------------------- runs
def test_preset_run_writes_a_folder_and_a_summary(capsys, tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    code, out, err = dltui(
        capsys, "train", "--preset", "gaussians", "--epochs", "3", "--out", str(out_dir)
    )
    assert code == 0, err
    assert {p.name for p in out_dir.iterdir()} == {CONFIG, METRICS, METRICS_JSONL, CHECKPOINT}
    assert len((out_dir / METRICS).read_text().splitlines()) == 1 + 3
    for label in (
        "train loss",
        "test accuracy",
        "epochs",
        "3 of 3",
        "steps",
        "75",
        "time per epoch",
    ):
        assert label in out
    assert str(out_dir) in out


def test_seed_and_epochs_override_the_preset(capsys, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert (
        dltui(
            capsys,
            "train",
            "--preset",
            "gaussians",
            "--epochs",
            "1",
            "--seed",
            "7",
            "--out",
            str(a),
        )[0]
        == 0
    )
    assert dltui(capsys, "train", "--preset", "gaussians", "--epochs", "1", "--out", str(b))[0] == 0
    config = (a / CONFIG).read_text()
    assert "seed = 7" in config and "epochs = 1" in config
    assert not np.array_equal(weights(a), weights(b))


def test_config_file_run_goes_to_runs_named_after_it(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(
        '[data]\nname = "gaussians"\nn = 100\n\n[model]\nhidden = [2]\n\n[train]\nepochs = 2\n'
    )
    code, _, err = dltui(capsys, "train", "tiny.toml")
    assert code == 0, err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("tiny-")
    assert len(RunDir.open(run_dir).rows) == 2


@pytest.mark.parametrize("how", ["signal", "keyboard_interrupt"])
def test_ctrl_c_saves_and_resume_ends_with_the_same_weights(
    capsys, tmp_path, monkeypatch, how
) -> None:
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert (
        dltui(capsys, "train", "--preset", "gaussians", "--epochs", "3", "--out", str(whole))[0]
        == 0
    )
    with monkeypatch.context() as patch:
        interrupt_at_step(patch, 40, how)
        code, out, err = dltui(
            capsys, "train", "--preset", "gaussians", "--epochs", "3", "--out", str(parts)
        )
    assert code == 130, err
    assert f"dltui train --resume {parts}" in out
    stopped = RunDir.open(parts)
    assert stopped.finished == "interrupted"
    assert stopped.meta["trainer"]["step"] == 40  # the step at which Ctrl-C came
    done = f"{stopped.epochs_done} of 3"  # whole epochs: the table and the message agree
    assert f"stopped at step 40, {done} epochs done" in out
    assert re.search(rf"epochs\s*│\s*{done}\b", out), out
    code, out, err = dltui(capsys, "train", "--resume", str(parts))
    assert code == 0, err
    assert "resuming" in out
    assert np.array_equal(weights(parts), weights(whole))


@pytest.fixture
def cold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No warm-up marker: the fused kernel counts as not compiled yet (the kernels themselves
    stay in the session's cache, whose place their dispatchers took when they were made)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(markers), raising=False)


def test_a_run_on_an_empty_cache_takes_the_fused_kernel_as_a_warm_one_does(
    capsys, tmp_path, cold
) -> None:
    """The same config and seed give the same weights whatever the kernel cache held."""
    cold_run, warm_run = tmp_path / "cold", tmp_path / "warm"
    argv = ("train", "--preset", "gaussians", "--epochs", "2", "--out")
    assert dltui(capsys, *argv, str(cold_run))[0] == 0
    warmup._marker().touch()  # the background warm-up has finished
    assert dltui(capsys, *argv, str(warm_run))[0] == 0
    assert RunDir.open(cold_run).meta["fused"] is True
    assert np.array_equal(weights(cold_run), weights(warm_run))


@pytest.mark.parametrize("terminal", [True, False])
def test_only_a_run_in_a_terminal_compiles_the_rest_in_the_background(
    capsys, tmp_path, monkeypatch, cold, terminal
) -> None:
    started: list[tuple] = []
    monkeypatch.setattr(
        train_cmd, "start_background", lambda *args, **kw: started.append((*args, kw))
    )
    monkeypatch.setattr(
        train_cmd,
        "Console",
        lambda **kw: Console(force_terminal=terminal, file=io.StringIO(), **kw),
    )
    argv = ("train", "--preset", "gaussians", "--epochs", "1", "--out", str(tmp_path / "run"))
    code, _, err = dltui(capsys, *argv)
    assert code == 0, err
    experiment = get_preset("gaussians").train
    if not terminal:
        assert started == []
        return
    # the network and loss too: the other process compiles the fused kernel's callees first
    [(dtype, optimizer, net, loss, kw)] = started
    assert (dtype, optimizer, loss, kw) == (
        experiment.dtype,
        experiment.optimizer,
        "bce_logits",
        {"fused_here": True},
    )
    assert net.spec() == get_preset("gaussians").build().net.spec()


def test_resume_of_a_finished_run_says_how_to_go_further(capsys, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    dltui(capsys, "train", "--preset", "gaussians", "--epochs", "1", "--out", str(run_dir))
    code, out, _ = dltui(capsys, "train", "--resume", str(run_dir))
    assert code == 0 and f"dltui train --resume {run_dir} --epochs 11" in out
    code, _, err = dltui(capsys, "train", "--resume", str(run_dir), "--epochs", "1")
    assert code == 2 and "--epochs 1" in err and "trained 1 already" in err
    code, out, _ = dltui(capsys, "train", "--resume", str(run_dir), "--epochs", "2")
    assert code == 0 and "2 of 2" in out
    assert len(RunDir.open(run_dir).rows) == 2


def test_diverged_run_exits_1_with_the_message(capsys, tmp_path: Path) -> None:
    (tmp_path / "hot.toml").write_text(
        '[data]\nname = "plane"\n\n[model]\nhidden = []\nactivation = "linear"\n\n'
        '[train]\nloss = "mse"\noptimizer = "sgd"\nlr = 1000.0\nepochs = 3\n'
    )
    code, out, err = dltui(
        capsys, "train", str(tmp_path / "hot.toml"), "--out", str(tmp_path / "run")
    )
    assert code == 1
    assert "diverged" in out and "lower the learning rate" in out
    assert "Traceback" not in out + err
    assert RunDir.open(tmp_path / "run").finished == "diverged"


# ---------------------------------------------------------------------- mistakes
def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


CASES = {
    "unknown preset": (lambda tmp: ["--preset", "nope"], "'nope'"),
    "missing config": (lambda tmp: [str(tmp / "absent.toml")], "absent.toml"),
    "malformed toml": (lambda tmp: [write(tmp / "bad.toml", "[train\nlr = ")], "bad.toml"),
    "unknown key": (lambda tmp: [write(tmp / "k.toml", "[train]\nspeed = 3\n")], "speed"),
    "wrong type": (lambda tmp: [write(tmp / "t.toml", '[train]\nlr = "fast"\n')], "lr"),
    "loss misfit": (
        lambda tmp: [write(tmp / "l.toml", '[data]\nname = "iris"\n[train]\nloss = "bce"\n')],
        "'bce'",
    ),
    "csv missing": (
        lambda tmp: [write(tmp / "c.toml", f'[data]\nname = "csv:{tmp}/none.csv"\n')],
        "none.csv",
    ),
    "resume nowhere": (lambda tmp: ["--resume", str(tmp / "gone")], "gone"),
    "resume no checkpoint": (lambda tmp: ["--resume", str(tmp)], "checkpoint.npz"),
    "negative epochs": (lambda tmp: ["--preset", "gaussians", "--epochs", "-3"], "--epochs -3"),
    "zero epochs": (lambda tmp: ["--preset", "gaussians", "--epochs", "0"], "--epochs 0"),
    "epochs not a number": (lambda tmp: ["--epochs", "many"], "many"),
    "resume and preset": (lambda tmp: ["--resume", str(tmp), "--preset", "spiral"], "--resume"),
    "config and preset": (lambda tmp: ["x.toml", "--preset", "spiral"], "x.toml"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_mistakes_name_the_input_and_exit_2(case, capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    make_args, named = CASES[case]
    (tmp_path / "config.toml").write_text("")  # a folder with a config but no checkpoint
    code, _, err = dltui(capsys, "train", *make_args(tmp_path))
    assert code == 2
    assert "error:" in err and "hint:" in err
    assert named in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # no half-made run folder


def test_corrupt_checkpoint_is_named(capsys, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    dltui(capsys, "train", "--preset", "gaussians", "--epochs", "1", "--out", str(run_dir))
    (run_dir / CHECKPOINT).write_bytes(bytes(range(256)) * 4)
    code, _, err = dltui(capsys, "train", "--resume", str(run_dir))
    assert code == 2 and "checkpoint.npz" in err and "cannot be read" in err


def test_out_over_an_existing_run_is_refused(capsys, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    dltui(capsys, "train", "--preset", "gaussians", "--epochs", "1", "--out", str(run_dir))
    code, _, err = dltui(capsys, "train", "--preset", "gaussians", "--out", str(run_dir))
    assert code == 2 and "already holds a run" in err and "--resume" in err


# ---------------------------------------------------------------------- the rest of dltui
def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("dltui ")


def test_presets_list_and_show(capsys) -> None:
    code, out, _ = dltui(capsys, "presets")
    assert code == 0 and "gaussians" in out and "digits" in out
    assert "LSTM 32 → out" in out and "embed 32 + positions" in out  # each by its own layers
    assert "8 tanh" not in out.split("transformer-text")[1].split("autoencoder")[0]
    code, out, _ = dltui(capsys, "presets", "--show", "spiral")
    assert code == 0 and 'name = "spiral"' in out and "[train]" in out


def test_unknown_flag_exits_2(capsys) -> None:
    code, _, err = dltui(capsys, "--nonsense-flag")
    assert code == 2 and "--nonsense-flag" in err
    code, _, err = dltui(capsys, "train", "--nonsense-flag")
    assert code == 2 and "--nonsense-flag" in err


def test_unknown_word_is_a_missing_config_file(capsys) -> None:
    pytest.importorskip("tui.commands.app")
    code, _, err = dltui(capsys, "nonsense-flag")
    assert code == 2 and "nonsense-flag" in err and "Traceback" not in err


def test_the_header_describes_a_cnn_layer_by_layer(tmp_path: Path) -> None:
    run = get_preset("lenet-digits").build()
    console = Console(file=io.StringIO(), width=1000)
    train_cmd._print_header(console, SimpleNamespace(epochs_done=0, path=tmp_path), run)
    header = console.file.getvalue()
    assert "conv 3×3·16 → pool → conv 3×3·32 → pool → dense 64 → 10, relu" in header
    assert f"{run.net.n_params:,} parameters" in header
    assert "64-64-10" not in header and "Conv2D" not in header
