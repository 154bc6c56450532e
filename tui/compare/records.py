"""Run folders and sweep folders read into one record per run, and the figures compared.

A run folder is what ``dltui train`` (or the app's ``w``) writes; a sweep folder is what
``dltui sweep`` writes: ``sweep.json`` (the swept keys and points), ``summary.json`` (one record
per finished point) and one run folder per point, named by the point. Each run's figures are
read from its own metrics.csv, so a run and a sweep's point are measured alike:

- ``final_*``: the last epoch's train, validation and test loss and accuracy;
- ``best_*``: the lowest loss and the highest accuracy over the epochs.

A run without a validation part measures its held-out figures on the test part: those are its
test figures here, and it has no validation figures (None).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.events import Epoch
from engine.experiment.config import Experiment
from engine.experiment.runs import CHECKPOINT, CONFIG, RunDir
from tui.compare.plots import Series

SWEEP_FILE, SUMMARY_FILE = "sweep.json", "summary.json"
SEED_KEY = "train.seed"
PARTS = ("train", "val", "test")
METRICS = tuple(
    f"{when}_{part}_{what}"
    for when in ("final", "best")
    for what in ("loss", "acc")
    for part in PARTS
)
"""Every figure a record holds: final_train_loss, final_val_loss, … best_test_acc."""
SORT_KEYS = (*METRICS, "epochs", "label", "state")
# How a run folder's checkpoint says its last session ended, as a sweep's states say it.
STATES = {"epochs": "done", "interrupted": "stopped", None: "saved"}
HINT = "pass run folders (dltui train writes them under runs/) or one sweep folder (dltui sweep)"


@dataclass(frozen=True)
class RunSummary:
    """One run: where it is, what it is called, its per-epoch rows and its figures.

    Attributes:
        path: the run folder.
        label: the swept values for a sweep's point (``lr=0.01 seed=1``), else the folder's name.
        values: the swept values, key → value (empty for a run outside a sweep).
        state: "done", "diverged", "early_stopping", "stopped", "saved" (by the app) or
            "failed" (a sweep's point that raised; no rows).
        epochs: whole epochs trained.
        rows: the per-epoch rows of metrics.csv.
        figures: ``METRICS`` name → value (None where not measured).
        experiment: the run's experiment (None for a failed point).
        point: a sweep point's id ("" outside a sweep).
    """

    path: Path
    label: str
    values: dict[str, Any]
    state: str
    epochs: int
    rows: tuple[Epoch, ...]
    figures: dict[str, float | None]
    experiment: Experiment | None = None
    point: str = ""

    def record(self) -> dict[str, Any]:
        """The row of ``dltui compare --json``: plain JSON values, NaN and infinities as None."""
        out: dict[str, Any] = {"label": self.label, "path": str(self.path)}
        if self.point:
            out["id"] = self.point
        out["values"] = self.values
        out |= {"state": self.state, "epochs": self.epochs}
        out |= {k: _finite(v) for k, v in self.figures.items()}
        return out


@dataclass
class Comparison:
    """The runs to compare, and the sweep they come from (None for runs named one by one)."""

    runs: list[RunSummary]
    sweep: dict[str, Any] | None = None
    path: Path | None = None
    pending: int = 0
    """Points of the sweep not finished yet (not in its summary)."""
    swept: list[str] = field(default_factory=list)
    """The sweep's swept keys in the order of its grid (``train.seed`` last, if swept)."""

    @property
    def validation(self) -> bool:
        """Whether any run measures a validation part."""
        return any(r.figures.get("final_val_loss") is not None for r in self.runs)


def is_sweep(path: Path) -> bool:
    return path.is_dir() and ((path / SWEEP_FILE).is_file() or (path / SUMMARY_FILE).is_file())


def is_run(path: Path) -> bool:
    return path.is_dir() and (path / CONFIG).is_file() and (path / CHECKPOINT).is_file()


def load(paths: Sequence[str | Path]) -> Comparison:
    """Reads the runs to compare: one sweep folder, or one or more run folders.

    Raises:
        UserError: a path that does not exist, a folder that is neither a run nor a sweep, a
            sweep named beside other folders, or a damaged file (naming it).
    """
    if not paths:
        raise UserError("no run or sweep folder to compare", HINT)
    folders = [Path(p) for p in paths]
    for folder in folders:
        if not folder.exists():
            raise UserError(f"{folder} does not exist", HINT)
        if not folder.is_dir():
            raise UserError(f"{folder} is a file, not a run or sweep folder", HINT)
        if not is_sweep(folder) and not is_run(folder):
            raise UserError(f"{folder} is neither a dltui run nor a sweep", HINT)
    sweeps = [f for f in folders if is_sweep(f)]
    if sweeps and len(folders) > 1:
        raise UserError(
            f"{sweeps[0]} is a sweep: a sweep is compared on its own",
            f"run `dltui compare {sweeps[0]}` alone, or name its points' run folders",
        )
    if sweeps:
        return load_sweep(sweeps[0])
    return Comparison([read_run(f, f.name) for f in folders])


def read_run(
    path: Path, label: str, values: dict[str, Any] | None = None, state: str | None = None
) -> RunSummary:
    """One run folder as a record (``state`` given: a sweep's word for how it ended)."""
    rundir = RunDir.open(path)
    rows = tuple(rundir.rows)
    validation = bool(rundir.experiment.train.validation)
    if state is None:
        state = STATES.get(rundir.finished, str(rundir.finished))
    return RunSummary(
        path=path,
        label=label,
        values=dict(values or {}),
        state=state,
        epochs=rundir.epochs_done,
        rows=rows,
        figures=figures(rows, validation),
        experiment=rundir.experiment,
    )


def figures(rows: Sequence[Epoch], validation: bool) -> dict[str, float | None]:
    """Final and best train/validation/test loss and accuracy of the rows (None: not measured).

    Without a validation part the rows' held-out column is the test part's.
    """
    columns: dict[str, list[float | None]] = {
        "train_loss": [r.train_loss for r in rows],
        "train_acc": [r.train_acc for r in rows],
        "val_loss": [r.val_loss if validation else None for r in rows],
        "val_acc": [r.val_acc if validation else None for r in rows],
        "test_loss": [r.test_loss if validation else r.val_loss for r in rows],
        "test_acc": [r.test_acc if validation else r.val_acc for r in rows],
    }
    out: dict[str, float | None] = {}
    for name in METRICS:
        when, part, what = name.split("_")
        column = columns[f"{part}_{what}"]
        if when == "final":
            out[name] = column[-1] if column else None
            continue
        finite = [v for v in column if v is not None and math.isfinite(v)]
        out[name] = (min if what == "loss" else max)(finite) if finite else None
    return out


def load_sweep(path: Path) -> Comparison:
    """A sweep folder: its finished points (from summary.json), each read from its run folder."""
    sweep = _read_json(path / SWEEP_FILE) if (path / SWEEP_FILE).is_file() else None
    summary = _read_json(path / SUMMARY_FILE) if (path / SUMMARY_FILE).is_file() else {}
    if sweep is None:
        sweep = summary.get("sweep")
    if not isinstance(sweep, dict) or not isinstance(sweep.get("points", []), list):
        raise UserError(
            f"{path / SWEEP_FILE} is damaged or missing: it does not list the sweep's points",
            "run the sweep again into a new folder (dltui sweep … --out NEW_DIR)",
        )
    points = summary.get("points", []) if isinstance(summary, dict) else []
    if not isinstance(points, list):
        raise UserError(f"{path / SUMMARY_FILE} is damaged (points is not a list)", _AGAIN)
    runs = [_point(path, p) for p in points]
    order = {p.get("id"): i for i, p in enumerate(sweep.get("points", []))}
    runs.sort(key=lambda r: order.get(r.point, len(order)))
    swept = _swept(sweep, runs)
    pending = max(len(sweep.get("points", [])) - len(runs), 0)
    return Comparison(runs, sweep=sweep, path=path, pending=pending, swept=swept)


_AGAIN = "resume the sweep to rewrite it (dltui sweep --resume DIR)"


def _point(root: Path, point: Any) -> RunSummary:
    if not isinstance(point, dict) or not isinstance(point.get("name"), str):
        raise UserError(f"{root / SUMMARY_FILE} is damaged (a point without a name)", _AGAIN)
    values = point.get("values") or {}
    label = label_of(values)
    state = str(point.get("state", "done"))
    folder = root / point["name"]
    if is_run(folder):
        run = read_run(folder, label, values, state)
        return dataclasses.replace(run, point=str(point.get("id") or point.get("point_id") or ""))
    return RunSummary(  # a failed point leaves no run folder
        path=folder,
        label=label,
        values=dict(values),
        state=state,
        epochs=int(point.get("epochs") or 0),
        rows=(),
        figures=dict.fromkeys(METRICS),
        point=str(point.get("id") or point.get("point_id") or ""),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{path} is damaged ({type(exc).__name__}: {exc})", _AGAIN) from None


def _swept(sweep: dict[str, Any], runs: list[RunSummary]) -> list[str]:
    keys: list[str] = []
    for source in (sweep.get("grid"), sweep.get("random")):
        if isinstance(source, dict):
            keys += [k for k in source if k not in keys]
    for run in runs:
        keys += [k for k in run.values if k not in keys]
    return sorted(keys, key=lambda k: k == SEED_KEY)  # the seed last


def short_key(key: str) -> str:
    """``train.lr`` → ``lr``, ``train.seed`` → ``seed``, ``model.hidden`` → ``hidden``."""
    return key.rsplit(".", 1)[-1]


def show_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list | tuple):
        return "x".join(show_value(v) for v in value) or "[]"
    return str(value)


def label_of(values: dict[str, Any]) -> str:
    """A point's label: its swept values, the seed last (``lr=0.01 optimizer=adam seed=1``)."""
    keys = sorted(values, key=lambda k: k == SEED_KEY)
    return " ".join(f"{short_key(k)}={show_value(values[k])}" for k in keys) or "base"


def parse_sort(spec: str | None, descending: bool = False) -> tuple[str, bool] | None:
    """``--sort`` as (column, descending): ``-best_test_acc`` sorts from the highest.

    Raises:
        UserError: naming the column and the columns there are.
    """
    if not spec:
        return None
    name = spec.strip()
    if name.startswith("-"):
        name, descending = name[1:], True
    if name not in SORT_KEYS and "." not in name:
        raise UserError(
            f"cannot sort by '{name}': no such column",
            f"sort by one of {', '.join(SORT_KEYS)}, or a swept key such as train.lr",
        )
    return name, descending


def sort_runs(runs: Iterable[RunSummary], key: str, descending: bool = False) -> list[RunSummary]:
    """The runs in the order of ``key``: a figure, epochs, label, state or a swept key; a run
    without that figure (or with NaN) comes last either way."""

    def value(run: RunSummary) -> Any:
        if key in METRICS:
            return _finite(run.figures.get(key))
        if key in ("epochs", "label", "state"):
            return getattr(run, key)
        return run.values.get(key)

    have = [r for r in runs if value(r) is not None]
    missing = [r for r in runs if value(r) is None]
    try:
        ordered = sorted(have, key=value, reverse=descending)
    except TypeError:  # a swept key with values of different kinds
        ordered = sorted(have, key=lambda r: str(value(r)), reverse=descending)
    return ordered + missing


def default_metric(comparison: Comparison) -> str:
    """The figure a sweep is judged by: best validation loss, or best test loss without one."""
    return "best_val_loss" if comparison.validation else "best_test_loss"


def check_metric(name: str) -> str:
    """Raises a UserError unless ``name`` is one of ``METRICS``."""
    if name not in METRICS:
        raise UserError(
            f"'{name}' is not a figure runs are compared by", f"use one of {', '.join(METRICS)}"
        )
    return name


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def by_value(comparison: Comparison, key: str, metric: str) -> list[Series]:
    """``metric`` against the swept ``key``: one series per combination of the other swept
    keys (the seed aside), its mean over seeds at each value with the lowest and highest."""
    others = [k for k in comparison.swept if k not in (key, SEED_KEY)]
    groups: dict[str, dict[Any, list[float]]] = {}
    for run in comparison.runs:
        if key not in run.values:
            continue
        name = label_of({k: run.values.get(k) for k in others}) if others else metric
        value = run.figures.get(metric)
        at = groups.setdefault(name, {}).setdefault(_hashable(run.values[key]), [])
        at.append(math.nan if value is None else value)
    out = []
    for name, points in groups.items():
        xs = list(points)
        if not any(isinstance(x, str | bool | tuple) for x in xs):
            xs.sort()
        stats = [_spread(points[x]) for x in xs]
        out.append(
            Series(
                label=name,
                x=[list(x) if isinstance(x, tuple) else x for x in xs],
                y=[s[0] for s in stats],
                low=[s[1] for s in stats],
                high=[s[2] for s in stats],
            )
        )
    return out


def curves_of(comparison: Comparison) -> tuple[list[Series], str]:
    """The held-out loss per epoch of each run (of each point's mean over seeds, in a sweep
    with seeds), and what it is ("validation loss", "test loss")."""
    what = "validation loss" if comparison.validation else "test loss"
    groups: dict[str, list[RunSummary]] = {}
    for run in comparison.runs:
        if not run.rows:
            continue
        values = {k: v for k, v in run.values.items() if k != SEED_KEY}
        name = label_of(values) if run.values and SEED_KEY in run.values else run.label
        groups.setdefault(name, []).append(run)
    out = []
    for name, runs in groups.items():
        by_epoch: dict[int, list[float]] = {}
        for run in runs:
            for row in run.rows:
                loss = row.val_loss if row.val_loss is not None else math.nan
                by_epoch.setdefault(row.epoch, []).append(loss)
        epochs = sorted(by_epoch)
        ys = [_mean(by_epoch[e]) for e in epochs]
        seeds = f" (mean of {len(runs)} seeds)" if len(runs) > 1 else ""
        out.append(Series(label=name + seeds, x=epochs, y=ys))
    return out, what


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if len(finite) == len(values) and finite else math.nan


def _spread(values: list[float]) -> tuple[float, float, float]:
    """Mean, lowest and highest of a point's seeds (NaN when one of them has no figure)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, math.nan
    return _mean(values), min(finite), max(finite)
