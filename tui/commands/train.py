"""``dltui train``: trains an experiment headless, into a run folder that can be resumed.

::

    dltui train --preset spiral [--epochs N] [--seed S] [--device cuda] [--out DIR]
    dltui train my-experiment.toml
    dltui train --resume runs/spiral-20250101-120000 [--epochs N]
    dltui train --preset spiral --log-steps --tensorboard

Every run folder holds metrics.csv and metrics.jsonl (one JSON record per epoch); ``--log-steps``
adds one record per mini-batch to metrics.jsonl, and ``--tensorboard`` writes TensorBoard event
files to the run's ``tb/`` folder (``tensorboard --logdir runs`` shows them).

A progress bar shows the epoch, steps per second, loss, accuracy and the time left; a table sums
the run up at the end. The first Ctrl-C (or SIGTERM, as a job scheduler sends) stops at the next
step boundary and saves the state there; ``--resume`` then continues exactly where it stopped.

Exit codes: 0 trained (or nothing was left to train), 1 the loss diverged, 2 a mistake in the
input, 130 stopped by Ctrl-C and 143 by SIGTERM (the shell's codes for them; the state is saved).
"""

from __future__ import annotations

import argparse
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from engine.errors import UserError
from engine.events import Epoch, Event, Step
from engine.experiment.config import Experiment, Run
from engine.experiment.presets import DEFAULT, get_preset
from engine.experiment.runs import (
    Outcome,
    RunDir,
    default_path,
    resume_command,
    stop_on_sigint,
    train,
)
from engine.experiment.validation import MAX_EPOCHS
from engine.warmup import start_background
from tui import describe
from tui.cli import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

if TYPE_CHECKING:
    from engine.experiment.tensorboard import TensorBoardLog

