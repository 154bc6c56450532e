"""Run directories: one training run's config, per-epoch metrics and resumable checkpoint.

``dltui train`` writes every run to a folder of three files, and the app opens the same folders::

    runs/spiral-20250101-120000/
        config.toml      the resolved experiment: what ``--resume`` rebuilds the run from
        metrics.csv      one row per epoch: epoch, step, train_loss, train_acc, val_loss, ...
        checkpoint.npz   the weights, the trainer's and the optimiser's state

The checkpoint holds everything ``Trainer.restore`` needs (the epoch's sample order, the cursor
into it, the shuffling generator, the optimiser's buffers) plus the dropout generator, so a run
stopped mid-epoch and resumed ends with the same weights, bit for bit, as one never stopped.
``Sequential.load`` reads the weights from it as from a saved network. Every file is written
atomically, so a crash leaves the previous version whole.

Scripts use it without any interface::

    run = get_preset("spiral").build()
    rundir = RunDir.create(default_path("spiral"), run)
    with stop_on_sigint() as stop:
        outcome = train(run, rundir, stop=stop.is_set)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.events import Diverged, Epoch, Event, Finished, Step
from engine.experiment.checkpoint import read_npz, write_npz, write_text
from engine.experiment.config import Experiment, Run

FORMAT = "dltui-run"
VERSION = 1
CONFIG, METRICS, CHECKPOINT = "config.toml", "metrics.csv", "checkpoint.npz"
METRIC_FIELDS = ("epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr")

# What a resumed run must keep from the checkpoint's experiment: these fix the data, the network
# and the meaning of the saved sample order. The rest (lr, epochs, patience, clipping, penalties)
# may be edited in config.toml before resuming, e.g. a lower lr after a divergence.
FIXED_TRAIN_KEYS = ("seed", "dtype", "loss", "optimizer", "batch_size")


def default_path(name: str, root: str | Path = "runs", now: datetime | None = None) -> Path:
    """``root/NAME-YYYYmmdd-HHMMSS``; ``-2``, ``-3`` … appended when that folder exists."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "run"
    stem = f"{slug}-{(now or datetime.now()):%Y%m%d-%H%M%S}"
    path, n = Path(root) / stem, 2
    while path.exists():
        path, n = Path(root) / f"{stem}-{n}", n + 1
    return path


def resume_command(path: str | Path) -> str:
    """The command that continues the run in ``path`` (for messages)."""
    return f"dltui train --resume {path}"


@dataclass(frozen=True)
class Outcome:
    """How a call to :func:`train` ended.

    Attributes:
        reason: "epochs" (the target was reached), "early_stopping", "diverged", "interrupted"
            (stopped on request, state saved) or "complete" (there was nothing left to train).
        epochs_done: whole epochs trained, over every session of the run.
        step: steps trained, over every session.
        seconds: wall time of this call.
        diverged: the event, when the reason is "diverged".
    """

    reason: str
    epochs_done: int
    step: int
    seconds: float
    diverged: Diverged | None = None


