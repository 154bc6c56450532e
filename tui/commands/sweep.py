"""``dltui sweep``: one experiment trained at many points of a grid, in parallel.

::

    dltui sweep --preset spiral --grid train.lr=0.001,0.01,0.1 --grid train.optimizer=sgd,adam
    dltui sweep my.toml --seeds 3 --random 20 --dist "train.lr=loguniform(1e-4,1)"
    dltui sweep --preset digits --grid model.hidden=32,64x64 --scheduler tcp://HOST:8786
    dltui sweep --resume sweeps/spiral-20250101-120000

Every point is made and checked first: a wrong key or value stops the sweep before anything
runs. Points run in local processes, one per core (``--workers N``), or on a Dask cluster
(``--scheduler``). Each one becomes an ordinary run folder in the sweep's folder, beside
summary.csv and summary.json, rewritten as each point ends. A progress bar counts the points
done, running and failed. Ctrl-C stops the sweep: finished points stay, the others are
dropped, and ``--resume`` runs them later.

Exit codes: 0 every point ran (a diverged point is a result), 1 a point failed, 2 a mistake in
the input, 130 stopped by Ctrl-C and 143 by SIGTERM.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.presets import DEFAULT, get_preset
from engine.experiment.validation import MAX_EPOCHS
from engine.sweep import driver
from engine.sweep.grid import parse_distributions, parse_grid
from tui.cli import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

EXIT_FAILED = 1
TABLE_ROWS = 10  # the summary table shows the best points, at most this many


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="train an experiment at every point of a grid, in parallel",
        description="Train an experiment at every point of a grid of config values (and "
        "seeds, and random draws), in local processes or on a Dask cluster. Each point is an "
        "ordinary run folder; summary.csv and summary.json compare them.",
        epilog="A key is section.key, as in a config file: train.lr, train.optimizer, "
        "model.hidden (8x8 or [8, 8]), data.noise. Ctrl-C keeps the finished points; "
        "`dltui sweep --resume DIR` runs the rest. Exit codes: 0 done, 1 a point failed, "
        "2 input error, 130 stopped by Ctrl-C, 143 by SIGTERM.",
    )
    p.add_argument("config", nargs="?", help="an experiment file (TOML)")
    p.add_argument("--preset", help=f"a named experiment (default {DEFAULT})")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="values of one config key to try, e.g. train.lr=0.001,0.01,0.1 (repeat for more "
        "keys: every combination runs)",
    )
    p.add_argument(
        "--seeds", type=int, default=1, metavar="K", help="train every point with seeds 0..K-1"
    )
    p.add_argument("--random", type=int, default=0, metavar="N", help="N random draws of --dist")
    p.add_argument(
        "--dist",
        action="append",
        default=[],
        metavar="KEY=DIST",
        help="a distribution for --random: loguniform(a,b), uniform(a,b) or choice(a,b,...)",
    )
    p.add_argument("--workers", type=int, metavar="N", help="local processes (default: cores)")
    p.add_argument(
        "--scheduler", metavar="tcp://HOST:8786", help="run the points on this Dask cluster"
    )
    p.add_argument("--out", metavar="DIR", help="the sweep's folder (default sweeps/NAME-TIME)")
    p.add_argument("--epochs", type=int, metavar="N", help="replace the config's epochs")
    p.add_argument("--resume", metavar="DIR", help="run the points of DIR's sweep not finished")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Sweeps as ``args`` say; returns the exit code."""
    _check_args(args)
    console = Console(highlight=False)
    if args.resume:
        out = Path(args.resume)
        swept, records = driver.plan_from_folder(out)
    else:
        base = _base(args)
        grid = parse_grid(args.grid, base)
        random: dict[str, Any] = {}
        if args.random or args.dist:
            random = {"n": args.random, **parse_distributions(args.dist, base)}
        swept = driver.plan(base, grid, args.seeds, random)
        out = driver.new_folder(args.out, base.name)
        records = []
    todo = len(swept.points) - len(records)
    executor = driver.make_executor(args.workers, args.scheduler, max(todo, 1))
    where = args.scheduler or f"{getattr(executor, 'workers', 1)} local processes"
    console.print(
        f"[bold]{escape(swept.base.name)}[/]: {len(swept.points)} points, {todo} to run "
        f"on {escape(where)}"
    )
    console.print(f"sweep folder: {out}", markup=False)
    display = _Display(console, len(swept.points), records, getattr(executor, "workers", None))
    try:
        with display:
            records = driver.run(swept, out, executor, records, display.on_result)
    except KeyboardInterrupt as exc:
        display.stop()
        console.print(
            f"stopped: {display.finished} of {len(swept.points)} points finished, kept in {out}."
            f"\nresume with: dltui sweep --resume {out}",
            markup=False,
        )
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    _print_summary(console, records, out)
    failed = [r for r in records if r["state"] == "failed"]
    for rec in failed[:3]:
        console.print(f"[bold red]failed:[/] {escape(rec['name'])}: {escape(rec['error'])}")
    if failed:
        console.print(f"to run the failed points again: dltui sweep --resume {out}", markup=False)
    return EXIT_FAILED if failed else 0


