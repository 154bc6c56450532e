"""``python -m tui.bench.sweep``: what a sweep costs and gains against single runs.

A 16-point sweep of the ``digits`` preset (4 learning rates × 4 seeds, shortened to
``--epochs``) is timed three ways, each on one thread per process:

- **plain**: the 16 points trained one after another in this process, as ``dltui train`` trains
  one (build, run folder, ``train``), with the kernels already loaded: the cost of the training
  alone;
- **sweep, 1 worker** and **sweep, 2 workers**: the sweep driver with local processes, from
  the call to the written summary (shipping the points, writing the run folders and the
  summary included), once with the processes started inside the timing, as a user's sweep
  starts them, and once with them started and their kernels loaded beforehand.

It prints the speed-up of 2 workers over 1 (the goal: 1.7 or more on two free cores) and the
overhead per point of a 1-worker sweep over plain training (the goal: 10 % or less), apart
from the one-time start of a worker (Python, NumPy, Numba and the cached kernels). With
``--cmd`` it also times ``dltui train`` as a command, start-up included, for one point. Each
measurement is repeated ``--repeat`` times, taking turns, and the fastest is kept: the best
estimate on a machine that other programs share.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numba

from engine.experiment.presets import get_preset
from engine.experiment.runs import RunDir, train
from engine.sweep import driver
from engine.sweep.executors import LocalExecutor
from engine.sweep.point import set_threads
from engine.threads import available_cores

RATES = [0.001, 0.003, 0.01, 0.03]
SEEDS = 4


def plan(epochs: int, seeds: int = SEEDS) -> driver.Plan:
    base = get_preset("digits").replace(train={"epochs": epochs})
    return driver.plan(base, {"train.lr": RATES}, seeds=seeds)


def time_plain(swept: driver.Plan, root: Path) -> float:
    """The points trained one by one in this process, as ``dltui train`` trains a run."""
    start = time.perf_counter()
    for point, experiment in swept.points:
        run = experiment.build()
        rundir = RunDir.create(root / point.name, run)
        train(run, rundir)
    return time.perf_counter() - start


def time_sweep(swept: driver.Plan, root: Path, workers: int, warm: bool) -> tuple[float, float]:
    """Wall time of the sweep from the call to the summary, and the sum of the points' own
    times inside the workers (building and training). ``warm``: the worker processes
    are started and have loaded the kernels before the clock starts (the steady cost of a
    point); else they start inside the timing, as a user's sweep pays it once."""
    executor = _KeptOpen(workers)
    if warm:
        driver.run(plan(1, seeds=workers), root / "warm-up", executor)
    start = time.perf_counter()
    records = driver.run(swept, root / "sweep", executor)
    wall = time.perf_counter() - start
    executor.shut()
    assert all(r["state"] == "done" for r in records), records
    return wall, sum(r["seconds"] for r in records)


class _KeptOpen(LocalExecutor):
    """A local executor that stays open after a sweep, for the next one."""

    def close(self) -> None:
        pass

    def shut(self) -> None:
        super().close()


def time_command(swept: driver.Plan, root: Path) -> float:
    """``dltui train`` of the first point's config, as a command (start-up included)."""
    experiment = swept.points[0][1]
    root.mkdir(parents=True, exist_ok=True)
    config = root / "point.toml"
    config.write_text(experiment.to_toml())
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "tui.cli", "train", str(config), "--out", str(root / "cmd")]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(epochs: int, repeat: int, command: bool) -> dict[str, Any]:
    set_threads(1)
    swept = plan(epochs)
    n = len(swept.points)
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dltui-bench-sweep-") as tmp:
        root = Path(tmp)
        time_plain(plan(1), root / "warm")  # kernels loaded before anything is timed
        kinds = ["plain", *(f"sweep{w}_{how}" for w in (1, 2) for how in ("cold", "warm"))]
        for i in range(repeat):
            timings: dict[str, float] = {}
            # each turn starts at another measurement: a machine's load that drifts over a
            # turn does not weigh on one of them only
            for kind in kinds[i % len(kinds) :] + kinds[: i % len(kinds)]:
                where = root / f"{kind}-{i}"
                if kind == "plain":
                    timings[kind] = time_plain(swept, where)
                    continue
                workers, warm = int(kind[5]), kind.endswith("warm")
                timings[kind], inside = time_sweep(swept, where, workers, warm)
                if kind == "sweep1_warm":
                    timings["inside_workers"] = inside
            if command:
                timings["command"] = time_command(swept, root / f"cmd{i}")
            for key, value in timings.items():
                best[key] = min(best.get(key, value), value)
    plain = best["plain"]
    figures: dict[str, Any] = {
        "points": n,
        "epochs": epochs,
        "cores": available_cores(),
        "numba_threads": numba.get_num_threads(),
        **{f"{key}_s": value for key, value in best.items()},
        "speedup_cold": best["sweep1_cold"] / best["sweep2_cold"],
        "speedup_warm": best["sweep1_warm"] / best["sweep2_warm"],
        "start_up_s": best["sweep1_cold"] - best["sweep1_warm"],
        "overhead_per_point_s": (best["sweep1_warm"] - plain) / n,
        "overhead_per_point_pct": 100 * (best["sweep1_warm"] - plain) / plain,
        "overhead_cold_pct": 100 * (best["sweep1_cold"] - plain) / plain,
        "inside_workers_pct": 100 * (best["inside_workers"] - plain) / plain,
    }
    if command:
        figures["command_s"] = best["command"]
        figures["sweep1_per_point_vs_command_pct"] = (
            100 * (best["sweep1_cold"] / n) / best["command"]
        )
    return figures


def report(f: dict[str, Any]) -> None:
    n = f["points"]
    print(f"digits, {n} points × {f['epochs']} epochs, {f['cores']} cores, one thread each")
    for label, key in (
        ("plain training, one by one", "plain_s"),
        ("sweep, 1 worker", "sweep1_cold_s"),
        ("sweep, 2 workers", "sweep2_cold_s"),
        ("sweep, 1 worker, started", "sweep1_warm_s"),
        ("sweep, 2 workers, started", "sweep2_warm_s"),
    ):
        print(f"  {label + ':':28} {f[key]:7.2f} s  ({f[key] / n:.3f} s a point)")
    print(
        f"  speed-up, 2 workers over 1:  {f['speedup_cold']:.2f}× ({f['speedup_warm']:.2f}× "
        "with the workers started; goal ≥ 1.7)"
    )
    print(
        f"  overhead per point:          {f['overhead_per_point_s'] * 1000:.1f} ms "
        f"({f['overhead_per_point_pct']:.1f} %, goal ≤ 10 %), plus {f['start_up_s']:.2f} s "
        f"once to start a worker ({f['overhead_cold_pct']:.0f} % in all for this sweep)"
    )
    print(
        f"  the points' own time inside the workers: {f['inside_workers_s']:.2f} s "
        f"({f['inside_workers_pct']:+.1f} % against plain training)"
    )
    if "command_s" in f:
        print(
            f"  dltui train of one point, as a command: {f['command_s']:.2f} s; a point of the "
            f"1-worker sweep takes {f['sweep1_per_point_vs_command_pct']:.0f} % of that"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.bench.sweep", description=__doc__)
    parser.add_argument("--epochs", type=int, default=100, help="epochs per point (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="turns of each timing (default 3)")
    parser.add_argument("--cmd", action="store_true", help="also time dltui train as a command")
    parser.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    args = parser.parse_args(argv)
    figures = measure(args.epochs, args.repeat, args.cmd)
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
