"""metrics.csv: one row per epoch, appended as training goes, never rewritten whole; and
metrics.jsonl, the same epochs (and each step, when asked) as JSON records (:class:`JsonlLog`).

A long run of a toy data set trains hundreds of thousands of epochs; keeping every row in memory
and rewriting the file at each save made memory grow with the run and saves slow down as the file
grew. :class:`MetricsLog` keeps only the rows not yet written and appends them at a save.

An append that a crash cut short leaves a last line without its newline: reading drops it, and
the next append first truncates the file to its last whole row that the checkpoint covers (rows
newer than the checkpoint are dropped the same way). Opening never changes the file: a resume
that fails leaves the folder as it was.

Recovery, documented: a metrics.csv that was emptied (no rows, or not even a header) while the
checkpoint has trained epochs is refused with a message, since resuming would silently drop the
history. Deleting the file is the way to resume without the earlier epochs' rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.events import Epoch, Step
from engine.experiment.checkpoint import write_text

METRIC_FIELDS = (
    "epoch",
    "step",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "seconds",
    "lr",
    "test_loss",
    "test_acc",
)
HEADER = ",".join(METRIC_FIELDS) + "\n"
OLD_FIELDS = METRIC_FIELDS[:8]
"""The columns of files written before the test columns were added: still read (their test
figures are None), and rewritten whole with every column at their next save."""


class MetricsLog:
    """The rows of one metrics.csv: those on disk (read on demand) plus those not yet written.

    Args:
        path: the file.
        keep: bytes of the file that hold whole rows the checkpoint covers; the next write
            truncates the file there first. None: the file is whole as it stands.
    """

    def __init__(self, path: Path, keep: int | None = None) -> None:
        self.path = path
        self.pending: list[Epoch] = []
        self._keep = keep
        self._replace: list[Epoch] | None = None

    @classmethod
    def open(cls, path: Path, epochs_done: int) -> MetricsLog:
        """Checks the file and finds where its rows up to ``epochs_done`` end."""
        if not path.is_file():
            return cls(path, keep=0)
        rows, keep = _read(path, epochs_done)
        if not rows and epochs_done > 0:
            raise UserError(
                f"{path} holds no rows, but the checkpoint has trained {epochs_done} epochs: "
                "the history was emptied",
                "put the file back from a copy, or delete it to resume without the earlier "
                "epochs' rows",
            )
        log = cls(path, keep=keep)
        if _header(path) == OLD_FIELDS:  # appended rows would not match its header
            log.replace(rows)
        return log

    def rows(self) -> list[Epoch]:
        """Every row, first epoch first (read from the file: the log keeps none in memory)."""
        if self._replace is not None:
            return list(self._replace) + self.pending
        on_disk: list[Epoch] = []
        if self.path.is_file():
            on_disk, _ = _read(self.path, None, self._keep)
        return on_disk + self.pending

    def append(self, row: Epoch) -> None:
        self.pending.append(row)

    def replace(self, rows: list[Epoch]) -> None:
        """Makes ``rows`` the whole history (written whole, atomically, at the next flush)."""
        self._replace, self.pending = list(rows), []

    def flush(self) -> None:
        """Writes the pending rows: appended, or the whole file after :meth:`replace`."""
        if self._replace is not None:
            write_text(self.path, HEADER + _lines(self._replace + self.pending))
            self._replace, self.pending, self._keep = None, [], None
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as fh:  # "a": never rewinds past what is on disk
            if self._keep is not None and self._keep < fh.tell():
                fh.truncate(self._keep)
                fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                fh.write(HEADER.encode())
            fh.write(_lines(self.pending).encode())
            fh.flush()
            os.fsync(fh.fileno())
        self.pending, self._keep = [], None


def metrics_csv(rows: list[Epoch]) -> str:
    """The text of metrics.csv: a header, then one row per epoch; a missing value is empty."""
    return HEADER + _lines(rows)


def _lines(rows: list[Epoch]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in METRIC_FIELDS])
    return buf.getvalue()


def _cell(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))


def _read(path: Path, epochs_done: int | None, limit: int | None = None) -> tuple[list[Epoch], int]:
    """The whole rows of ``path`` up to ``epochs_done`` (all: None) and the bytes they end at.

    Only the first ``limit`` bytes are read when given. A last line without its newline is an
    append a crash cut short: it is not a row.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read() if limit is None else fh.read(limit)
        end = data.rfind(b"\n") + 1  # whole lines only
        text = data[:end].decode("utf-8")
        lines = text.splitlines(keepends=True)
        if not lines:
            return [], 0
        header = tuple(next(csv.reader([lines[0]])))
        if header not in (METRIC_FIELDS, OLD_FIELDS):
            raise ValueError(f"its header is {','.join(header)!r}, not {HEADER.strip()!r}")
        rows: list[Epoch] = []
        keep = len(lines[0].encode())
        for line in lines[1:]:
            cells = next(csv.reader([line]))
            row = _row(dict(zip(header, cells, strict=True)))
            if epochs_done is not None and row.epoch > epochs_done:
                break
            rows.append(row)
            keep += len(line.encode())
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{path} is damaged ({type(exc).__name__}: {exc})",
            "delete it to resume without the earlier epochs' rows",
        ) from None
    return rows, keep


