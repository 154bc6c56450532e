"""``dltui train --device cuda`` end to end in the CUDA simulator, against the same run on the CPU.

Run with ``NUMBA_ENABLE_CUDASIM=1`` set before Numba is imported (``test_cuda.py`` runs it in a
subprocess), with the simulator's arrays as strict as real device arrays (``cuda_sim_nets``).
Prints one JSON line: each check's largest difference, or ``"error: ..."``.

- ``train``: the ``xor`` preset in float64, 20 epochs on each device; the checkpoints' weights
  and the metrics' losses.
- ``resume``: the GPU run resumed on the CPU (``--resume DIR --device cpu``) for 20 more epochs,
  against a CPU run of 40.
- ``transfer``: a config starting from a saved network (``init_from``) with ``device = "cuda"``
  holds the saved weights on the device.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"

from cuda_sim_nets import strict_device_arrays  # noqa: E402

from engine import Dense, Sequential, Sigmoid  # noqa: E402
from engine.experiment.checkpoint import read_npz  # noqa: E402
from engine.experiment.config import Experiment  # noqa: E402
from tui.cli import main as dltui  # noqa: E402

XOR = ["--preset", "xor", "--seed", "1"]


def weights(run: Path) -> np.ndarray:
    return read_npz(run / "checkpoint.npz", required=("data",))[0]["data"]


def losses(run: Path) -> np.ndarray:
    with open(run / "metrics.csv", newline="") as f:
        return np.array([float(row["train_loss"]) for row in csv.DictReader(f)])


def train(out: Path, *args: str) -> Path:
    code = dltui(["train", *args, "--out", str(out)])
    if code != 0:
        raise RuntimeError(f"dltui train {' '.join(args)} exited {code}")
    return out


def float64_xor(root: Path) -> Path:
    """The xor preset in float64, as a config file (float32 sums differ by device in the last bits,
    and SGD at lr 2 carries them on)."""
    from engine.experiment.presets import get_preset

    path = root / "xor64.toml"
    path.write_text(get_preset("xor").replace(train={"dtype": "float64"}).to_toml())
    return path


def check_train(root: Path, config: str) -> float:
    gpu = train(root / "gpu", config, "--epochs", "20", "--device", "cuda")
    cpu = train(root / "cpu", config, "--epochs", "20")
    return max(
        float(np.abs(weights(gpu) - weights(cpu)).max()),
        float(np.abs(losses(gpu) - losses(cpu)).max()),
    )


def check_resume(root: Path, config: str) -> float:
    """Continues ``check_train``'s GPU run on the CPU."""
    code = dltui(["train", "--resume", str(root / "gpu"), "--epochs", "40", "--device", "cpu"])
    if code != 0:
        raise RuntimeError(f"--resume exited {code}")
    cpu40 = train(root / "cpu40", config, "--epochs", "40")
    return float(np.abs(weights(root / "gpu") - weights(cpu40)).max())


def check_transfer(root: Path, config: str) -> float:
    saved = Sequential([Dense(2, 3), Sigmoid(), Dense(3, 1)], seed=3, dtype="float64")
    saved.save(root / "net.npz")
    exp = Experiment.from_dict(
        {
            "data": {"name": "xor-gate"},
            "model": {"init_from": str(root / "net.npz")},
            "train": {"loss": "bce_logits", "dtype": "float64", "device": "cuda"},
        },
        "transfer",
    )
    net = exp.build().net
    if net.device != "cuda":
        raise RuntimeError(f"built on {net.device}")
    return float(np.abs(net.backend.to_host(net.data) - saved.data).max())


CHECKS = {"train": check_train, "resume": check_resume, "transfer": check_transfer}


def main() -> int:
    strict_device_arrays()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = str(float64_xor(root))
        for name, check in CHECKS.items():  # in order: resume continues train's GPU run
            try:
                results[name] = check(root, config)
            except Exception as exc:  # every check reports, not just the first failure
                results[name] = f"error: {type(exc).__name__}: {exc}"
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