EXIT_DIVERGED = 1
REFRESH_SECONDS = 0.1  # redraw the bar at most ten times a second
LINE_SECONDS = 2.0  # without a terminal: one progress line every so often


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an experiment headless, saving a resumable run",
        description="Train an experiment headless. The run (config.toml, metrics.csv, "
        "metrics.jsonl, checkpoint.npz) goes to runs/NAME-YYYYmmdd-HHMMSS unless --out says "
        "otherwise.",
        epilog="Ctrl-C (or SIGTERM) saves the state; `dltui train --resume DIR` continues it "
        "exactly. Exit codes: 0 done, 1 diverged, 2 input error, 130 stopped by Ctrl-C, "
        "143 stopped by SIGTERM.",
    )
    p.add_argument("config", nargs="?", help="an experiment file (TOML)")
    p.add_argument("--preset", help=f"a named experiment (default {DEFAULT}; see `dltui presets`)")
    p.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    p.add_argument(
        "--epochs",
        type=int,
        metavar="N",
        help=f"train N epochs in all (at most {MAX_EPOCHS:,}, more than any run finishes)",
    )
    p.add_argument("--seed", type=int, metavar="S", help="replace the config's [train] seed")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="train on the CPU or an NVIDIA GPU (replaces the config's [train] device)",
    )
    p.add_argument("--out", metavar="DIR", help="write the run to DIR")
    p.add_argument(
        "--save-every",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="save at the end of an epoch at most this often (default 1; 0: every epoch)",
    )
    p.add_argument(
        "--log-steps",
        action="store_true",
        help="also record every step's loss and lr in metrics.jsonl (and TensorBoard)",
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="write TensorBoard event files to the run's tb/ folder (needs the tensorboard extra)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Trains as ``args`` say; returns the exit code."""
    _check_args(args)
    console = Console(highlight=False)
    if args.tensorboard:  # before any folder is made: a missing extra leaves no trace
        from engine.experiment.tensorboard import summary_writer

        summary_writer()
    rundir, net_run = _resume(args) if args.resume else _start(args)
    if not args.resume and console.is_terminal:
        # Unless the cache holds every kernel and this network's fused one, another process
        # compiles, at low priority, the kernels that this run's fused kernel calls (last
        # first, to meet this run's compile of it half way), then those it does not use, for
        # the runs after it. Not from a script or a pipe: nothing started there outlives the
        # command.
        setup, loss = net_run.experiment.train, net_run.trainer.loss
        start_background(setup.dtype, setup.optimizer, net_run.net, loss, fused_here=True)
    rundir.log_steps = args.log_steps
    board = _tensorboard(args, rundir, net_run)
    _print_header(console, rundir, net_run)
    display = _Display(console, net_run)
    on_event = display.on_event if board is None else _both(board.on_event, display.on_event)
    with stop_on_sigint() as stop, _stop_on_sigterm(stop) as terminated:
        display.stop_requested = stop.is_set
        try:
            with display:
                outcome = train(net_run, rundir, on_event, stop.is_set, save_every=args.save_every)
        except KeyboardInterrupt as exc:
            console.print(
                f"aborted: {rundir.path} keeps its last checkpoint (epoch {rundir.epochs_done}).\n"
                f"resume with: {resume_command(rundir.path)}",
                markup=False,
            )
            return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
        finally:
            if board is not None:
                board.close()
    try:
        _print_summary(console, net_run, rundir, outcome)
    except KeyboardInterrupt as exc:  # the run is saved: only the table is lost
        console.print(f"\nsummary skipped; the run is saved in {rundir.path}", markup=False)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    code = _report_end(console, rundir, outcome, net_run.experiment.train.epochs)
    return EXIT_TERMINATED if code == EXIT_INTERRUPTED and terminated.is_set() else code


def _tensorboard(args: argparse.Namespace, rundir: RunDir, net_run: Run) -> TensorBoardLog | None:
    """The run's TensorBoard log when asked for (tensorboardX loads only then)."""
    if not args.tensorboard:
        return None
    from engine.experiment.tensorboard import TensorBoardLog

    return TensorBoardLog(rundir.path, net_run.net, args.log_steps, net_run.trainer.step)


def _both(first: Callable[[Event], None], then: Callable[[Event], None]) -> Callable[[Event], None]:
    def on_event(event: Event) -> None:
        first(event)
        then(event)

    return on_event


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGTERM as ``stop_on_sigint`` takes Ctrl-C: the first asks ``stop`` to stop at the next
    step boundary (the returned event records that SIGTERM asked), a second one raises."""
    terminated = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield terminated
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise Terminated
        terminated.set()
        stop.set()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_args(args: argparse.Namespace) -> None:
    if args.resume and (args.config or args.preset or args.out or args.seed is not None):
        raise UserError(
            "--resume continues a run as its config.toml says: it takes no config file, "
            "--preset, --seed or --out",
            "drop those, or start a new run without --resume",
        )
    if args.config and args.preset:
        raise UserError(
            f"both a config file ({args.config}) and --preset {args.preset} given",
            "choose one of them",
        )
    if args.epochs is not None and args.epochs < 1:
        raise UserError(f"--epochs {args.epochs} is not a positive number", "e.g. --epochs 10")
    if args.epochs is not None and args.epochs > MAX_EPOCHS:
        raise UserError(
            f"--epochs {args.epochs} is more than the {MAX_EPOCHS:,} a run may have: "
            "so many would run practically forever",
            f"use at most --epochs {MAX_EPOCHS}",
        )
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed {args.seed} is negative", "use 0 or a positive whole number")
    if not args.save_every >= 0:  # NaN fails this too
        raise UserError(
            f"--save-every {args.save_every} is not a number of seconds ≥ 0",
            "e.g. --save-every 5; 0 saves every epoch",
        )


def _start(args: argparse.Namespace) -> tuple[RunDir, Run]:
    """A new run: the experiment with the command line's changes, built, in a new folder."""
    if args.config:
        experiment = Experiment.from_toml(args.config)
    else:
        experiment = get_preset(args.preset or DEFAULT)
    changes = {}
    if args.epochs is not None:
        changes["epochs"] = args.epochs
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.device is not None:
        changes["device"] = args.device
    if changes:
        experiment = experiment.replace(train=changes)
    net_run = experiment.build()  # before the folder exists: a bad config leaves no trace
    path = Path(args.out) if args.out else default_path(experiment.name)
    return RunDir.create(path, net_run), net_run


def _resume(args: argparse.Namespace) -> tuple[RunDir, Run]:
    rundir = RunDir.open(args.resume)
    net_run = rundir.build(device=args.device)
    if args.epochs is not None:
        if args.epochs <= rundir.epochs_done:
            raise UserError(
                f"--epochs {args.epochs}: {rundir.path} has trained {rundir.epochs_done} already",
                f"pass more, e.g. --epochs {rundir.epochs_done + 10}",
            )
        rundir.set_epochs(net_run, args.epochs)
    return rundir, net_run


# ---------------------------------------------------------------------- progress
class _Display:
    """The progress bar, fed by training events and redrawn on a clock, not per step.

    A step of a toy network takes tens of microseconds and drawing the bar about a millisecond,
    so the bar is redrawn at most every ``REFRESH_SECONDS``. Without a terminal (a log file, a
    pipe) it prints a plain line every ``LINE_SECONDS`` instead.
    """

    def __init__(self, console: Console, net_run: Run) -> None:
        self.console = console
        self.target = net_run.experiment.train.epochs
        self.stop_requested = lambda: False
        n = len(net_run.data.X_train)
        batch = net_run.experiment.train.batch_size
        per_epoch = 1 if batch == "full" else math.ceil(n / min(int(batch), n))
        self.step = self._drawn_step = net_run.trainer.step
        self.epoch = net_run.trainer.epoch
        self.last: Epoch | None = None
        self._loss_sum, self._losses = 0.0, 0
        self._drawn = self._lined = time.perf_counter()
        self._rate = ""
        self._lines = self._draws = 0
        self._started = False
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[metrics]}"),
            TimeRemainingColumn(),
            console=console,
            auto_refresh=False,
            disable=not console.is_terminal,
        )
        self.task = self.progress.add_task(
            "train", total=per_epoch * self.target, completed=self.step, **self._fields()
        )

    def __enter__(self) -> _Display:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._draw(time.perf_counter())
        self.progress.stop()

    def on_event(self, event: Event) -> None:
        """Takes one training event; draws when the clock says so."""
        if isinstance(event, Step):
            self.step, self.epoch = event.step, event.epoch
            self._loss_sum += event.loss
            self._losses += 1
        elif isinstance(event, Epoch):
            self.last, self.step, self.epoch = event, event.step, event.epoch
            self._loss_sum, self._losses = 0.0, 0
            self._print_line(event)
        now = time.perf_counter()
        if not self._started:  # kernels compiled or loaded: measure the speed from here on
            self._started = True
            self._draw(now)
        elif now - self._drawn >= REFRESH_SECONDS:
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = now - self._drawn
        if elapsed > 0 and self.step > self._drawn_step and self._draws:
            self._rate = f"{(self.step - self._drawn_step) / elapsed:,.0f} steps/s"
        self._drawn, self._drawn_step, self._draws = now, self.step, self._draws + 1
        self.progress.update(self.task, completed=self.step, **self._fields())
        self.progress.refresh()

    def _fields(self) -> dict[str, Any]:
        epoch = f"{self.epoch}/{self.target}"
        if not self._started:
            epoch += " (preparing kernels)"
        if self.stop_requested():
            epoch += " (stopping…)"
        parts = []
        if self._losses:
            parts.append(f"loss {self._loss_sum / self._losses:.4g}")
        elif self.last is not None:
            parts.append(f"loss {self.last.train_loss:.4g}")
        if self.last is not None and self.last.train_acc is not None:
            parts.append(f"acc {self.last.train_acc:.1%}")
        if self.last is not None and self.last.val_acc is not None:
            parts.append(f"test {self.last.val_acc:.1%}")
        return {"epoch": epoch, "rate": self._rate, "metrics": "  ".join(parts)}

    def _print_line(self, event: Epoch) -> None:
        now = time.perf_counter()
        if not self.progress.disable:
            return
        if now - self._lined >= LINE_SECONDS or not self._lines or event.epoch == self.target:
            self._lined, self._lines = now, self._lines + 1
            fields = self._fields()
            self.console.print(f"epoch {fields['epoch']}  {fields['metrics']}")


