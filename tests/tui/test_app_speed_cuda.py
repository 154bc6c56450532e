"""The app's training session on ``device="cuda"``, in the CUDA simulator.

The views compute on host arrays: on a GPU the session keeps a CPU twin of the network that it
fills from the device once a snapshot (``tui.session.probes.HostMirror``). A subprocess with
``NUMBA_ENABLE_CUDASIM=1`` (it must be set before Numba loads, so never in the test process) and
the simulator's arrays made as strict as real device arrays (``cuda_sim_nets``) trains a small
network on a dozen rows for a few steps in a session on its own thread, then measures every view
of it, and prints one JSON line: for each network, the device it trained on, the steps done,
the views measured, any array a record holds that is not a host array, and how far the twin's
weights are from the device's.

Run as a script it is that subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SIM_SCRIPTS = ROOT / "tests" / "engine" / "cuda_scripts"
STEPS = 3
ROWS = 12  # training rows kept (and half as many test rows): the simulator is slow
NETWORKS = {"mlp": ("spiral", {"hidden": [4]})}
"""The session reads any network through the same twin; every layer's device kernels are
checked in tests/engine/test_cuda.py (the simulator is too slow to train a transformer here)."""


def device_arrays(value: Any, path: str = "") -> list[str]:
    """Where a record holds an array that is not a NumPy array (a device array)."""
    if hasattr(value, "copy_to_host") or hasattr(value, "__cuda_array_interface__"):
        return [path or "record"]
    if is_dataclass(value) and not isinstance(value, type):
        found: list[str] = []
        for f in fields(value):
            if f.name not in ("scene", "runs", "current"):
                found += device_arrays(getattr(value, f.name), f"{path}.{f.name}")
        return found
    if isinstance(value, tuple | list):
        return [p for i, v in enumerate(value) for p in device_arrays(v, f"{path}[{i}]")]
    return []


def simulate() -> dict[str, Any]:
    """Trains each network a few steps on the simulated device; what the views saw."""
    sys.path.insert(0, str(SIM_SCRIPTS))
    from cuda_sim_nets import strict_device_arrays

    strict_device_arrays()
    from engine.experiment.presets import get_preset
    from tui.session.pace import FULL_SPEED
    from tui.session.worker import TrainingSession

    results: dict[str, Any] = {}
    for name, (preset, model) in NETWORKS.items():
        experiment = get_preset(preset).replace(
            model=model, train={"device": "cuda", "batch_size": 4, "dtype": "float64"}
        )
        run = experiment.build()
        d = run.data
        run.data = replace(
            d, X_train=d.X_train[:ROWS], y_train=d.y_train[:ROWS],
            X_test=d.X_test[: ROWS // 2], y_test=d.y_test[: ROWS // 2],
        )  # fmt: skip
        session = TrainingSession(experiment, run=run, pace=FULL_SPEED)
        posts: list[Any] = []
        thread = threading.Thread(target=session.loop, args=(posts.append,), daemon=True)
        thread.start()
        deadline = time.perf_counter() + 120
        while session.run.trainer.step < STEPS and time.perf_counter() < deadline:
            time.sleep(0.05)
        session.stop()
        thread.join()  # the views below are measured on this thread, the session's loop done
        errors = [p.text for p in posts if type(p).__name__ == "Notice" and not p.ok]
        seen, holes = [], []
        for view in session.scene.views:
            session.shown = view
            session._measures.again()
            snapshot = session._snapshot()
            seen.append(view if snapshot.view is not None else f"{view}: nothing")
            holes += [f"{view}{p}" for p in device_arrays(snapshot)]
        net = session.run.net
        twin = session._host.of(net)
        gap = float(np.max(np.abs(twin.data - net.backend.to_host(net.data))))
        results[name] = {
            "device": net.device,
            "twin": twin.device,
            "steps": session.run.trainer.step,
            "views": seen,
            "device_arrays": holes,
            "errors": errors,
            "gap": gap,
        }
    return results


def test_the_session_trains_on_cuda_and_its_views_read_host_arrays() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(
        [sys.executable, __file__], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    results = json.loads(lines[-1])
    assert set(results) == set(NETWORKS)
    for name, r in results.items():
        assert (r["device"], r["twin"]) == ("cuda", "cpu"), name
        assert r["steps"] >= STEPS, (name, r)
        assert r["errors"] == [], (name, r["errors"])
        assert r["views"] and not any("nothing" in v for v in r["views"]), (name, r["views"])
        assert r["device_arrays"] == [], (name, r["device_arrays"])
        assert r["gap"] == 0.0, (name, r["gap"])


if __name__ == "__main__":
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
    print(json.dumps(simulate()))
