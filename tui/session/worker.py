"""The training session: one thread pulls ``Trainer.run()`` and reports what it sees.

The interface never computes on the network. It asks the session for things (pause, one step, a
new learning rate, a reset, a rebuild, a copy of the network) through methods that only set a
flag or queue a command; the training thread carries them out between two steps, and hands a
:class:`~tui.session.records.Snapshot` to its ``post`` callback about ten times a second — the
decision grid, losses, gradient norms and the selected weight's chain rule all measured there.
So no two threads ever touch the network's buffers at once, and no Textual import is needed here:
the session is tested on its own.

Training stops by itself after the experiment's ``epochs`` (``[train] epochs``): the session
pauses at the end of that epoch with the state "finished" and a note; space trains on past it,
with no limit, until the user pauses.

Training keeps a pace (``tui.session.pace``): by default one that makes the experiment's epochs last
about 25 seconds, so the loss and the boundary can be seen to change; ``>`` and ``<`` move it, up
to full speed. Between two snapshots the thread trains the steps the pace allows, then sleeps
until the next snapshot is due (a command wakes it at once).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from engine.errors import UserError
from engine.events import Diverged, Epoch, Event, Finished, Step
from engine.experiment.config import Experiment, Run
from engine.experiment.runs import RunDir, default_path
from tui.session import probes, probes_nets
from tui.session.changes import change_kind, next_lr
from tui.session.pace import Pacer, next_pace, steps_per_epoch
from tui.session.params import first_entry, is_entry
from tui.session.records import LossPoint, NetCopy, Notice, ParamNote, Scene, Snapshot, View

POST_INTERVAL = 0.1  # seconds between snapshots while training
MEASURE_SHARE = 0.08  # at most this share of the time goes to measuring losses and views
MEASURE_EVERY = 2.0  # seconds: the longest wait between two measurements while training
LR_RANGE = (1e-6, 10.0)

Post = Callable[[Snapshot | Notice], None]


class TrainingSession:
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
        self.run = run if run is not None else experiment.build()
        self.paused = paused
        self._pacer = Pacer(pace)
        self.selected = "0.W[0,0]"
        self.sample = 0
        self.head = 0
        self.shown = ""
        self.grid_size = (48, 32)
        self.rundir: RunDir | None = None
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._events: Iterator[Event] | None = None
        self._pending = 0
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

    def stop(self) -> None:
        """Ends ``loop`` after the current step."""
        self._stop.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def experiment(self) -> Experiment:
        """The experiment as it stands, with the learning rate in use."""
        return self._current_experiment()

    def _send(self, command: Callable[[], None]) -> None:
        self._commands.put(command)
        self._wake.set()

    # ------------------------------------------------------------------ the training thread
    def loop(self, post: Post) -> None:
        """Trains and reports until :meth:`stop`; run it on a thread of its own."""
        self._post = post
        self._publish()
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # an engine error must not take the interface down
                self._halt("stopped", f"Training stopped by an error: {type(exc).__name__}: {exc}")
                self._dirty = False
                self._post(
                    Notice(self._note + " Press r to reset, or c to change the setup.", False)
                )
                self._wake.wait(0.25)
        if self._events is not None:
            self._events.close()

    def _tick(self) -> None:
        """One round: carry out commands, then train until the next snapshot (or wait)."""
        self._run_commands()
        if self.paused and self._pending == 0:
            self._clock = None
            if self._dirty:
                self._publish()
            self._wake.wait(0.25)
            self._wake.clear()
            return
        start = time.perf_counter()
        deadline = start + POST_INTERVAL
        if self.paused:  # single steps are never held back
            self._clock = None
            self._train(deadline, math.inf)
        else:
            if self._clock is None:  # (re)starting: the pace's schedule starts now
                self._pacer.restart()
                self._clock = (start, self.run.trainer.step)
            ended = self._train(deadline, self._pacer.limit(start, self.run.trainer.step, deadline))
            rested = ended != "pace" or self._rest(deadline)
            self._dirty |= self._pacer.settle(ended)
            if rested:  # a rest cut short would count its steps over too short a time
                self._measure_speed()
        self._run_commands()  # a command that cut the burst short shows in this snapshot
        if self._dirty:
            self._publish()

    def _rest(self, until: float) -> bool:
        """Ahead of the pace: sleeps until ``until``, or until a command or stop arrives.

        Returns:
            Whether it slept until ``until``.
        """
        self._wake.clear()
        if not self._commands.empty() or self.paused or self._stop.is_set():
            return False
        return not self._wake.wait(max(until - time.perf_counter(), 0.0))

    def _measure_speed(self) -> None:
        """Steps per second since the last measurement, sleeps and snapshots included."""
        assert self._clock is not None
        (t, s), now, step = self._clock, time.perf_counter(), self.run.trainer.step
        if step <= s:
            return
        rate = (step - s) / max(now - t, 1e-9)
        self._speed = rate if self._speed == 0 else 0.7 * self._speed + 0.3 * rate
        self._clock = (now, step)

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            except UserError as exc:
                self._post(Notice(f"{exc.message}. {exc.hint}".strip(), ok=False))
            self._dirty = True

    def _train(self, deadline: float, limit: float) -> str:
        """Pulls events until the deadline, a pause, a command, or the requested single steps.

        Args:
            deadline: when the next snapshot is due.
            limit: the last step the pace allows by then (``inf``: no cap).

        Returns:
            What ended the burst: "pace" (the run is ahead of its pace), "time" (the deadline),
            or "" (anything else).
        """
        if self._events is None:
            data = self.run.data
            val = (data.X_test, data.y_test)
            self._events = self.run.trainer.run(data.X_train, data.y_train, None, val=val)
            self._state, self._note, self._dirty = "training", "", True
        trainer = self.run.trainer
        if trainer.step + 1 > limit:
            return "pace"
        events, commands, stepping = self._events, self._commands, self.paused
        t0, s0, ended = time.perf_counter(), trainer.step, ""
        for event in events:
            kind = event.__class__
            if kind is Step:
                if stepping:
                    self._pending -= 1
                    if self._pending <= 0:
                        break
                elif self.paused or not commands.empty():
                    break
                elif time.perf_counter() >= deadline:
                    ended = "time"
                    break
                elif event.step + 1 > limit:  # type: ignore[union-attr]
                    ended = "pace"
                    break
            elif kind is Epoch:
                self._epochs.append(event)  # type: ignore[arg-type]
                self._done = event.epoch  # type: ignore[union-attr]
                if self._limit is not None and self._done >= self._limit:
                    self._finish()
                    if not stepping:
                        break
            elif kind is Diverged:
                self._halt("diverged", f"Diverged: {event.message}")  # type: ignore[union-attr]
                break
            elif kind is Finished:
                self._halt("stopped", f"Training stopped ({event.reason}).")  # type: ignore[union-attr]
                break
        if not stepping and trainer.step > s0:
            rate = (trainer.step - s0) / max(time.perf_counter() - t0, 1e-9)
            fast = self._engine_speed
            self._engine_speed = rate if fast == 0 else 0.7 * fast + 0.3 * rate
        self._dirty = True
        return ended

    def _finish(self) -> None:
        """The experiment's epochs are done: pause, say so, and let a resume train on."""
        self.paused, self._pending, self._state, self._limit = True, 0, "finished", None
        epochs = "1 epoch" if self._done == 1 else f"{self._done:,} epochs"
        self._note = (
            f"Finished {epochs} (the experiment's epochs = {self.run.experiment.train.epochs}): "
            "training paused. Space trains on; c changes the number of epochs."
        )

    def _halt(self, state: str, note: str) -> None:
        self.paused, self._pending, self._state, self._note = True, 0, state, note
        if self._events is not None:
            self._events.close()
        self._events = None

    # ------------------------------------------------------------------ commands, on the thread
    def _touch(self) -> None:
        """A command whose only effect is a fresh snapshot (new selection, grid size)."""

    def _resumed(self) -> None:
        """After a pause or resume: a finished run that resumes trains on, its note gone."""
        if not self.paused and self._state == "finished":
            self._state, self._note = "training", ""

    def _remeasure(self) -> None:
        """The view is measured again in the next snapshot (a new sample or head to show)."""
        self._next_measure = 0.0

    def _cycle_view(self, direction: int) -> None:
        views = self.scene.views or (self.scene.view,)
        at = views.index(self.shown) if self.shown in views else 0
        self.shown = views[(at + direction) % len(views)]
        self._remeasure()

    def _add_step(self) -> None:
        self._pending += 1

    def _fit_pace(self) -> None:
        """The experiment's default pace (its epochs in about 25 s), unless the user chose one."""
        run = self.run
        per_epoch = steps_per_epoch(len(run.data.X_train), run.trainer.batch_size)
        self._pacer.fit(run.experiment.train.epochs * per_epoch)

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
        self._epochs: list[Epoch] = []
        self._done = 0  # whole epochs trained
        self._limit: int | None = run.experiment.train.epochs  # None: past them, on request
        self._state, self._note, self._speed, self._engine_speed = "training", "", 0.0, 0.0
        self._clock: tuple[float, int] | None = None  # (time, step) the speed is measured from
        self._fit_pace()
        self._measured_step = -1
        self._eval_rows: tuple[probes.Rows, probes.Rows] = (slice(None), slice(None))
        self._next_measure = 0.0
        self._dirty = True
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
        run, now = self.run, time.perf_counter()
        losses: tuple[LossPoint, ...] = ()
        view = None
        step, scene = run.trainer.step, self.scene
        if self.paused or now >= self._next_measure:
            if step != self._measured_step:
                losses = (self._measure_losses(),)
                self._measured_step = step
            view = self._measure_view()
            cost = time.perf_counter() - now
            wait = min(max(POST_INTERVAL, cost / MEASURE_SHARE), MEASURE_EVERY)
            self._next_measure = now + wait
        return Snapshot(
            scene=self.scene,
            step=step,
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
            chain=self._chain(),
            state=self._state if self._state != "training" or not self.paused else "paused",
            note=self._note,
            layer_norms=probes_nets.row_norms(run.net, scene.rows),
            shown=self.shown,
        )

    def _measure_losses(self) -> LossPoint:
        """Loss and accuracy on the training and test sets.

        The first measurement of a network fixes which rows (``probes.loss_rows``): all, up to
        ``EVAL_ROWS``, for small networks; fewer, spread over each set, for a transformer. The
        same rows are used from then on, so the curve stays smooth.
        """
        run, data = self.run, self.run.data
        if self._measured_step < 0:
            self._eval_rows = probes.loss_rows(run.net, data)
        train, test = self._eval_rows
        train_loss, train_acc = run.trainer.evaluate(data.X_train[train], data.y_train[train])
        test_loss, test_acc = run.trainer.evaluate(data.X_test[test], data.y_test[test])
        return LossPoint(run.trainer.step, train_loss, test_loss, train_acc, test_acc)

    def _measure_view(self) -> View:
        scene, net, trainer, shown = self.scene, self.run.net, self.run.trainer, self.shown
        if shown in ("boundary", "surface"):
            return probes.grid_view(scene, net, trainer, *self.grid_size)
        if shown == "curve":
            return probes.curve_view(scene, net)
        if shown == "scatter":
            return probes.scatter_view(scene, net)
        if shown == "filters":
            return probes_nets.feature_maps(net, scene.data, self.sample)
        if shown == "sequence":
            return probes_nets.sequence_fit(net, scene.data, self.sample)
        if shown == "attention":
            return probes_nets.attention_map(net, scene.data, self.sample, self.head)
        if shown == "reconstruction":
            return probes_nets.reconstructions(net, scene.data, self.sample)
        return probes.classes_view(scene, net, trainer)

    def _chain(self) -> probes.ChainRule | ParamNote | None:
        data, net = self.run.data, self.run.net
        try:
            if self.scene.mlp:
                return probes.chain_rule(
                    net, self.run.trainer, data.X_train, data.y_train, self.selected, self.sample
                )
        except (ValueError, FloatingPointError):
            pass
        try:
            return probes_nets.param_note(net, self.selected)
        except (ValueError, IndexError):
            return None