# ---------------------------------------------------------------------- messages
def _print_header(console: Console, rundir: RunDir, net_run: Run) -> None:
    exp = net_run.experiment
    summary = describe.summary(exp, net_run.net.output_shape[-1])
    network = f"{net_run.net.n_params:,} parameters"  # the layers are in the summary
    console.print(f"[bold]{escape(exp.name)}[/]: {escape(summary)} · {network}")
    if rundir.epochs_done or net_run.trainer.step:
        console.print(
            f"resuming {rundir.path} at step {net_run.trainer.step:,}, "
            f"{_epochs_done(rundir.epochs_done, exp.train.epochs)}",
            markup=False,
        )
    else:
        console.print(f"run folder: {rundir.path}", markup=False)


def _print_summary(console: Console, net_run: Run, rundir: RunDir, outcome: Outcome) -> None:
    """Final figures, measured with the final weights (dropout off) on both parts of the data."""
    data, trainer = net_run.data, net_run.trainer
    train_loss, train_acc = trainer.evaluate(data.X_train, data.y_train)
    test_loss, test_acc = trainer.evaluate(data.X_test, data.y_test)
    seconds = sorted(row.seconds for row in rundir.rows)
    title = Text(f"{net_run.experiment.name}: {_REASONS[outcome.reason]}")
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("train loss", f"{train_loss:.4g}")
    table.add_row("train accuracy", _percent(train_acc))
    table.add_row("test loss", f"{test_loss:.4g}")
    table.add_row("test accuracy", _percent(test_acc))
    table.add_row("epochs", f"{outcome.epochs_done} of {net_run.experiment.train.epochs}")
    table.add_row("steps", f"{outcome.step:,}")
    table.add_row("time", _duration(outcome.seconds))
    # The median: the first epoch of a session also pays for loading the compiled kernels.
    median = seconds[len(seconds) // 2] if seconds else None
    table.add_row("time per epoch", "—" if median is None else _duration(median))
    table.add_row("saved to", Text(str(rundir.path)))
    console.print(table)


_REASONS = {
    "epochs": "trained",
    "early_stopping": "stopped early (no better test loss for `patience` epochs)",
    "diverged": "diverged",
    "interrupted": "stopped",
    "complete": "nothing left to train",
}


def _report_end(console: Console, rundir: RunDir, outcome: Outcome, epochs: int) -> int:
    resume = resume_command(rundir.path)
    if outcome.reason == "interrupted":
        console.print(
            f"stopped at step {outcome.step:,}, {_epochs_done(outcome.epochs_done, epochs)}; "
            f"the state is saved in {rundir.path}.\nresume with: {resume}",
            markup=False,
        )
        return EXIT_INTERRUPTED
    if outcome.diverged is not None:
        console.print(f"[bold red]diverged:[/] {escape(outcome.diverged.message)}")
        console.print(
            f"the last finite state is saved in {rundir.path}. To go on from it, lower lr in "
            f"{rundir.config_path}, then: {resume}",
            markup=False,
        )
        return EXIT_DIVERGED
    if outcome.reason == "complete":
        done = outcome.epochs_done
        how = "stopped early" if rundir.finished == "early_stopping" else "trained all its epochs"
        console.print(
            f"{rundir.path} has {how} ({done}); to train further: {resume} --epochs {done + 10}",
            markup=False,
        )
    return 0


def _epochs_done(done: int, epochs: int) -> str:
    """``90 of 400 epochs done``: whole epochs, as the summary's table counts them."""
    return f"{done} of {epochs} epochs done"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def _duration(seconds: float) -> str:
    if seconds < 1.0:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 120.0:
        return f"{seconds:.3g} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"
