"""A sweep's folder: its plan (sweep.json), its summary (summary.csv and .json), its runs.

::

    OUT/sweep.json     the base experiment, the grid, the random draws, the seeds and every
                       point (id, name, values): what ``--resume`` runs the rest from
    OUT/summary.csv    one row per finished point: its values, state, epochs, seconds and
                       the final and best figures
    OUT/summary.json   {"sweep": <sweep.json>, "points": [one record per finished point]}
    OUT/<point name>/  an ordinary run folder, as ``dltui train`` writes one

The summary is rewritten whole and atomically after every point, so a sweep stopped at any
moment leaves a summary of the points it finished.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.experiment.checkpoint import write_text
from engine.experiment.runfiles import CHECKPOINT, make_sibling, rename_into, write
from engine.sweep.point import FINISHED_STATES, PointResult

PLAN, SUMMARY_CSV, SUMMARY_JSON = "sweep.json", "summary.csv", "summary.json"
FIGURE_COLUMNS = (
    "final_train_loss",
    "final_val_loss",
    "final_test_loss",
    "final_train_acc",
    "final_val_acc",
    "final_test_acc",
    "best_val_loss",
    "best_test_loss",
    "best_val_acc",
    "best_test_acc",
)


def write_plan(out: Path, plan: Mapping[str, Any]) -> None:
    write(out / PLAN, lambda: write_text(out / PLAN, json.dumps(plan, indent=1) + "\n"))


def read_plan(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The plan and the summary's records of a sweep folder (for ``--resume``)."""
    hint = "pass a folder that `dltui sweep` wrote"
    if not (out / PLAN).is_file():
        raise UserError(f"{out} is not a sweep folder: it has no {PLAN}", hint)
    try:
        plan = json.loads((out / PLAN).read_text(encoding="utf-8"))
        records = []
        if (out / SUMMARY_JSON).is_file():
            records = json.loads((out / SUMMARY_JSON).read_text(encoding="utf-8"))["points"]
        if not isinstance(plan, dict) or not isinstance(records, list):
            raise ValueError("not the expected layout")
        if "base" not in plan or not isinstance(plan.get("points"), list):
            raise KeyError("base or points")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{out}: {PLAN} or {SUMMARY_JSON} is damaged ({type(exc).__name__}: {exc})",
            "start the sweep again in a new folder",
        ) from None
    return plan, [r for r in records if isinstance(r, dict)]


def is_finished(out: Path, record: Mapping[str, Any]) -> bool:
    """A point ``--resume`` skips: finished, with its run folder still there."""
    name = str(record.get("name", ""))
    return (
        record.get("state") in FINISHED_STATES
        and bool(name)
        and (out / name / CHECKPOINT).is_file()
    )


def write_run(out: Path, name: str, files: Mapping[str, bytes]) -> None:
    """``files`` as the run folder ``out/name``, which appears whole (built beside it, then
    renamed into place); a folder left there by an earlier try is replaced."""
    target = out / name

    def place() -> None:
        build = make_sibling(target)
        try:
            for filename, data in files.items():
                (build / Path(filename).name).write_bytes(data)
            if target.exists():
                shutil.rmtree(target)
            rename_into(build, target)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise

    write(target, place)


def record(result: PointResult, name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """One point's summary record: the result without its files, with its name and values."""
    return {"name": name, "values": dict(values), **result.record()}


def write_summary(out: Path, plan: Mapping[str, Any], records: list[dict[str, Any]]) -> None:
    """summary.json and summary.csv, each atomically, the points in id order."""
    records = sorted(records, key=lambda r: str(r["id"]))
    text = json.dumps({"sweep": plan, "points": records}, indent=1) + "\n"
    write(out / SUMMARY_JSON, lambda: write_text(out / SUMMARY_JSON, text))
    table = summary_csv(plan, records)
    write(out / SUMMARY_CSV, lambda: write_text(out / SUMMARY_CSV, table))


def summary_csv(plan: Mapping[str, Any], records: list[dict[str, Any]]) -> str:
    """The summary as CSV: id, name, each swept key, state, epochs, seconds, the figures."""
    keys: list[str] = []
    for point in plan.get("points", []):
        keys += [k for k in point.get("values", {}) if k not in keys]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "name", *keys, "state", "epochs", "seconds", *FIGURE_COLUMNS, "error"])
    for rec in records:
        values = rec.get("values", {})
        figures = []
        for column in FIGURE_COLUMNS:
            part, _, key = column.partition("_")
            figures.append(_cell(rec.get(part, {}).get(key)))
        writer.writerow(
            [
                rec["id"],
                rec.get("name", ""),
                *(_cell(values.get(k)) for k in keys),
                rec.get("state", ""),
                rec.get("epochs", ""),
                _cell(rec.get("seconds")),
                *figures,
                rec.get("error", ""),
            ]
        )
    return buf.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict, bool)):
        return json.dumps(value)
    return str(value)