def _check_args(args: argparse.Namespace) -> None:
    if args.resume and (
        args.config or args.preset or args.grid or args.dist or args.random or args.out
    ):
        raise UserError(
            "--resume runs the rest of a sweep as its sweep.json says: it takes no config, "
            "--preset, --grid, --random, --dist or --out",
            "drop those, or start a new sweep without --resume",
        )
    if args.resume and (args.epochs is not None or args.seeds != 1):
        raise UserError("--resume takes no --epochs or --seeds", "start a new sweep to change them")
    if args.config and args.preset:
        raise UserError(
            f"both a config file ({args.config}) and --preset {args.preset} given",
            "choose one of them",
        )
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds} is not a positive number", "e.g. --seeds 3")
    if not args.resume and not args.grid and not args.random and not args.dist and args.seeds < 2:
        raise UserError(
            "nothing to sweep", "add --grid KEY=V1,V2 (e.g. --grid train.lr=0.001,0.01,0.1)"
        )
    if args.random < 0:
        raise UserError(f"--random {args.random} is negative", "e.g. --random 20")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers} is not a positive number", "e.g. --workers 2")
    if args.workers is not None and args.scheduler:
        raise UserError(
            "--workers and --scheduler both given: the cluster has its own workers",
            "drop --workers",
        )
    if args.epochs is not None and not 1 <= args.epochs <= MAX_EPOCHS:
        raise UserError(
            f"--epochs {args.epochs} is not between 1 and {MAX_EPOCHS:,}", "e.g. --epochs 50"
        )


def _base(args: argparse.Namespace) -> Experiment:
    base = Experiment.from_toml(args.config) if args.config else get_preset(args.preset or DEFAULT)
    if args.epochs is not None:
        base = base.replace(train={"epochs": args.epochs})
    return base


class _Display:
    """The sweep's progress: points done, running and failed, and the time left.

    Without a terminal (a log file) it prints one line per finished point instead.
    """

    def __init__(
        self, console: Console, total: int, records: list[dict[str, Any]], workers: int | None
    ) -> None:
        self.console, self.total, self.workers = console, total, workers
        self.counts = {"done": 0, "diverged": 0, "early_stopping": 0, "failed": 0}
        for rec in records:
            self.counts[rec["state"]] = self.counts.get(rec["state"], 0) + 1
        self.skipped = len(records)
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("points"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task("sweep", total=total, completed=self.finished, counts="")
        self._update()

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def __enter__(self) -> _Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def on_result(self, rec: dict[str, Any]) -> None:
        self.counts[rec["state"]] = self.counts.get(rec["state"], 0) + 1
        self._update()
        if self.progress.disable:
            test = rec["final"].get("test_acc")
            acc = "" if test is None else f"  test acc {test:.1%}"
            self.console.print(
                f"{self.finished}/{self.total} {rec['name']}: {rec['state']}, "
                f"{rec['epochs']} epochs, {rec['seconds']:.1f} s{acc}",
                markup=False,
            )

    def _update(self) -> None:
        left = self.total - self.finished
        running = left if self.workers is None else min(self.workers, left)
        c = self.counts
        parts = [f"done {c['done'] + c['early_stopping']}", f"running {running}"]
        parts.append(f"failed {c['failed']}")
        if c["diverged"]:
            parts.append(f"diverged {c['diverged']}")
        self.progress.update(self.task, completed=self.finished, counts=" · ".join(parts))


def _print_summary(console: Console, records: list[dict[str, Any]], out: Path) -> None:
    """The best points by held-out loss (validation if measured, else test), best first; the
    accuracy is the last epoch's on the test set."""

    def loss(rec: dict[str, Any]) -> float:
        best = rec.get("best", {})
        value = best.get("val_loss")
        value = best.get("test_loss") if value is None else value
        return float("inf") if value is None else float(value)

    ranked = sorted(records, key=loss)
    shown = ranked[:TABLE_ROWS]
    title = f"best {len(shown)} of {len(records)} points" if len(records) > len(shown) else None
    table = Table(title=title, title_justify="left")
    table.add_column("point", no_wrap=True)
    table.add_column("state")
    for column in ("epochs", "best loss", "test acc", "time"):
        table.add_column(column, justify="right")
    for rec in shown:
        acc = rec["final"].get("test_acc")
        table.add_row(
            rec["name"],
            rec["state"],
            str(rec["epochs"]),
            "—" if loss(rec) == float("inf") else f"{loss(rec):.4g}",
            "—" if acc is None else f"{acc:.2%}",
            f"{rec['seconds']:.1f} s",
        )
    console.print(table)
    console.print(f"summary: {out / 'summary.csv'} and summary.json", markup=False)