class RunDir:
    """A run's folder: its experiment, its metrics rows and its latest checkpoint.

    Make one with :meth:`create` (a new run) or :meth:`open` (an existing one, checked).

    Attributes:
        path: the folder; ``config_path``, ``metrics_path``, ``checkpoint_path`` its files.
        experiment: the experiment that config.toml holds.
        rows: the per-epoch metrics, first epoch first.
        meta: the latest checkpoint's metadata (empty before the first save).
    """

    def __init__(
        self,
        path: Path,
        experiment: Experiment,
        rows: list[Epoch] | None = None,
        meta: dict[str, Any] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.path = path
        self.config_path = path / CONFIG
        self.metrics_path = path / METRICS
        self.checkpoint_path = path / CHECKPOINT
        self.experiment = experiment
        self.rows = rows if rows is not None else []
        self.meta = meta if meta is not None else {}
        self._arrays = arrays

    @property
    def epochs_done(self) -> int:
        """Whole epochs in the latest checkpoint."""
        return int(self.meta.get("epochs_done", 0))

    @property
    def finished(self) -> str | None:
        """Why the latest session ended ("epochs", "interrupted", …), None while one runs."""
        return self.meta.get("finished")

    # ------------------------------------------------------------------ making and opening
    @classmethod
    def create(cls, path: str | Path, run: Run) -> RunDir:
        """Starts a run in ``path`` (made if missing): config.toml and the initial checkpoint.

        Saving the untrained state at once means every run folder can be resumed, even one
        stopped before its first epoch ended.
        """
        path = Path(path)
        _check_free(path)
        rundir = cls(path, run.experiment)
        _write(rundir.config_path, lambda: write_text(rundir.config_path, run.experiment.to_toml()))
        rundir.save(run)
        return rundir

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Opens a run folder; anything missing or damaged is a UserError naming it."""
        path = Path(path)
        hint = "pass a folder that `dltui train` wrote, e.g. runs/spiral-20250101-120000"
        if not path.exists():
            raise UserError(f"run directory {path} does not exist", hint)
        if not path.is_dir():
            raise UserError(f"{path} is a file, not a run directory", hint)
        for name in (CONFIG, CHECKPOINT):
            if not (path / name).is_file():
                raise UserError(f"{path} is not a dltui run: it has no {name}", hint)
        experiment = Experiment.from_toml(path / CONFIG)
        arrays, meta = read_npz(path / CHECKPOINT, required=("data",))
        if meta.get("format") != FORMAT or not isinstance(meta.get("trainer"), dict):
            raise UserError(
                f"{path / CHECKPOINT} is not a run checkpoint (format {meta.get('format')!r})",
                "a saved network cannot be resumed; start a run with `dltui train`",
            )
        rows = _read_metrics(path / METRICS, int(meta.get("epochs_done", 0)))
        return cls(path, experiment, rows, meta, arrays)

    def build(self, device: str | None = None) -> Run:
        """The run as the checkpoint left it: built from config.toml, then :meth:`load_into`;
        on ``device`` instead of the config's where given (a checkpoint holds host arrays)."""
        experiment = self.experiment
        if device is not None and device != experiment.train.device:
            experiment = experiment.replace(train={"device": device})
        run = experiment.build()
        self.load_into(run)
        return run

    def load_into(self, run: Run) -> None:
        """Puts the checkpoint's weights and training state into ``run``.

        ``run`` must be built from an experiment that keeps the checkpoint's data, model and
        ``FIXED_TRAIN_KEYS``; a difference is a UserError naming the key.
        """
        arrays = self._arrays
        if arrays is None:  # saved since it was opened: the file is the truth
            arrays, _ = read_npz(self.checkpoint_path, required=("data",))
        self._check_compatible(run, arrays["data"])
        state = {k: v for k, v in arrays.items() if k != "data"}
        try:
            run.trainer.restore(state, self.meta["trainer"])
            for layer, rng_state in zip(run.net.layers, self.meta["net_rng"], strict=True):
                layer.rng.bit_generator.state = rng_state
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{self.checkpoint_path} is damaged ({type(exc).__name__}: {exc})",
                f"start the run again: dltui train {self.config_path}",
            ) from None
        run.net.data[...] = arrays["data"]
        if "state" in arrays and arrays["state"].shape == run.net.state.shape:
            run.net.state[...] = arrays["state"]

    def set_epochs(self, run: Run, epochs: int) -> None:
        """Changes the run's target epoch count, in ``run`` and in config.toml."""
        self.experiment = self.experiment.replace(train={"epochs": epochs})
        run.experiment = self.experiment
        _write(self.config_path, lambda: write_text(self.config_path, self.experiment.to_toml()))

    # ------------------------------------------------------------------ saving
    def save(self, run: Run, finished: str | None = None) -> None:
        """Writes metrics.csv, then checkpoint.npz.

        In that order, a crash between the two leaves rows newer than the checkpoint, which
        :meth:`open` drops, rather than a checkpoint whose rows are lost.
        """
        net, trainer = run.net, run.trainer
        _write(self.metrics_path, lambda: write_text(self.metrics_path, metrics_csv(self.rows)))
        state, trainer_meta = trainer.state()
        data = np.asarray(net.backend.to_host(net.data))
        meta = {
            "format": FORMAT,
            "version": VERSION,
            **net.file_meta(),
            "trainer": trainer_meta,
            "net_rng": [layer.rng.bit_generator.state for layer in net.layers],
            "epochs_target": run.experiment.train.epochs,
            "epochs_done": trainer.epoch - (1 if "order" in state else 0),
            "finished": finished,
            "experiment": run.experiment.to_dict(),
        }
        path = self.checkpoint_path
        arrays = {**net.file_arrays(), **state, "data": data}
        _write(path, lambda: write_npz(path, arrays, meta))
        self.meta, self._arrays = json.loads(json.dumps(meta)), None

    def _check_compatible(self, run: Run, data: np.ndarray) -> None:
        saved = self.meta.get("experiment", {})
        now = json.loads(json.dumps(run.experiment.to_dict()))
        for section, keys in (("data", None), ("model", None), ("train", FIXED_TRAIN_KEYS)):
            old, new = saved.get(section, {}), now[section]
            for key in keys or sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    raise UserError(
                        f"{self.config_path}: [{section}] {key} is {new.get(key)!r}, but the "
                        f"checkpoint was trained with {old.get(key)!r}",
                        f"set it back, or start a new run: dltui train {self.config_path}",
                    )
        spec = json.loads(json.dumps(run.net.spec()))
        if spec != self.meta.get("layers") or data.shape != run.net.data.shape:
            raise UserError(
                f"{self.checkpoint_path} holds a different network than {self.config_path} makes",
                f"start a new run: dltui train {self.config_path}",
            )


