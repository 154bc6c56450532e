"""``dltui compare``: runs side by side — a table, their loss curves, and a sweep's figure
against each swept value.

::

    dltui compare runs/spiral-20250101-120000 runs/spiral-20250101-130000
    dltui compare sweeps/spiral-lr [--sort best_val_loss | --sort=-best_test_acc | --desc]
    dltui compare sweeps/spiral-lr --metric best_test_acc --json

The table has a row per run: its label (a sweep's point: its swept values), state, epochs, and
its final and best loss and accuracy. The first plot overlays the runs' held-out loss per epoch
(in a sweep with seeds, each point's mean over its seeds); for a sweep, one more plot per swept
key draws ``--metric`` (default: best validation loss, or best test loss without a validation
part) against its values — the mean over seeds marked, the lowest to the highest seed as a bar,
the best point as ★. ``--json`` prints the table's records instead, for scripts.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.errors import UserError
from tui.compare import plots
from tui.compare.records import (
    SEED_KEY,
    SORT_KEYS,
    Comparison,
    RunSummary,
    by_value,
    check_metric,
    curves_of,
    default_metric,
    load,
    parse_sort,
    short_key,
    show_value,
    sort_runs,
)

CURVE_HEIGHT = 16
MIN_WIDTH = 40
SWEEP_HEIGHT = 14
# The table's figure columns, in order: (record key, header).
COLUMNS = (
    ("final_train_loss", "train\nloss"),
    ("final_val_loss", "val\nloss"),
    ("final_test_loss", "test\nloss"),
    ("best_val_loss", "best val\nloss"),
    ("best_test_loss", "best test\nloss"),
    ("final_train_acc", "train\nacc"),
    ("final_val_acc", "val\nacc"),
    ("final_test_acc", "test\nacc"),
    ("best_val_acc", "best val\nacc"),
    ("best_test_acc", "best test\nacc"),
)

# Which figures stay when the table is narrow: the held-out ones first, then accuracies.
PRIORITY = (
    "final_train_loss",
    "final_val_loss",
    "best_val_loss",
    "final_test_loss",
    "best_test_loss",
    "best_val_acc",
    "final_test_acc",
    "best_test_acc",
    "final_val_acc",
    "final_train_acc",
)
FIGURE_WIDTH = 9  # a figure's column with its borders


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare runs or a sweep: a table and terminal plots",
        description="Compare run folders (dltui train) or one sweep folder (dltui sweep): a "
        "table of their final and best figures, their loss curves overlaid, and for a sweep "
        "the chosen figure against each swept value.",
        epilog="Sort from the highest with --sort=-NAME or --desc. Figures: final_ or best_, "
        "then train_, val_ or test_, then loss or acc (e.g. best_val_loss).",
    )
    p.add_argument("paths", nargs="+", metavar="RUN|SWEEP", help="run folders, or one sweep folder")
    p.add_argument("--sort", metavar="NAME", help="sort the table by a figure or a swept key")
    p.add_argument("--desc", action="store_true", help="sort from the highest value down")
    p.add_argument(
        "--metric",
        metavar="NAME",
        help="the figure a sweep is plotted by (default best_val_loss, or best_test_loss "
        "without a validation part)",
    )
    p.add_argument("--json", action="store_true", help="print the table's records as JSON")
    p.add_argument("--width", type=int, metavar="N", help="draw N columns wide")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sort = parse_sort(args.sort, args.desc)
    metric = check_metric(args.metric) if args.metric else None
    comparison = load(args.paths)
    runs = comparison.runs
    if sort is not None:
        check_swept(comparison, sort[0])
        runs = sort_runs(runs, *sort)
    if args.json:
        print(json.dumps([r.record() for r in runs], indent=2))
        return 0
    if args.width is not None and args.width < MIN_WIDTH:
        raise UserError(
            f"--width {args.width} is too narrow to draw in", f"use at least {MIN_WIDTH}"
        )
    width = args.width
    console = Console(highlight=False, width=width)
    width = console.width
    console.print(Text(_title(comparison), style="bold"))
    console.print(table(comparison, runs, width))
    series, what = curves_of(comparison)
    if series:
        console.print()
        _print(console, plots.curves(series, width, CURVE_HEIGHT, what))
    if comparison.sweep is not None:
        metric = metric or default_metric(comparison)
        for key in [k for k in comparison.swept if k != SEED_KEY]:
            console.print()
            _print(console, sweep_plot(comparison, key, metric, width))
    return 0


def check_swept(comparison: Comparison, key: str) -> None:
    """A key of the config to sort by must be one the runs were swept over."""
    if key in SORT_KEYS or key in comparison.swept:
        return
    swept = ", ".join(comparison.swept) or "none: these runs are not a sweep"
    raise UserError(f"cannot sort by '{key}': it is not swept", f"the swept keys are {swept}")


def _title(comparison: Comparison) -> str:
    n = len(comparison.runs)
    if comparison.sweep is None:
        return f"{n} run{'s' if n != 1 else ''}"
    name = comparison.sweep.get("name") or (comparison.path.name if comparison.path else "")
    seeds = comparison.sweep.get("seeds") or 1
    grid = ", ".join(short_key(k) for k in comparison.swept if k != SEED_KEY) or "nothing"
    text = f"sweep {name}: {n} point{'s' if n != 1 else ''} over {grid}"
    text += f", {seeds} seeds each" if isinstance(seeds, int) and seeds > 1 else ""
    if comparison.pending:
        text += f" ({comparison.pending} not finished)"
    return text


def table(comparison: Comparison, runs: list[RunSummary], width: int = 1000) -> Table:
    """A row per run; figures no run measured (validation, accuracy) left out, and the least
    telling ones (``PRIORITY``'s last) where ``width`` cannot hold them all."""
    measured = [k for k in PRIORITY if any(r.figures.get(k) is not None for r in runs)]
    longest = max((len(r.label) for r in runs), default=4)
    room = (width - min(longest, 32) - 3 - 8 - 9) // FIGURE_WIDTH
    keep = set(measured[: max(room, 2)])
    shown = [(k, h) for k, h in COLUMNS if k in keep]
    out = Table(show_edge=False, pad_edge=False, header_style="bold")
    name = "run" if comparison.sweep is None else "point"
    out.add_column(name, overflow="fold", min_width=min(longest, 32))
    out.add_column("state")
    out.add_column("epochs", justify="right")
    for _, header in shown:
        out.add_column(header, justify="right")
    for r in runs:
        style = "red" if r.state in ("diverged", "failed") else ""
        cells = [_cell(k, r.figures.get(k)) for k, _ in shown]
        out.add_row(r.label, Text(r.state, style=style), f"{r.epochs:,}", *cells)
    return out


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    if not math.isfinite(value):
        return "diverged" if key.endswith("loss") else "–"
    if key.endswith("acc"):
        return f"{100 * value:.1f}%"
    return plots.number(value)


def sweep_plot(comparison: Comparison, key: str, metric: str, width: int) -> list[plots.Line]:
    """``metric`` against the swept ``key``, with a line naming the best point."""
    series = by_value(comparison, key, metric)
    lower = metric.endswith("loss")
    seeds = any(len(r.values) and SEED_KEY in r.values for r in comparison.runs)
    what = f"{metric} (mean over seeds, bar: lowest to highest)" if seeds else metric
    lines, best = plots.against(series, width, SWEEP_HEIGHT, what, short_key(key), lower)
    if len(series) > 1:
        lines += plots.legend([s.label for s in series], width)
    if best is not None:
        s = series[best[0]]
        x, y = s.x[best[1]], s.y[best[1]]
        where = f"{short_key(key)}={show_value(x)}" + (f" ({s.label})" if len(series) > 1 else "")
        value = f"{100 * y:.1f}%" if metric.endswith("acc") else plots.number(y)
        lines.append([(f"{plots.BEST} best: {where}, {metric} {value}", "bold")])
    return lines


def _print(console: Console, lines: list[plots.Line]) -> None:
    for line in lines:
        text = Text(no_wrap=True, overflow="crop")
        for piece, style in line:
            text.append(piece, style=style or None)
        console.print(text)


def records(comparison: Comparison) -> list[dict[str, Any]]:
    """The table's rows as plain records (what ``--json`` prints)."""
    return [r.record() for r in comparison.runs]
