"""Run directories: one training run's config, per-epoch metrics and resumable checkpoint.

``dltui train`` writes every run to a folder of three files, and the app opens the same folders::

    runs/spiral-20250101-120000/
        config.toml      the resolved experiment: what ``--resume`` rebuilds the run from
        metrics.csv      one row per epoch: epoch, step, train_loss, train_acc, val_loss, ...
        metrics.jsonl    the same epochs as JSON records, and each step's with log_steps on
        checkpoint.npz   the weights, the trainer's and the optimiser's state

The checkpoint holds everything ``Trainer.restore`` needs (the epoch's sample order, the cursor
into it, the shuffling generator, the optimiser's buffers) plus the dropout generator, so a run
stopped mid-epoch and resumed ends with the same weights, bit for bit, as one never stopped.
``Sequential.load`` reads the weights from it as from a saved network. The checkpoint and
config.toml are written atomically and metrics.csv is appended to (``metrics``), so a crash
leaves the previous version whole; a new folder appears whole or not at all (``runfiles``). The
checkpoint also holds the data's fingerprint (``fingerprint``): a resume on other data is
refused, and every saved value is checked before it reaches a kernel.

Scripts use it without any interface::

    run = get_preset("spiral").build()
    rundir = RunDir.create(default_path("spiral"), run)
    with stop_on_sigint() as stop:
        outcome = train(run, rundir, stop=stop.is_set)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.events import Epoch, Step
from engine.experiment import fingerprint
from engine.experiment.checkpoint import read_npz, write_npz, write_text
from engine.experiment.config import Experiment, Run
from engine.experiment.metrics import METRIC_FIELDS, JsonlLog, MetricsLog, metrics_csv
from engine.experiment.runfiles import (
    CHECKPOINT,
    CONFIG,
    METRICS,
    METRICS_JSONL,
    check_free,
    default_path,
    make_sibling,
    rename_into,
    resume_command,
    write,
)
from engine.experiment.training import Outcome, stop_on_sigint, train
from engine.saved_state import check_floats

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "METRICS_JSONL",
    "METRIC_FIELDS",
    "Outcome",
    "RunDir",
    "default_path",
    "metrics_csv",
    "resume_command",
    "stop_on_sigint",
    "train",
]

FORMAT = "dltui-run"
VERSION = 1
# What a resumed run must keep from the checkpoint's experiment: these fix the data, the network
# and the meaning of the saved sample order. The rest (lr, epochs, patience, clipping, penalties)
# may be edited in config.toml before resuming, e.g. a lower lr after a divergence.
FIXED_TRAIN_KEYS = ("seed", "dtype", "loss", "optimizer", "batch_size", "validation")


class RunDir:
    """A run's folder: its experiment, its metrics rows and its latest checkpoint.

    Make one with :meth:`create` (a new run) or :meth:`open` (an existing one, checked).

    Attributes:
        path: the folder; ``config_path``, ``metrics_path``, ``checkpoint_path`` its files.
        experiment: the experiment that config.toml holds.
        rows: the per-epoch metrics, first epoch first (read from metrics.csv when asked: a
            run keeps in memory only the rows it has yet to write).
        meta: the latest checkpoint's metadata (empty before the first save).
        data_fingerprint: rows and SHA-256 of the data the run trains on (None for a run
            folder written before fingerprints existed, until it is resumed).
        jsonl: metrics.jsonl (``metrics.JsonlLog``), kept in step with metrics.csv.
        log_steps: whether :meth:`add_step` records each step in metrics.jsonl (off by
            default: a toy run trains thousands of steps a second).
    """

    def __init__(
        self,
        path: Path,
        experiment: Experiment,
        metrics: MetricsLog | None = None,
        meta: dict[str, Any] | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        jsonl: JsonlLog | None = None,
    ) -> None:
        self._place(path)
        self.experiment = experiment
        self.metrics = metrics if metrics is not None else MetricsLog(self.metrics_path)
        self.jsonl = jsonl if jsonl is not None else JsonlLog(self.jsonl_path)
        self.log_steps = False
        self.meta = meta if meta is not None else {}
        self.data_fingerprint: dict[str, Any] | None = self.meta.get(fingerprint.KEY)
        self._arrays = arrays
        self._config_stale = False

    def _place(self, path: Path) -> None:
        self.path = path
        self.config_path = path / CONFIG
        self.metrics_path = path / METRICS
        self.checkpoint_path = path / CHECKPOINT
        self.jsonl_path = path / METRICS_JSONL
        if hasattr(self, "metrics"):
            self.metrics.path = self.metrics_path
            self.jsonl.path = self.jsonl_path

    @property
    def rows(self) -> list[Epoch]:
        """Every epoch's row, first epoch first."""
        return self.metrics.rows()

    @rows.setter
    def rows(self, rows: list[Epoch]) -> None:
        """Replaces the history (metrics.csv is rewritten whole at the next save)."""
        self.metrics.replace(rows)
        self.jsonl.replace(rows)

    def add_row(self, row: Epoch) -> None:
        """One more epoch's row, appended to metrics.csv and metrics.jsonl at the next save."""
        self.metrics.append(row)
        self.jsonl.add_epoch(row)

    def add_step(self, event: Step, lr: float) -> None:
        """One step's record for metrics.jsonl, when :attr:`log_steps` is on."""
        if self.log_steps:
            self.jsonl.add_step(event, lr)

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
        stopped before its first epoch ended. The folder is made whole in a hidden sibling
        (``.NAME.XXXX.tmp``) and renamed into place, so a crash or a kill at any moment leaves
        either no run or a whole one (at worst a hidden sibling to delete). Into a folder that
        exists and holds other files, the files go one by one, the checkpoint last: a folder
        without checkpoint.npz is not a run, and a new run may be created over it.
        """
        path = Path(path)
        check_free(path)
        fresh = not path.exists() or not any(path.iterdir())
        build = write(path, lambda: make_sibling(path)) if fresh else path
        rundir = cls(build, run.experiment)
        rundir.data_fingerprint = fingerprint.fingerprint(run.data)
        rundir.rows = []
        try:
            write(path, lambda: write_text(rundir.config_path, run.experiment.to_toml()))
            rundir.save(run)
            if fresh:
                write(path, lambda: rename_into(build, path))
        except BaseException:
            if fresh:
                shutil.rmtree(build, ignore_errors=True)
            raise
        rundir._place(path)
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
        if (path / CONFIG).is_file() and not (path / CHECKPOINT).is_file():
            raise UserError(
                f"{path} has a {CONFIG} but no {CHECKPOINT}: it was stopped while being "
                "created, before anything was trained",
                f"start it afresh in the same folder: dltui train {path / CONFIG} --out {path}",
            )
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
        done = meta.get("epochs_done", 0)
        if not isinstance(done, int) or isinstance(done, bool) or done < 0:
            raise UserError(
                f"{path / CHECKPOINT} is damaged (epochs_done is {done!r})",
                f"start the run again in a new folder: dltui train {path / CONFIG} --out NEW_DIR",
            )
        metrics = MetricsLog.open(path / METRICS, done)
        steps = meta["trainer"].get("step", 0)
        jsonl = JsonlLog.open(path / METRICS_JSONL, done, steps if isinstance(steps, int) else 0)
        rundir = cls(path, experiment, metrics, meta, arrays, jsonl)
        if done and not jsonl.path.is_file():  # a folder from before metrics.jsonl: filled in
            jsonl.replace(metrics.rows())
        return rundir

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
        ``FIXED_TRAIN_KEYS``, and load the same data (its fingerprint); a difference is a
        UserError naming it. Every saved value is checked before it is used. A run recorded on
        the layer-by-layer path (the app on an empty cache, engine.warmup) stays on it: the fused
        kernel rounds differently, and a resumed run must end where an uninterrupted one does.
        """
        arrays = self._arrays
        if arrays is None:  # saved since it was opened: the file is the truth
            arrays, _ = read_npz(self.checkpoint_path, required=("data",))
        self._check_compatible(run, arrays["data"])
        now = fingerprint.fingerprint(run.data)
        saved = self.meta.get(fingerprint.KEY)
        fingerprint.check_same_data(saved, now, self.checkpoint_path, self.config_path)
        state = {k: v for k, v in arrays.items() if k not in ("data", "state")}
        try:
            for name in ("data", "state"):
                if name in arrays:
                    check_floats(arrays[name], name)
            rng_states = self.meta["net_rng"]
            if not isinstance(rng_states, list) or len(rng_states) != len(run.net.layers):
                raise ValueError("net_rng does not hold one generator state per layer")
            run.trainer.restore(state, self.meta["trainer"], n=len(run.data.X_train))
            for layer, rng_state in zip(run.net.layers, rng_states, strict=True):
                layer.rng.bit_generator.state = rng_state
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise UserError(
                f"{self.checkpoint_path} is damaged ({type(exc).__name__}: {exc})",
                f"start the run again in a new folder: dltui train {self.config_path} "
                "--out NEW_DIR",
            ) from None
        fused = self.meta.get("fused")
        if isinstance(fused, bool):  # the path the run started on: the other one rounds apart
            run.net.fuse = fused and run.net.fuse
        run.net.data[...] = arrays["data"]
        if "state" in arrays and arrays["state"].shape == run.net.state.shape:
            run.net.state[...] = arrays["state"]
        self.data_fingerprint = now  # an old folder gets one from here on

    def set_epochs(self, run: Run, epochs: int) -> None:
        """Changes the run's target epoch count in ``run``; config.toml follows at the next
        save, so a session that fails before training leaves the folder as it was."""
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise UserError(f"epochs {epochs!r} is not a positive whole number", "e.g. 10")
        self.experiment = self.experiment.replace(train={"epochs": epochs})
        run.experiment = self.experiment
        self._config_stale = True

    # ------------------------------------------------------------------ saving
    def save(self, run: Run, finished: str | None = None) -> None:
        """Writes config.toml when it changed, appends to metrics.csv, then checkpoint.npz.

        In that order, a crash between the two leaves rows newer than the checkpoint, which
        :meth:`open` drops, rather than a checkpoint whose rows are lost.
        """
        net, trainer = run.net, run.trainer
        if self._config_stale:
            text = self.experiment.to_toml()
            write(self.config_path, lambda: write_text(self.config_path, text))
            self._config_stale = False
        write(self.metrics_path, self.metrics.flush)
        write(self.jsonl_path, self.jsonl.flush)
        state, trainer_meta = trainer.state()
        data = np.asarray(net.backend.to_host(net.data))
        meta = {
            "format": FORMAT,
            "version": VERSION,
            **net.file_meta(),
            "trainer": trainer_meta,
            "net_rng": [layer.rng.bit_generator.state for layer in net.layers],
            "fused": bool(net.fuse),
            "epochs_target": run.experiment.train.epochs,
            "epochs_done": trainer.epoch - (1 if "order" in state else 0),
            "finished": finished,
            "experiment": run.experiment.to_dict(),
        }
        if self.data_fingerprint is not None:
            meta[fingerprint.KEY] = self.data_fingerprint
        path = self.checkpoint_path
        arrays = {**net.file_arrays(), **state, "data": data}
        write(path, lambda: write_npz(path, arrays, meta))
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
