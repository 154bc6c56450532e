"""A person's own table, loaded as ``csv:PATH``.

The file format, as the README states it:

* comma-separated (``delimiter=`` changes it), UTF-8, every value a finite number;
* the first line is a header of column names when none of its fields is a number, and data
  otherwise, in which case the columns are called ``col0``, ``col1``, ...;
* blank lines and lines starting with ``#`` are skipped;
* every line has as many fields as the first one;
* every value lies within ±3.4e38, the range of float32, the narrowest type a network computes in;
* the file is a regular text file of at most :data:`MAX_BYTES` (not a device, pipe or folder, and
  no NUL bytes, which only binary files hold).

Any breach is reported with the file, the line number and the fix, since a table typed or
exported by hand is the input most likely to be wrong.
"""

from __future__ import annotations

import csv
import math
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.datasets import options as opt
from engine.datasets.split import DataSplit, make_rng, make_split, split_indices, standardize
from engine.errors import UserError

MAX_AUTO_CLASSES = 20
"""``task="auto"`` treats an integer target with at most this many values as class labels."""

TASK_CHOICES = ("auto", "classification", "regression")

MAX_BYTES = 100_000_000
"""The largest file read. The reader parses every field in Python (a few MB/s) and holds rows as
Python floats (about ten times the text in memory), so 100 MB already takes about a minute and a
gigabyte; a larger table should be subsampled or saved in a binary format first."""

MAX_VALUE = float(np.finfo(np.float32).max)
"""The largest magnitude a value may have: beyond it a float32 network would see infinity, and
standardising the column in float64 (squares of values near 1e300) would overflow to zeros."""


@dataclass(frozen=True)
class Table:
    """The numbers of a CSV file and the names of its columns."""

    columns: tuple[str, ...]
    values: npt.NDArray[np.float64]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _skipped(fields: list[str]) -> bool:
    """Blank lines and ``#`` comment lines carry no data."""
    return (
        not fields
        or (len(fields) == 1 and not fields[0].strip())
        or (fields[0].lstrip().startswith("#"))
    )


def _header(path: Path, line: int, fields: list[str]) -> tuple[str, ...] | None:
    """Return column names if ``fields`` is a header line, None if it is already data."""
    numeric = [_number(f) is not None for f in fields]
    if all(numeric):
        return None
    if any(numeric):
        raise UserError(
            f"{path}, line {line}: the first line mixes column names and numbers",
            "make the first line all column names (a header) or all numbers (no header)",
        )
    names = tuple(f.strip() for f in fields)
    if len(set(names)) != len(names) or not all(names):
        raise UserError(
            f"{path}, line {line}: column names must be distinct and non-empty",
            "give every column its own name in the header line",
        )
    return names


def _parse_row(path: Path, line: int, fields: list[str], columns: tuple[str, ...]) -> list[float]:
    if len(fields) != len(columns):
        raise UserError(
            f"{path}, line {line}: expected {len(columns)} fields, found {len(fields)}",
            "give every line one value per column, separated by the delimiter",
        )
    row = []
    for name, text in zip(columns, fields):
        value = _number(text)
        if value is None:
            raise UserError(
                f"{path}, line {line}, column {name!r}: {text.strip()!r} is not a finite number",
                "replace it with a number (missing values are not supported; drop the row)",
            )
        if abs(value) > MAX_VALUE:
            raise UserError(
                f"{path}, line {line}, column {name!r}: {text.strip()} is too large "
                f"(values must lie within ±{MAX_VALUE:.3g}, the range of float32)",
                f"rescale column {name!r}: divide it by a power of ten or take its logarithm",
            )
        row.append(value)
    return row


def _check_file(path: Path) -> None:
    """Refuse, before reading, what would never end or could not be a table."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file", "check the path after 'csv:'") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc})", "check the path after 'csv:'") from None
    if not stat.S_ISREG(info.st_mode):
        raise UserError(
            f"{path}: not a regular file (a folder, device or pipe)",
            "give the path of a CSV file after 'csv:'",
        )
    if info.st_size > MAX_BYTES:
        raise UserError(
            f"{path}: {info.st_size / 1e6:.0f} MB is over the {MAX_BYTES / 1e6:.0f} MB a CSV "
            "table may have",
            "subsample the rows (or drop columns) into a smaller file",
        )


def _lines(path: Path, f: Iterable[str]) -> Iterator[str]:
    """The file's lines, stopping at binary content and at a file that grows past the limit."""
    read = 0
    for line in f:
        read += len(line)
        if "\0" in line:
            raise UserError(
                f"{path}: holds NUL bytes, so it is a binary file, not a CSV table",
                "export the table as comma-separated text",
            )
        if read > MAX_BYTES:
            raise UserError(
                f"{path}: grew past {MAX_BYTES / 1e6:.0f} MB while being read",
                "give a finished file of at most that size",
            )
        yield line


