"""The training session: one thread pulls ``Trainer.run()`` and reports what it sees.

The interface never computes on the network. It asks the session for things (pause, one step, a
new learning rate, a reset, a rebuild, a copy of the network) through methods that only set a
flag or queue a command; the training thread carries them out between two steps, and hands a
:class:`~tui.session.records.Snapshot` to its ``post`` callback about ten times a second — the
decision grid, losses, gradient norms and the selected weight's chain rule all measured there.
So no two threads ever touch the network's buffers at once, and no Textual import is needed here:
the session is tested on its own. The thread's loop is :mod:`tui.session.loop`; what a snapshot
measures, :mod:`tui.session.report`; which views suit a network and how each is measured, the
views' declarations (:mod:`tui.session.views`).

Training stops by itself after the experiment's ``epochs`` (``[train] epochs``): the session
pauses at the end of that epoch with the state "finished" and a note; space trains on past it,
with no limit, until the user pauses.

Training keeps a pace (``tui.session.pace``): by default one that makes the experiment's epochs
last about 25 seconds, so the loss and the boundary can be seen to change; ``>`` and ``<`` move
it, up to full speed. Between two snapshots the thread trains the steps the pace allows, then sleeps
until the next snapshot is due (a command wakes it at once).

Runs to compare: each reset or change of experiment that builds a network starts a new run; the
one it ends is kept in :attr:`TrainingSession.runs` (the last ``MAX_RUNS``, their curves thinned),
labelled by what the new run changed (``lr 0.03 → 3``), so the loss plot can draw them together.
The API a lesson drives: :meth:`~TrainingSession.rebuild` (with ``label`` and ``fresh``),
:meth:`~TrainingSession.clear_runs`, :meth:`~TrainingSession.set_plot` and ``runs``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.events import Epoch
from engine.experiment.config import Experiment, Run
from engine.experiment.runs import RunDir, default_path
from engine.warmup import defer_fused, start_background, use_fused_when_ready
from tui.compare import records as compare
from tui.session import probes, probes_nets, report
from tui.session.changes import change_kind, change_label, next_lr
from tui.session.loop import Post, TrainingLoop
from tui.session.pace import next_pace, steps_per_epoch
from tui.session.params import default_entry, first_entry, is_entry
from tui.session.records import LossPoint, NetCopy, Notice, RunRecord, Scene, Snapshot, StepCurve
from tui.session.steps import thinned
from tui.session.views import Probe

LR_RANGE = (1e-6, 10.0)
MAX_RUNS = 8  # earlier runs kept for comparison; older ones are dropped
RUN_POINTS = 500  # loss points kept of each earlier run's measured curve
PLOTS = ("epochs", "steps", "table")

__all__ = ["Post", "TrainingSession"]


class TrainingSession(TrainingLoop):
    """A run being trained on a thread, controlled from another.

    Args:
        experiment: what to train.
        paused: start paused (``step`` then trains one mini-batch at a time).
        run: an already built run of ``experiment`` (e.g. opened from a run directory).
        pace: steps per second (``tui.session.pace.FULL_SPEED``: no cap), kept for every run; None:
            each experiment's default pace (its epochs in about 25 s), or full speed where the
            engine is slower than that.
    """

    def __init__(
        self,
        experiment: Experiment,
        paused: bool = False,
        run: Run | None = None,
        pace: float | None = None,
    ) -> None:
        super().__init__(pace)
        self.run = run if run is not None else experiment.build()
        self.paused = paused
        self.selected = ""  # the first scene picks an entry with a gradient (default_entry)
        self.sample = 0
        self.head = 0
        self.shown = ""
        self.grid_size = (48, 32)
        self.rundir: RunDir | None = None
        self.runs: tuple[RunRecord, ...] = ()
        """The earlier runs of this session, oldest first (replaced, never changed in place)."""
        self.plot = "epochs"
        self.run_label = self.run.experiment.name
        self._generation = 0
        self._sent_curve = -1  # the per-step curve's version the last snapshot carried
        self._looping = False  # whether loop() runs: the training thread exists
        self._entry_due = False  # the default entry is still to be chosen (on that thread)
        self._host = probes.HostMirror()  # what the views read: host arrays, on any device
        self._start_scene()

    compile_behind = False
    """Whether a network whose fused kernel is not compiled yet trains layer by layer while
    another process compiles it (``engine.warmup.defer_fused``), instead of waiting seconds on
    its first step. The app sets it where it checks its kernels."""

    def compile_fused_behind(self) -> None:
        """Puts the run on the layer path while its fused kernel compiles in the background;
        ``_between_bursts`` moves it back once it is cached."""
        run, t = self.run, self.run.experiment.train
        if self.compile_behind and t.device == "cpu" and defer_fused(run.net, t.loss):
            start_background(t.dtype, t.optimizer, run.net, t.loss)

    def _between_bursts(self) -> None:
        use_fused_when_ready(self.run.net)  # a dictionary look-up, and a file's check if waiting

    def loop(self, post: Post) -> None:
        """Trains and reports until stopped (see ``TrainingLoop.loop``), on the training thread.

        The first network's default entry is chosen here, before the first snapshot: finding
        an entry with a gradient runs a forward and backward pass, which on a cold kernel cache
        compiles (seconds, for recurrent networks) — never on the interface's thread.
        """
        self._looping = True
        self._choose_entry()
        super().loop(post)

    # ------------------------------------------------------------------ asked from the interface
    def toggle_pause(self) -> None:
        """Pauses a running session, resumes a paused one; a snapshot says so either way.

        Resuming a finished run trains on past its epochs (until paused again).
        """
        self.paused = not self.paused
        self._send(self._resumed)

    def step(self) -> None:
        """Trains exactly one mini-batch (pausing first), then reports."""
        self.paused = True
        self._send(self._add_step)

    def nudge_lr(self, direction: int) -> None:
        """Moves the learning rate one rung up (+1) or down (-1) the 1-3-10 ladder."""
        self._send(lambda: self._set_lr(next_lr(self.run.trainer.optimizer.lr, direction)))

    def change_pace(self, direction: int) -> None:
        """Moves the pace one rung up (+1, full speed above the top) or down (-1) the ladder."""
        self._send(lambda: self._pacer.choose(next_pace(self.pace, direction, self._engine_speed)))

    @property
    def pace(self) -> float:
        """Steps per second that training is held to (``FULL_SPEED``: no cap)."""
        return self._pacer.rate

    def reset(self) -> None:
        """Draws fresh initial weights (the next seed) and starts counting steps again."""
        self._send(self._reset)

    def rebuild(
        self, experiment: Experiment, label: str | None = None, fresh: bool = False
    ) -> None:
        """Applies a changed experiment, rebuilding the network only when it must.

        A change that builds a network, or keeps its weights under a new trainer, starts a new
        run: the one it ends joins :attr:`runs`.

        Args:
            experiment: the experiment to train from now on.
            label: the new run's label in the comparison; None: made from what changed
                (``tui.session.changes.change_label``).
            fresh: always start a new run from the experiment's own initial weights (its seed),
                even when only the learning rate or the epochs changed, or nothing did: what a
                comparison of settings needs. Without it a learning rate or a number of epochs
                is set while the run goes on.
        """
        self._send(lambda: self._rebuild(experiment, label, fresh))

    def clear_runs(self) -> None:
        """Forgets the earlier runs (the current run goes on)."""
        self._send(self._clear_runs)

    def set_plot(self, mode: str) -> None:
        """What the loss plot draws: "epochs" (loss against epochs), "steps" (each
        mini-batch's loss against steps) or "table" (every run's final and best numbers)."""
        if mode not in PLOTS:
            raise UserError(f"plot {mode!r} is not known", f"use one of {', '.join(PLOTS)}")
        self._send(lambda: self._set_plot(mode))

    def toggle_steps(self) -> None:
        """Switches the loss plot between per-epoch and per-mini-batch loss."""
        self._send(lambda: self._set_plot("epochs" if self.plot == "steps" else "steps"))

    def toggle_table(self) -> None:
        """Shows the runs table in place of the plot, or the plot again."""
        self._send(lambda: self._set_plot("epochs" if self.plot == "table" else "table"))

    def select(self, param: str, sample: int | None = None) -> None:
        """Chooses the parameter entry (``"2.W[0,1]"``) and sample the chain rule is shown for."""
        self.selected = param
        if sample is not None:
            self.sample = sample
        self._send(self._remeasure)

    def next_view(self, direction: int = 1) -> None:
        """Shows the next picture that suits this network (``Scene.views``)."""
        self._send(lambda: self._cycle_view(direction))

    def next_head(self, direction: int = 1) -> None:
        """Shows the next attention head (through every head of every attention layer)."""
        self.head += direction
        self._send(self._remeasure)

    def set_grid(self, width: int, height: int) -> None:
        """Sets the resolution of the decision grid, in pixels (the map's size)."""
        self.grid_size = (max(2, width), max(2, height))
        self._send(self._touch)

    def copy_network(self, receive: Callable[[NetCopy], None]) -> None:
        """Calls ``receive`` (on the training thread) with a copy of the network as it stands."""
        self._send(lambda: receive(self._copy()))

    def save(self, path: str | Path | None = None) -> None:
        """Saves the run to a run directory (a new one the first time); reports a Notice."""
        self._send(lambda: self._save(path))

    def open(self, path: str | Path) -> None:
        """Replaces the run with one saved in a run directory; reports a Notice."""
        self._send(lambda: self._open(path))

    def open_many(self, paths: Sequence[str | Path]) -> None:
        """Adds saved runs to :attr:`runs` to compare with this one: several run folders, or
        one sweep folder (each point labelled by its swept values); reports a Notice. The run
        being trained goes on; :meth:`open` loads one of them to train it."""
        self._send(lambda: self._open_many(list(paths)))

    @property
    def experiment(self) -> Experiment:
        """The experiment as it stands, with the learning rate in use."""
        return self._current_experiment()

    # ------------------------------------------------------------------ commands, on the thread
    def _touch(self) -> None:
        """A command whose only effect is a fresh snapshot (new selection, grid size)."""

    def _resumed(self) -> None:
        """After a pause or resume: a finished run that resumes trains on, its note gone."""
        if not self.paused and self._state == "finished":
            self._state, self._note = "training", ""

    def _remeasure(self) -> None:
        """The view is measured again in the next snapshot (a new sample or head to show)."""
        self._measures.again()

    def _cycle_view(self, direction: int) -> None:
        views = self.scene.views or (self.scene.view,)
        at = views.index(self.shown) if self.shown in views else 0
        self.shown = views[(at + direction) % len(views)]
        self._remeasure()

    def _add_step(self) -> None:
        self._pending += 1

    def _set_lr(self, lr: float) -> None:
        lr = float(min(max(lr, LR_RANGE[0]), LR_RANGE[1]))
        self.run.trainer.optimizer.lr = lr

    def _set_epochs(self, epochs: int) -> None:
        """A new target: stop there, or now when the run has trained that many already."""
        self._limit = epochs
        if self._done >= epochs:
            self._finish()
        elif self._state == "finished":
            self._state, self._note = "training", ""

    def _reset(self) -> None:
        exp = self.run.experiment
        seed = exp.train.seed + 1
        exp = exp.replace(train={"seed": seed, "lr": self.run.trainer.optimizer.lr})
        self._replace_run(exp.build(data=self.run.data), label=self._label_for(exp))

    def _label_for(self, experiment: Experiment) -> str:
        """What ``experiment`` changes from the one the run started with (so a learning rate
        moved during the run shows: ``lr 0.01 → 0.03, seed 0 → 1`` after ``+`` and a reset)."""
        return change_label(self._started, experiment)

    def _clear_runs(self) -> None:
        self.runs = ()

    def _set_plot(self, mode: str) -> None:
        self.plot = mode
        self._sent_curve = -1  # the next snapshot brings the whole per-step curve

    def _rebuild(
        self, experiment: Experiment, label: str | None = None, fresh: bool = False
    ) -> None:
        kind = change_kind(self.run.experiment, experiment)
        if kind == "none" and not fresh:
            return
        label = self._label_for(experiment) if label is None else label
        if kind == "live" and not fresh:
            self._set_lr(experiment.train.lr)
            epochs, old = experiment.train.epochs, self.run.experiment.train.epochs
            self.run.experiment = experiment
            if epochs != old:
                self._set_epochs(epochs)
                self._fit_pace()
            return
        # an autoencoder trains on its inputs as targets: its split is not the data set's
        encoder = [e.model.kind == "autoencoder" for e in (experiment, self.run.experiment)]
        same_data = experiment.data == self.run.experiment.data and encoder[0] == encoder[1]
        run = experiment.build(data=self.run.data if same_data else None)
        if kind == "keep" and not fresh:
            run.net.data[...] = self.run.net.data
        self._replace_run(run, label=label)

    def _replace_run(self, run: Run, rundir: RunDir | None = None, label: str = "") -> None:
        """Ends the run (kept in ``runs`` if it trained) and starts ``run``, labelled ``label``."""
        if self._events is not None:
            self._events.close()
        self._events = None
        self._keep_run()
        self.run, self.rundir = run, rundir
        self.run_label = label or run.experiment.name
        self._pending = 0
        self._start_scene()

    def _keep_run(self) -> None:
        """Adds the run as it stands to ``runs`` (not a run that never trained)."""
        if self.run.trainer.step > 0:
            self.runs = (*self.runs, self._record())[-MAX_RUNS:]

    def _record(self) -> RunRecord:
        """The current run as a record: its label, thinned curves, final and best figures."""
        rows = self._epochs
        losses = [e.val_loss for e in rows if e.val_loss is not None and math.isfinite(e.val_loss)]
        accs = [e.val_acc for e in rows if e.val_acc is not None]
        return RunRecord(
            label=self.run_label,
            experiment=self._current_experiment(),
            points=tuple(thinned(self._measures.points, RUN_POINTS)),
            step_curve=self._batch_losses.curve(),
            per_epoch=self._per_epoch(),
            epochs=self._done,
            final=epoch_point(rows[-1]) if rows else None,
            best_test_loss=min(losses) if losses else math.nan,
            best_test_acc=max(accs) if accs else None,
            state=self._state,
        )

    def _per_epoch(self) -> int:
        """Mini-batches per epoch of the current run."""
        return steps_per_epoch(len(self.run.data.X_train), self.run.trainer.batch_size)

    def _copy(self) -> NetCopy:
        return probes.net_copy(self.run, self.sample)

    def _current_experiment(self) -> Experiment:
        exp = self.run.experiment
        lr = self.run.trainer.optimizer.lr
        return exp if exp.train.lr == lr else exp.replace(train={"lr": lr})

    def _save(self, path: str | Path | None) -> None:
        self.run.experiment = self._current_experiment()
        if self.rundir is None or path is not None:
            target = Path(path) if path is not None else default_path(self.run.experiment.name)
            self.rundir = RunDir.create(target, self.run)
        self.rundir.rows = list(self._epochs)
        self.rundir.save(self.run)
        self._post(Notice(f"Saved to {self.rundir.path}"))

    def _open(self, path: str | Path) -> None:
        rundir = RunDir.open(path)
        run = rundir.build(device=self.run.experiment.train.device)
        self._replace_run(run, rundir, label=f"opened {rundir.path.name}")
        self._epochs = list(rundir.rows)
        self._measures.load([epoch_point(e) for e in self._epochs])
        self._done = rundir.epochs_done
        if self._done >= run.experiment.train.epochs:
            self._finish()
        self._post(Notice(f"Opened {rundir.path} at step {run.trainer.step}"))

    def _open_many(self, paths: list[str | Path]) -> None:
        comparison = compare.load(paths)
        records = [saved_record(r) for r in comparison.runs if r.rows]
        if not records:
            raise UserError(
                f"nothing to compare in {', '.join(map(str, paths))}: no run has an epoch yet",
                "open them once they have trained an epoch",
            )
        self.runs = (*self.runs, *records)[-max(MAX_RUNS, len(records)) :]
        what = f"sweep {comparison.path}" if comparison.path is not None else "runs"
        self._post(Notice(f"Opened {len(records)} {what} to compare; K lists them"))

    # ------------------------------------------------------------------ reporting
    def _start_scene(self) -> None:
        self._generation += 1
        run = self.run
        self.scene: Scene = probes.make_scene(self._generation, run.experiment, run.data, run.net)
        self._started = run.experiment
        self._restart_loop()
        self._measures = report.Measures()
        scene = self.scene
        if not is_entry(self.selected, scene.param_names, scene.param_shapes):
            self.selected = first_entry(scene.param_names, scene.param_shapes)
            self._entry_due = True
        if self._looping:
            self._choose_entry()
        if self.shown not in scene.views:
            self.shown = scene.view
        self._sent_curve = -1
        self.compile_fused_behind()

    def _choose_entry(self) -> None:
        """Moves a default selection to the first entry with a gradient (``default_entry``)."""
        if not self._entry_due:
            return
        self._entry_due = False
        run, t = self.run, self.run.experiment.train
        data = run.data
        net = self._host.of(run.net)  # on a GPU, found on the host
        self.selected = default_entry(net, data.X_train, data.y_train, t.loss, t.l1, t.l2)

    def _publish(self) -> None:
        """Measures what is due and posts a snapshot (a diverged network measures inf quietly)."""
        with np.errstate(all="ignore"):
            self._post(self._snapshot())

    def _snapshot(self) -> Snapshot:
        self._dirty = False
        run, scene = self.run, self.scene
        net = self._host.of(run.net)  # on a GPU: its weights copied to the host, once a snapshot
        probe = Probe(scene, net, run.trainer, self.sample, self.head, self.grid_size)
        losses, view = self._measures.take(run, self.shown, probe, self.paused)
        return Snapshot(
            scene=scene,
            step=run.trainer.step,
            epoch=run.trainer.epoch,
            epochs=run.experiment.train.epochs,
            lr=run.trainer.optimizer.lr,
            paused=self.paused,
            speed=0.0 if self.paused else self._speed,
            pace=self._pacer.rate,
            losses=losses,
            grad_norms=probes.grad_norms(net, scene.dense_layers) if scene.mlp else (),
            weights=probes.weight_copies(net, scene.dense_layers) if scene.mlp else (),
            view=view,
            chain=report.chain(net, run, scene, self.selected, self.sample),
            state=self.state,
            note=self._note,
            layer_norms=probes_nets.row_norms(net, scene.rows),
            shown=self.shown,
            runs=self.runs,
            run_label=self.run_label,
            plot=self.plot,
            step_curve=self._step_curve(),
            per_epoch=self._per_epoch(),
            current=self._record() if self.plot == "table" else None,
        )

    def _step_curve(self) -> StepCurve | None:
        """The per-step curve when the plot shows it and it grew since the last snapshot."""
        losses = self._batch_losses
        if self.plot != "steps" or losses.version == self._sent_curve:
            return None
        self._sent_curve = losses.version
        return losses.curve()


def epoch_point(e: Epoch) -> LossPoint:
    """An epoch's figures as a loss point: its mean training loss, its test (or validation) loss."""
    test = math.nan if e.val_loss is None else e.val_loss
    return LossPoint(e.step, e.train_loss, test, e.train_acc, e.val_acc)


def saved_record(run: compare.RunSummary) -> RunRecord:
    """A saved run (one that :func:`tui.compare.records.load` read) as a record to compare: its
    per-epoch figures (its mean training loss stands in for its mini-batch losses)."""
    rows = run.rows
    points = [epoch_point(e) for e in rows]
    losses = [p.test_loss for p in points if math.isfinite(p.test_loss)]
    accs = [p.test_acc for p in points if p.test_acc is not None]
    last = rows[-1] if rows else None
    steps = np.array([e.step for e in rows], dtype=np.float64)
    experiment = run.experiment
    if experiment is None:
        raise UserError(f"{run.path} is not a run folder", "open a folder that dltui train wrote")
    return RunRecord(
        label=run.label,
        experiment=experiment,
        points=tuple(thinned(points, RUN_POINTS)),
        step_curve=StepCurve(steps, np.array([e.train_loss for e in rows], dtype=np.float64)),
        per_epoch=max(last.step // max(last.epoch, 1), 1) if last is not None else 1,
        epochs=run.epochs,
        final=points[-1] if points else None,
        best_test_loss=min(losses) if losses else math.nan,
        best_test_acc=max(accs) if accs else None,
        state=run.state,
    )
