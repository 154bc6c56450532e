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
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.experiment.config import Experiment, Run
from engine.experiment.runs import RunDir, default_path
from tui.session import probes, probes_nets, report
from tui.session.changes import change_kind, next_lr
from tui.session.loop import Post, TrainingLoop
from tui.session.pace import next_pace
from tui.session.params import first_entry, is_entry
from tui.session.records import NetCopy, Notice, Scene, Snapshot
from tui.session.views import Probe

LR_RANGE = (1e-6, 10.0)

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
        self.selected = "0.W[0,0]"
        self.sample = 0
        self.head = 0
        self.shown = ""
        self.grid_size = (48, 32)
        self.rundir: RunDir | None = None
        self._generation = 0
        self._start_scene()

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

    def rebuild(self, experiment: Experiment) -> None:
        """Applies a changed experiment, rebuilding the network only when it must."""
        self._send(lambda: self._rebuild(experiment))

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
        self._replace_run(exp.build(data=self.run.data))

    def _rebuild(self, experiment: Experiment) -> None:
        kind = change_kind(self.run.experiment, experiment)
        if kind == "none":
            return
        if kind == "live":
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
        if kind == "keep":
            run.net.data[...] = self.run.net.data
        self._replace_run(run)

    def _replace_run(self, run: Run, rundir: RunDir | None = None) -> None:
        if self._events is not None:
            self._events.close()
        self._events = None
        self.run, self.rundir = run, rundir
        self._pending = 0
        self._start_scene()

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
        run = rundir.build(device="cpu")  # the views read host arrays (a GPU run opens on the CPU)
        self._replace_run(run, rundir)
        self._epochs = list(rundir.rows)
        self._done = rundir.epochs_done
        if self._done >= run.experiment.train.epochs:
            self._finish()
        self._post(Notice(f"Opened {rundir.path} at step {run.trainer.step}"))

    # ------------------------------------------------------------------ reporting
    def _start_scene(self) -> None:
        self._generation += 1
        run = self.run
        self.scene: Scene = probes.make_scene(self._generation, run.experiment, run.data, run.net)
        self._restart_loop()
        self._measures = report.Measures()
        scene = self.scene
        if not is_entry(self.selected, scene.param_names, scene.param_shapes):
            self.selected = first_entry(scene.param_names, scene.param_shapes)
        if self.shown not in scene.views:
            self.shown = scene.view

    def _publish(self) -> None:
        """Measures what is due and posts a snapshot (a diverged network measures inf quietly)."""
        with np.errstate(all="ignore"):
            self._post(self._snapshot())

    def _snapshot(self) -> Snapshot:
        self._dirty = False
        run, scene = self.run, self.scene
        probe = Probe(scene, run.net, run.trainer, self.sample, self.head, self.grid_size)
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
            grad_norms=probes.grad_norms(run.net, scene.dense_layers) if scene.mlp else (),
            weights=probes.weight_copies(run.net, scene.dense_layers) if scene.mlp else (),
            view=view,
            chain=report.chain(run, scene, self.selected, self.sample),
            state=self._state if self._state != "training" or not self.paused else "paused",
            note=self._note,
            layer_norms=probes_nets.row_norms(run.net, scene.rows),
            shown=self.shown,
        )
