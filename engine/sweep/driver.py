"""Running a sweep: plan every point, check them all, run them, keep every result on disk.

``plan`` makes and checks every point's experiment before anything runs; ``run`` sends the
points that are not finished to an executor and, as each result comes back, writes its run
folder and rewrites the summary. Stopped at any moment (Ctrl-C), the folder holds every point
finished so far, and ``resume`` runs only the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.runfiles import default_path
from engine.sweep import folder
from engine.sweep.executors import Executor, LocalExecutor
from engine.sweep.grid import experiment_for, make_points
from engine.sweep.point import Point, PointTask
from engine.threads import available_cores

SWEEPS_ROOT = "sweeps"


@dataclass
class Plan:
    """Every point of a sweep with its checked experiment, and how they were chosen."""

    base: Experiment
    grid: dict[str, list[Any]]
    random: dict[str, Any]
    seeds: int
    points: list[tuple[Point, Experiment]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """sweep.json's content."""
        return {
            "name": self.base.name,
            "base": self.base.to_dict(),
            "grid": self.grid,
            "random": self.random,
            "seeds": self.seeds,
            "points": [{"id": p.id, "name": p.name, "values": p.values} for p, _ in self.points],
        }


def plan(
    base: Experiment,
    grid: Mapping[str, Sequence[Any]],
    seeds: int = 1,
    random: Mapping[str, Any] | None = None,
) -> Plan:
    """The sweep's points, each experiment made and checked (a UserError names a bad one)."""
    points = make_points(base, grid, seeds, random)
    grid_json = {key: list(values) for key, values in grid.items()}
    return Plan(base, grid_json, dict(random or {}), seeds, points)


def plan_from_folder(out: Path) -> tuple[Plan, list[dict[str, Any]]]:
    """A sweep folder's plan, rechecked, and the records of its finished points."""
    raw, records = folder.read_plan(out)
    base = Experiment.from_dict(raw["base"], str(out / folder.PLAN))
    points = []
    for entry in raw["points"]:
        point = Point(str(entry["id"]), dict(entry["values"]), str(entry["name"]))
        points.append((point, experiment_for(base, point.values)))
    swept = Plan(base, raw.get("grid", {}), raw.get("random", {}), int(raw.get("seeds", 1)))
    swept.points = points
    ids = {p.id for p, _ in points}
    kept = [r for r in records if r.get("id") in ids and folder.is_finished(out, r)]
    return swept, kept


def new_folder(out: str | Path | None, name: str) -> Path:
    """The folder a new sweep writes to: ``out``, or ``sweeps/NAME-YYYYmmdd-HHMMSS``."""
    path = Path(out) if out is not None else default_path(name, root=SWEEPS_ROOT)
    if (path / folder.PLAN).exists():
        raise UserError(
            f"{path} already holds a sweep",
            f"run its missing points with `dltui sweep --resume {path}`, or choose another --out",
        )
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UserError(f"{path} is not an empty folder", "choose a new folder with --out DIR")
    return path


def make_executor(workers: int | None, scheduler: str | None, n_points: int) -> Executor:
    """A Dask executor for a scheduler's address, else ``workers`` local processes (default:
    one per core, at most one per point)."""
    if scheduler is not None:
        from engine.sweep.dask import DaskExecutor  # only when asked: Dask is optional

        return DaskExecutor(scheduler)
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise UserError(f"workers {workers!r} is not a positive number", "e.g. --workers 2")
    count = workers if workers is not None else available_cores()
    return LocalExecutor(max(1, min(count, n_points)))


def run(
    swept: Plan,
    out: Path,
    executor: Executor,
    records: Iterable[dict[str, Any]] = (),
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Runs the points without a record in ``records`` and returns every record, id order.

    sweep.json is written first; after each point its run folder and the summary. A
    KeyboardInterrupt stops the executor's points (the finished ones stay written) and
    propagates.
    """
    plan_json = swept.to_json()
    folder.write_plan(out, plan_json)
    kept = {str(r["id"]): r for r in records}
    folder.write_summary(out, plan_json, list(kept.values()))
    by_id = {p.id: p for p, _ in swept.points}
    tasks = [PointTask(p, e.to_dict()) for p, e in swept.points if p.id not in kept]
    try:
        for result in executor.map_unordered(tasks):
            point = by_id[result.point_id]
            if result.files:
                folder.write_run(out, point.name, result.files)
            rec = folder.record(result, point.name, point.values)
            kept[point.id] = rec
            folder.write_summary(out, plan_json, list(kept.values()))
            if on_result is not None:
                on_result(rec)
    finally:
        executor.close()
    return sorted(kept.values(), key=lambda r: str(r["id"]))
