"""One point of a sweep: its experiment trained into a run folder, returned as bytes.

``run_point`` is the unit of work every executor ships, to a local process or a Dask worker: a
top-level function of one picklable ``PointTask``. It trains exactly as ``dltui train`` does
(``RunDir.create`` then ``train``) into a temporary folder and returns the folder's files with
the figures the summary needs, so the machine that asked writes the run folder itself and a
remote worker needs no shared disk. A point whose loss diverged is a result like any other;
only an error (a data set that cannot load, a network too large) makes it "failed".
"""

from __future__ import annotations

import math
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.events import Epoch

STATES = ("done", "diverged", "early_stopping", "failed")
FINISHED_STATES = ("done", "diverged", "early_stopping")
"""The states of a point that ``--resume`` does not run again."""

FINAL_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
BEST_KEYS = ("val_loss", "val_acc", "test_loss", "test_acc")
_OUTCOME_STATE = {"epochs": "done", "complete": "done", "early_stopping": "early_stopping"}


@dataclass(frozen=True)
class Point:
    """One combination of swept values.

    Attributes:
        id: its number in the sweep, e.g. ``"p003"``.
        values: swept key → value, ``"train.seed"`` included when seeds are swept.
        name: the name of its run folder, e.g. ``"p003-lr0.01-adam-s1"``.
    """

    id: str
    values: dict[str, Any]
    name: str


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to train one point: the point and its whole experiment.

    Attributes:
        point: the point.
        config: the point's experiment as ``Experiment.to_dict()``.
        threads: Numba and BLAS threads the worker trains on.
    """

    point: Point
    config: dict[str, Any]
    threads: int = 1


@dataclass
class PointResult:
    """How one point ended, with its run folder's files.

    Attributes:
        point_id: the point's id.
        state: "done", "diverged", "early_stopping" or "failed".
        final: train/val/test loss and accuracy of the last epoch (None where not measured;
            without a validation split the held-out figures are the test set's).
        best: the best val/test loss (lowest) and accuracy (highest) over the epochs.
        epochs: whole epochs trained.
        seconds: wall time of the point, building included.
        error: what went wrong, for a failed point.
        files: the run folder's files by name (config.toml, metrics.csv, checkpoint.npz).
    """

    point_id: str
    state: str
    final: dict[str, float | None] = field(default_factory=dict)
    best: dict[str, float | None] = field(default_factory=dict)
    epochs: int = 0
    seconds: float = 0.0
    error: str = ""
    files: dict[str, bytes] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The result as plain data, without the files (one entry of summary.json)."""
        return {
            "id": self.point_id,
            "state": self.state,
            "final": dict(self.final),
            "best": dict(self.best),
            "epochs": self.epochs,
            "seconds": self.seconds,
            "error": self.error,
        }


def set_threads(threads: int) -> None:
    """Numba's and BLAS's threads for this process (at most what Numba started with)."""
    import numba

    from engine.threads import set_blas_threads

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    set_blas_threads(max(1, threads))


def run_point(task: PointTask) -> PointResult:
    """Trains ``task``'s point as ``dltui train`` would and returns its result and files."""
    start = time.perf_counter()
    try:
        set_threads(task.threads)
        with tempfile.TemporaryDirectory(prefix="dltui-point-") as tmp:
            return _train(task, Path(tmp) / task.point.name, start)
    except Exception as exc:  # a point that cannot run is a result; the sweep goes on
        from engine.errors import UserError

        text = exc.message if isinstance(exc, UserError) else _short_traceback(exc)
        return PointResult(task.point.id, "failed", seconds=time.perf_counter() - start, error=text)


def _train(task: PointTask, path: Path, start: float) -> PointResult:
    from engine.experiment.config import Experiment
    from engine.experiment.runs import RunDir, train

    experiment = Experiment.from_dict(task.config, task.point.name)
    run = experiment.build()
    rundir = RunDir.create(path, run)
    # Saved at the first epoch and at the end: the weights do not depend on how often.
    outcome = train(run, rundir, save_every=math.inf)
    rows = rundir.rows
    has_val = run.data.X_val is not None
    if outcome.diverged is not None or outcome.reason == "diverged":
        state = "diverged"
    else:
        state = _OUTCOME_STATE.get(outcome.reason, "done")
    files = {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}
    return PointResult(
        task.point.id,
        state,
        final=final_figures(rows[-1] if rows else None, has_val),
        best=best_figures(rows, has_val),
        epochs=outcome.epochs_done,
        seconds=time.perf_counter() - start,
        files=files,
    )


def final_figures(row: Epoch | None, has_val: bool) -> dict[str, float | None]:
    """The last epoch's figures under FINAL_KEYS; the test set's are the held-out ones when
    the run has no validation split (its rows then report the test set as ``val_*``)."""
    if row is None:
        return dict.fromkeys(FINAL_KEYS)
    held_out = _held_out(row, has_val)
    return {
        "train_loss": _finite(row.train_loss),
        "train_acc": _finite(row.train_acc),
        **{key: _finite(value) for key, value in held_out.items()},
    }


def best_figures(rows: list[Epoch], has_val: bool) -> dict[str, float | None]:
    """The lowest loss and highest accuracy on the validation and test sets over ``rows``."""
    out: dict[str, float | None] = {}
    for key in BEST_KEYS:
        values = [v for row in rows if (v := _finite(_held_out(row, has_val)[key])) is not None]
        pick = min if key.endswith("loss") else max
        out[key] = pick(values) if values else None
    return out


def _held_out(row: Epoch, has_val: bool) -> dict[str, float | None]:
    if has_val:
        return {
            "val_loss": row.val_loss,
            "val_acc": row.val_acc,
            "test_loss": row.test_loss,
            "test_acc": row.test_acc,
        }
    return {"val_loss": None, "val_acc": None, "test_loss": row.val_loss, "test_acc": row.val_acc}


def _finite(value: float | None) -> float | None:
    """A figure for JSON: a NaN or infinite loss (a diverged epoch) is None."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _short_traceback(exc: BaseException) -> str:
    lines = traceback.format_exception(exc)
    return "".join(lines[-3:]).strip()