# ---------------------------------------------------------------------- the training loop
def train(
    run: Run,
    rundir: RunDir,
    on_event: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
    save_every: float = 1.0,
) -> Outcome:
    """Trains ``run`` up to its experiment's epoch count, saving into ``rundir`` as it goes.

    ``on_event`` sees every event (to draw progress). ``stop`` is asked after every step; when
    it answers True, or when ``on_event`` raises KeyboardInterrupt, the state at that step
    boundary is saved and the reason is "interrupted": resuming continues exactly there. A
    KeyboardInterrupt raised inside the trainer may land halfway through an update, so that one
    is not saved; it propagates and the last checkpoint stands. :func:`stop_on_sigint` turns
    Ctrl-C into ``stop`` instead.

    The checkpoint and metrics.csv are written at the end of the first epoch, then at the end of
    every epoch that ends ``save_every`` seconds or more after the last save (0: every epoch),
    and always when training ends. A save costs about a millisecond, as much as a whole epoch of
    a toy data set, so saving every epoch would halve the speed of the small presets.
    """
    trainer, data = run.trainer, run.data
    start = time.perf_counter()
    left = run.experiment.train.epochs - rundir.epochs_done
    if left <= 0 or rundir.finished == "early_stopping":
        return Outcome("complete", rundir.epochs_done, trainer.step, 0.0)
    events = trainer.run(data.X_train, data.y_train, left, val=(data.X_test, data.y_test))
    reason, diverged, last_save = "epochs", None, -math.inf
    with contextlib.closing(events):
        while (event := next(events, None)) is not None:  # an interrupt in here propagates
            if isinstance(event, Epoch):
                rundir.rows.append(event)
                if time.perf_counter() - last_save >= save_every:
                    rundir.save(run)
                    last_save = time.perf_counter()
            elif isinstance(event, Diverged):
                diverged = event
            elif isinstance(event, Finished):
                reason = event.reason
            try:
                if on_event is not None:
                    on_event(event)
            except KeyboardInterrupt:
                reason = "interrupted"
                break
            # Only after a step: at an Epoch event the trainer has yet to update its
            # early-stopping record, which the saved state would then miss.
            if isinstance(event, Step) and stop is not None and stop():
                reason = "interrupted"
                break
    rundir.save(run, finished=reason)
    seconds = time.perf_counter() - start
    return Outcome(reason, rundir.epochs_done, trainer.step, seconds, diverged)


@contextlib.contextmanager
def stop_on_sigint() -> Iterator[threading.Event]:
    """Turns the first Ctrl-C into a request to stop at the next step boundary.

    A KeyboardInterrupt can strike between an optimiser update and the trainer's bookkeeping,
    leaving a state that no longer resumes exactly; a flag checked between steps cannot. The
    first Ctrl-C sets the returned event; a second one raises KeyboardInterrupt as usual, for a
    loop that does not stop. Off the main thread no handler can be installed: the event is
    returned all the same, for the caller to set.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handler(signum: int, frame: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------- files
def metrics_csv(rows: list[Epoch]) -> str:
    """The text of metrics.csv: a header, then one row per epoch; a missing value is empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METRIC_FIELDS)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in METRIC_FIELDS])
    return buf.getvalue()


def _cell(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))


def _read_metrics(path: Path, epochs_done: int) -> list[Epoch]:
    """The rows of metrics.csv up to the checkpoint's epoch (none when the file is missing)."""
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = [_row(cells) for cells in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{path} is damaged ({type(exc).__name__}: {exc})",
            "delete it to resume without the earlier epochs' rows",
        ) from None
    return [row for row in rows if row.epoch <= epochs_done]


def _row(cells: dict[str, str | None]) -> Epoch:
    """One row of metrics.csv as the Epoch event it was written from."""
    values: list[Any] = [None if not cells[k] else float(str(cells[k])) for k in METRIC_FIELDS]
    return Epoch(int(values[0]), int(values[1]), *values[2:])


def _check_free(path: Path) -> None:
    """A new run may go into a missing or an empty-of-runs folder, never over another run."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file", "choose a folder for the run with --out DIR")
    if any((path / name).exists() for name in (CONFIG, METRICS, CHECKPOINT)):
        raise UserError(
            f"{path} already holds a run",
            f"continue it with `{resume_command(path)}`, or choose another --out DIR",
        )


def _write(path: Path, write: Callable[[], None]) -> None:
    """Runs ``write``; a full disk or a read-only folder becomes a UserError naming ``path``."""
    try:
        write()
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc}",
            "free some disk space, or choose a writable folder with --out DIR",
        ) from None
