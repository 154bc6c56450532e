"""Sweeps: many runs of one experiment with some keys changed, on this machine or a cluster.

From a script::

    import engine

    records = engine.sweep(
        "spiral",  # a preset's name, a config file, an Experiment or its dict
        {"train.lr": [0.001, 0.01, 0.1], "train.optimizer": ["sgd", "adam"]},
        seeds=3,
        out="sweeps/lr",
    )
    best = min(records, key=lambda r: r["best"]["test_loss"] or float("inf"))
    print(best["name"], best["values"], best["final"]["test_acc"])

``dltui sweep`` is the same from the command line, with progress. The parts: ``grid`` (points
from grids, random draws and seeds), ``point`` (training one point, the unit of work),
``executors``, ``worker`` and ``pipes`` (local processes), ``dask`` (a Dask cluster),
``folder`` (the sweep's files), ``driver`` (planning and running).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.presets import get_preset
from engine.sweep import driver

__all__ = ["sweep"]


def sweep(
    config: str | Path | Experiment | Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]],
    *,
    seeds: int = 1,
    random: Mapping[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Trains every point of a sweep and returns the summary's records, in point order.

    Args:
        config: the base experiment: a preset's name, a TOML file, an Experiment or its dict.
        grid: ``{"section.key": [values], ...}``; every combination is a point.
        seeds: with K above 1, every point is trained with ``train.seed`` 0 … K-1.
        random: ``{"n": N, "train.lr": "loguniform(1e-4,1)", ...}``: N random draws.
        workers: local processes (default: one per core, at most one per point).
        scheduler: a Dask scheduler's address, ``tcp://HOST:8786``, instead of local processes.
        out: the sweep's folder (default ``sweeps/NAME-YYYYmmdd-HHMMSS``).

    Each record holds ``id``, ``name``, ``values``, ``state`` ("done", "diverged",
    "early_stopping" or "failed"), ``final`` and ``best`` figures, ``epochs``, ``seconds`` and
    ``error``; the run folders and summary.csv/json are in ``out``.
    """
    base = _experiment(config)
    swept = driver.plan(base, grid, seeds, random)
    path = driver.new_folder(out, base.name)
    executor = driver.make_executor(workers, scheduler, len(swept.points))
    return driver.run(swept, path, executor)


def _experiment(config: str | Path | Experiment | Mapping[str, Any]) -> Experiment:
    if isinstance(config, Experiment):
        return config
    if isinstance(config, Mapping):
        return Experiment.from_dict(dict(config))
    if isinstance(config, Path) or str(config).endswith(".toml"):
        return Experiment.from_toml(config)
    if isinstance(config, str):
        return get_preset(config)
    raise UserError(f"config {config!r} is not an experiment", "pass a preset's name or a file")
