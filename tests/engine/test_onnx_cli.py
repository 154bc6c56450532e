"""``dltui export``: a run folder or a saved network to ONNX, and its mistakes (exit code 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from engine.experiment.runfiles import CHECKPOINT  # noqa: E402
from engine.interop.onnx import INSTALL  # noqa: E402
from engine.interop.onnx_layers import CONVERTERS  # noqa: E402
from engine.layers import Dense, ReLU, Tanh  # noqa: E402
from engine.network import Sequential  # noqa: E402
from tui.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder that ``dltui train`` wrote: two epochs of the circle preset."""
    out = tmp_path_factory.mktemp("runs") / "circle"
    assert main(["train", "--preset", "circle", "--epochs", "2", "--out", str(out)]) == 0
    return out


def run_onnx(path: Path, X: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"input": X.astype(np.float32)})
    return out


def test_a_run_folder_exports_its_trained_network(run_dir: Path, tmp_path, capsys) -> None:
    target = tmp_path / "circle.onnx"
    assert main(["export", str(run_dir), "--onnx", str(target)]) == 0
    assert "wrote" in capsys.readouterr().out
    trained = Sequential.load(run_dir / CHECKPOINT)
    X = np.random.default_rng(0).normal(size=(20, 2))
    np.testing.assert_allclose(run_onnx(target, X), trained.forward(X), atol=1e-5)


def test_a_saved_network_exports(tmp_path) -> None:
    net = Sequential([Dense(3, 4), ReLU(), Dense(4, 2)], seed=1)
    net.save(tmp_path / "net.npz")
    assert main(["export", str(tmp_path / "net.npz"), "--onnx", str(tmp_path / "n.onnx")]) == 0
    X = np.random.default_rng(1).normal(size=(4, 3))
    np.testing.assert_allclose(run_onnx(tmp_path / "n.onnx", X), net.forward(X), atol=1e-5)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["{run}"], "no format to export to"),
        (["{tmp}/nowhere", "--onnx", "{tmp}/a.onnx"], "does not exist"),
        (["{tmp}", "--onnx", "{tmp}/a.onnx"], "is not a dltui run"),
        (["{tmp}/notes.txt", "--onnx", "{tmp}/a.onnx"], "neither a run folder"),
        (["{run}", "--onnx", "{tmp}/no/such/folder.onnx"], "does not exist"),
    ],
)
def test_mistakes_exit_2_with_a_message(run_dir, tmp_path, capsys, args, says) -> None:
    (tmp_path / "notes.txt").write_text("not a network")
    filled = [a.format(run=run_dir, tmp=tmp_path) for a in args]
    assert main(["export", *filled]) == 2
    err = " ".join(capsys.readouterr().err.split())  # as one line, however the console wrapped
    assert says in err and "hint:" in err and "Traceback" not in err


def test_a_layer_without_an_onnx_form_exits_2(run_dir, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delitem(CONVERTERS, Tanh)  # as if the export did not know the circle's tanh
    assert main(["export", str(run_dir), "--onnx", str(tmp_path / "a.onnx")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "layer 1 (Tanh) has no ONNX form" in err
    assert not (tmp_path / "a.onnx").exists()


def test_without_onnx_the_command_names_the_extra(run_dir, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", str(run_dir), "--onnx", str(tmp_path / "a.onnx")]) == 2
    assert INSTALL in " ".join(capsys.readouterr().err.split())


def test_safetensors_beside_onnx_in_one_command(run_dir: Path, tmp_path) -> None:
    onnx_file, weights = tmp_path / "c.onnx", tmp_path / "c.safetensors"
    args = ["export", str(run_dir), "--onnx", str(onnx_file), "--safetensors", str(weights)]
    assert main(args) == 0
    trained = Sequential.load(run_dir / CHECKPOINT)
    back = Sequential.load(weights)
    np.testing.assert_array_equal(back.data, trained.data)
    assert main(["export", str(weights), "--onnx", str(tmp_path / "again.onnx")]) == 0
    X = np.random.default_rng(2).normal(size=(6, 2))
    np.testing.assert_allclose(run_onnx(tmp_path / "again.onnx", X), trained.forward(X), atol=1e-5)


def test_safetensors_needs_its_suffix(run_dir: Path, tmp_path, capsys) -> None:
    assert main(["export", str(run_dir), "--safetensors", str(tmp_path / "w.npz")]) == 2
    assert "must end in .safetensors" in " ".join(capsys.readouterr().err.split())