def _header(path: Path) -> tuple[str, ...]:
    """The column names on the first line of ``path`` (empty when it has no whole line)."""
    with path.open("rb") as fh:
        first = fh.readline()
    if not first.endswith(b"\n"):
        return ()
    return tuple(next(csv.reader([first.decode("utf-8", "replace")])))


def _row(cells: dict[str, Any]) -> Epoch:
    """One row of metrics.csv as the Epoch event it was written from (a column an older file
    lacks is None)."""
    values: list[Any] = [None if not cells.get(k) else float(str(cells[k])) for k in METRIC_FIELDS]
    return Epoch(int(values[0]), int(values[1]), *values[2:])


class JsonlLog:
    """metrics.jsonl: the same epochs as metrics.csv as JSON records, and each step's when asked.

    One JSON object per line, in the order training made them: ``{"kind": "epoch", ...}`` with
    every column of metrics.csv (a missing value, or a loss that is not finite, is ``null``),
    and with step logging on, ``{"kind": "step", "step", "epoch", "loss", "lr"}`` for each
    mini-batch. Dashboards and scripts read it line by line without a CSV dialect to guess.

    It is written as metrics.csv is: appended at each save, truncated first to the records the
    checkpoint covers (epochs up to its ``epochs_done``, steps up to its step), so a resume
    repeats no record. Rewriting the history (:meth:`replace`) keeps only epoch records.

    Args:
        path: the file.
        keep: bytes of the file that hold whole records the checkpoint covers (see MetricsLog).
    """

    def __init__(self, path: Path, keep: int | None = None) -> None:
        self.path = path
        self.pending: list[str] = []
        self._keep = keep
        self._rewrite = False

    @classmethod
    def open(cls, path: Path, epochs_done: int, steps_done: int) -> JsonlLog:
        """Finds where the file's records up to the checkpoint end; changes nothing yet."""
        if not path.is_file():
            return cls(path, keep=0)
        return cls(path, keep=_jsonl_keep(path, epochs_done, steps_done))

    def add_epoch(self, row: Epoch) -> None:
        record = {"kind": "epoch", **{name: getattr(row, name) for name in METRIC_FIELDS}}
        self.pending.append(_json_line(record))

    def add_step(self, event: Step, lr: float) -> None:
        record = {"kind": "step", "step": event.step, "epoch": event.epoch, "loss": event.loss}
        self.pending.append(_json_line({**record, "lr": lr}))

    def replace(self, rows: list[Epoch]) -> None:
        """Makes ``rows`` the whole file (written whole, atomically, at the next flush)."""
        self.pending, self._rewrite = [], True
        for row in rows:
            self.add_epoch(row)

    def records(self) -> list[dict[str, Any]]:
        """Every record, on disk and pending, first first."""
        lines: list[str] = []
        if self.path.is_file() and not self._rewrite:
            data = self.path.read_bytes()
            data = data[: self._keep] if self._keep is not None else data
            lines = data[: data.rfind(b"\n") + 1].decode("utf-8").splitlines()
        return [json.loads(line) for line in lines + self.pending]

    def flush(self) -> None:
        """Appends the pending records (or writes the whole file after :meth:`replace`)."""
        if self._rewrite:
            write_text(self.path, "".join(self.pending))
            self.pending, self._keep, self._rewrite = [], None, False
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as fh:
            if self._keep is not None and self._keep < fh.tell():
                fh.truncate(self._keep)
                fh.seek(0, os.SEEK_END)
            fh.write("".join(self.pending).encode())
            fh.flush()
            os.fsync(fh.fileno())
        self.pending, self._keep = [], None


def _json_line(record: dict[str, Any]) -> str:
    """One record on one line; a value that is not a finite number becomes null (strict JSON
    has no NaN)."""
    clean = {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()
    }
    return json.dumps(clean, separators=(",", ":")) + "\n"


def _not_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _jsonl_keep(path: Path, epochs_done: int, steps_done: int) -> int:
    """Bytes of ``path`` up to its last whole record the checkpoint covers.

    Raises:
        UserError: for a line that is not a JSON record.
    """
    data = path.read_bytes()
    keep = 0
    for line in data[: data.rfind(b"\n") + 1].splitlines(keepends=True):
        try:
            record = json.loads(line)
            covered = (
                record["epoch"] <= epochs_done
                if record["kind"] == "epoch"
                else record["step"] <= steps_done
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise UserError(
                f"{path} is damaged ({type(exc).__name__}: {exc})",
                "delete it to resume without the earlier records (metrics.csv keeps the epochs)",
            ) from None
        if not covered:
            break
        keep += len(line)
    return keep