def read_table(path: Path, delimiter: str = ",") -> Table:
    """Read a numeric CSV file, with or without a header line.

    Raises:
        UserError: if the file is missing, not a regular file, over :data:`MAX_BYTES`, binary,
            unreadable, empty or malformed (with its line number), or holds a value out of range.
    """
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        raise UserError(
            f"{path}: delimiter={delimiter!r} is not a single separator character",
            "pass delimiter as one character, such as ',' or ';' or '\\t'",
        )
    _check_file(path)
    columns: tuple[str, ...] | None = None
    rows: list[list[float]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(_lines(path, f), delimiter=delimiter)
            for fields in reader:
                if _skipped(fields):
                    continue
                if columns is None:
                    columns = _header(path, reader.line_num, fields)
                    if columns is not None:
                        continue
                    columns = tuple(f"col{i}" for i in range(len(fields)))
                rows.append(_parse_row(path, reader.line_num, fields, columns))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file", "check the path after 'csv:'") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read it ({exc})", "save it as UTF-8 text") from None
    if columns is None or not rows:
        raise UserError(f"{path}: the file has no data rows", "add a header line and data rows")
    if len(columns) < 2:
        raise UserError(
            f"{path}: only one column; a table needs input columns and a target column",
            "add at least one input column",
        )
    return Table(columns, np.array(rows, dtype=np.float64))


def _target_index(path: Path, columns: tuple[str, ...], target: str | int | None) -> int:
    if target is None:
        return len(columns) - 1
    if isinstance(target, int) and not isinstance(target, bool):
        if -len(columns) <= target < len(columns):
            return target % len(columns)
    elif target in columns:
        return columns.index(target)
    raise UserError(
        f"{path}: no column {target!r} to use as target",
        f"pass target= one of {', '.join(columns)} (or a column index)",
    )


def _classes(
    path: Path, y: npt.NDArray[np.float64], task: str
) -> tuple[str, npt.NDArray[np.int64] | None, tuple[str, ...] | None]:
    """Decide the task and, for classification, map target values to 0..k-1.

    Returns:
        The task, the class index per row (None for regression) and a name per class.
    """
    if task not in TASK_CHOICES:
        raise UserError(f"{path}: task={task!r} is not known", f"use one of {TASK_CHOICES}")
    values, index = np.unique(y, return_inverse=True)
    integral = bool(np.all(values == np.round(values)))
    if task == "auto":
        few = 2 <= len(values) <= min(MAX_AUTO_CLASSES, len(y) // 2)
        task = "classification" if integral and few else "regression"
    if task == "regression":
        return "regression", None, None
    if len(values) < 2:
        raise UserError(
            f"{path}: the target has a single value, so there is nothing to classify",
            "choose another target column or task='regression'",
        )
    names = tuple(str(int(v)) if integral else repr(float(v)) for v in values)
    return ("binary" if len(values) == 2 else "multiclass"), index.astype(np.int64), names


def load_csv(
    path: str | Path,
    *,
    target: str | int | None = None,
    task: str = "auto",
    test_fraction: float = 0.2,
    seed: int | np.random.Generator = 0,
    standardize_inputs: bool = True,
    delimiter: str = ",",
) -> DataSplit:
    """Load a person's CSV table and split it.

    Args:
        path: the file.
        target: name or index of the target column; None takes the last column.
        task: "classification", "regression", or "auto": an integer-valued target with 2 to
            :data:`MAX_AUTO_CLASSES` distinct values (and at least two rows per value on
            average) is taken as class labels, anything else as a quantity to regress.
        test_fraction: share held out for testing; stratified by class for classification.
        seed: seed or generator for the cut.
        standardize_inputs: centre and scale inputs with training-part statistics, since a
            person's columns come in any units.
        delimiter: the field separator.
    """
    path = Path(path).expanduser()
    source = f"csv:{path}"
    test_fraction = opt.check_fraction(source, test_fraction)
    rng = make_rng(opt.check_seed(source, seed))
    table = read_table(path, delimiter)
    t = _target_index(path, table.columns, target)
    y = table.values[:, t]
    X = np.delete(table.values, t, axis=1)
    kind, labels, class_names = _classes(path, y, task)
    rows = split_indices(len(y), test_fraction, rng, labels=labels, source=source)
    if standardize_inputs:
        X = standardize(X, rows[0])
    return make_split(
        X,
        y if labels is None else labels,
        rows,
        name=source,
        task=kind,
        n_classes={"regression": 0, "binary": 2}.get(kind, len(class_names or ())),
        feature_names=tuple(c for i, c in enumerate(table.columns) if i != t),
        class_names=class_names,
    )
