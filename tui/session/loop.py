"""The training thread's loop: pull ``Trainer.run()`` at the chosen pace, between commands.

:class:`TrainingLoop` is the half of the training session (``tui.session.worker``) that runs on
the training thread: it carries out the commands the interface queued, trains the steps the pace
allows until the next snapshot is due, sleeps when ahead of the pace (a command wakes it at once),
and notices epochs, the end of the experiment's epochs, divergence and early stopping. What a
snapshot holds, and the commands themselves, are the session's.

A run's state is "starting" until its first step is done: that step may compile the network's
kernels for seconds, so the pace's schedule and the steps/s readout start after it, and slow
bursts in the first second after it are not taken as an engine too slow for its pace. The step
is reported as soon as it is done, not at the end of a burst: the first frame of training
comes that much sooner.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Generator

from engine.errors import UserError
from engine.events import Diverged, Epoch, Event, Finished, Step
from engine.experiment.config import Run
from tui.session.pace import WARM_SECONDS, Pacer, SpeedMeter, steps_per_epoch
from tui.session.records import Notice, Snapshot
from tui.session.steps import StepLosses

POST_INTERVAL = 0.1  # seconds between snapshots while training
SLOWEST_POST = 0.25  # seconds: the longest wait between snapshots at full speed
DRAW_SHARE = 0.10
"""At full speed, the most of the time that drawing the snapshots may take on the interface
thread: the interface and the training thread share one interpreter lock, and a small network's
steps run in Python most of their time, so every millisecond spent drawing is one not spent
training. Where drawing a frame costs more than this share of ``POST_INTERVAL``, the snapshots
come further apart (up to ``SLOWEST_POST``) while training runs flat out (at full speed, or
behind a pace it cannot keep); a paced run that keeps its pace sleeps between bursts anyway and
keeps ``POST_INTERVAL``."""

Post = Callable[[Snapshot | Notice], None]


class TrainingLoop:
    """Trains a run on a thread of its own, carrying out commands queued from another.

    Subclasses say what a snapshot is (:meth:`_publish`); the state here is the loop's: whether
    it is paused, single steps still to train, the epochs done and the speed measured.
    """

    run: Run
    paused: bool

    def __init__(self, pace: float | None) -> None:
        self._pacer = Pacer(pace)
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._events: Generator[Event, None, None] | None = None
        self._pending = 0
        self._flat_out = False  # the last burst trained until its deadline: nothing held it
        self.draw_cost = 0.0
        """Seconds of the interface thread's processor per snapshot drawn, as the interface
        measured it (``tui.session.pace.DrawMeter``); set from that thread."""

    def _send(self, command: Callable[[], None]) -> None:
        """Queues ``command`` for the training thread and wakes it."""
        self._commands.put(command)
        self._wake.set()

    def stop(self) -> None:
        """Ends ``loop`` after the current step."""
        self._stop.set()
        self._wake.set()

    @property
    def stopped(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    @property
    def state(self) -> str:
        """What the run does now, as a snapshot would say it ("paused" for a run held by a pause
        rather than ended); read from another thread, it may be one command old."""
        return self._state if self._state != "training" or not self.paused else "paused"

    def _restart_loop(self) -> None:
        """A new run: nothing trained of it yet, its experiment's epochs to go."""
        run = self.run
        self._epochs: list[Epoch] = []
        self._done = 0  # whole epochs trained
        self._limit: int | None = run.experiment.train.epochs  # None: past them, on request
        self._state, self._note, self._speed, self._engine_speed = "training", "", 0.0, 0.0
        self._meter = SpeedMeter()
        self._measured: float | None = None  # the pace the speed is measured at (None: stopped)
        self._warm_from: float | None = None  # when the run's first step ended
        self._batch_losses = StepLosses()  # each mini-batch's loss, for the per-step plot
        self._fit_pace()
        self._dirty = True

    def _fit_pace(self) -> None:
        """The experiment's default pace (its epochs in about 25 s), unless the user chose one."""
        run = self.run
        per_epoch = steps_per_epoch(len(run.data.X_train), run.trainer.batch_size)
        self._pacer.fit(run.experiment.train.epochs * per_epoch)

    def _publish(self) -> None:
        raise NotImplementedError

    def _between_bursts(self) -> None:
        """Runs on the training thread before each burst of steps (nothing here)."""

    # ------------------------------------------------------------------ the training thread
    def loop(self, post: Post) -> None:
        """Trains and reports until :meth:`stop`; run it on a thread of its own."""
        self._post = post
        if not self.paused and self._state == "training":
            self._state = "starting"  # until the first step, which may compile kernels
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
        self._between_bursts()
        if self.paused and self._pending == 0:
            self._measured, self._flat_out = None, False
            if self._state == "starting":
                self._state, self._dirty = "training", True
            if self._dirty:
                self._publish()
            self._wake.wait(0.25)
            self._wake.clear()
            return
        start = time.perf_counter()
        deadline = start + self._post_interval()
        if self.paused:  # single steps are never held back
            self._measured = None
            self._flat_out = False
            self._train(deadline, math.inf)
        else:
            if self._measured is None:  # (re)starting: the pace's schedule starts now
                self._pacer.restart()
            if self._state == "training" and self._warm_from is None:
                self._state = "starting"  # the first step may compile kernels for seconds
                self._publish()
            self._follow_pace(start)
            ended = self._train(deadline, self._pacer.limit(start, self.run.trainer.step, deadline))
            self._flat_out = ended == "time"
            rested = ended != "pace" or self._rest(deadline)
            self._settle(ended)
            if rested:  # a rest cut short would count its steps over too short a time
                self._measure_speed()
        self._run_commands()  # a command that cut the burst short shows in this snapshot
        if self._measured is not None:
            self._follow_pace(time.perf_counter())
        if self._dirty:
            self._publish()

    def _post_interval(self) -> float:
        """Seconds until the next snapshot: ``POST_INTERVAL``, or longer where training runs
        flat out and drawing each snapshot would take more than ``DRAW_SHARE`` of the time."""
        if not self._flat_out:
            return POST_INTERVAL
        return min(SLOWEST_POST, max(POST_INTERVAL, self.draw_cost / DRAW_SHARE))

    def _rest(self, until: float) -> bool:
        """Ahead of the pace: sleeps until ``until``, or until a command or stop arrives.

        Returns:
            Whether it slept until ``until``.
        """
        self._wake.clear()
        if not self._commands.empty() or self.paused or self._stop.is_set():
            return False
        return not self._wake.wait(max(until - time.perf_counter(), 0.0))

    def _follow_pace(self, now: float) -> None:
        """A new pace, or training (re)starting: the steps/s readout measures afresh from now."""
        if self._measured != self._pacer.rate:
            self._meter.restart(now, self.run.trainer.step)
            self._speed, self._measured, self._dirty = 0.0, self._pacer.rate, True

    def _measure_speed(self) -> None:
        """Steps per second over the last second since the last change, sleeps included."""
        self._meter.add(time.perf_counter(), self.run.trainer.step)
        self._speed = self._meter.rate

    def _warmed(self) -> None:
        """The run's first step is done: its kernels are compiled, the pace starts from here."""
        now = time.perf_counter()
        self._warm_from = now
        if self._state == "starting":
            self._state = "training"
        self._pacer.restart()
        if self._measured is not None:
            self._meter.restart(now, self.run.trainer.step)
            self._speed = 0.0

    def _settle(self, ended: str) -> None:
        """Counts a burst towards giving up a default pace the engine cannot reach, once warm."""
        warm = self._warm_from
        if warm is None or time.perf_counter() - warm < WARM_SECONDS:
            return
        if self._pacer.settle(ended):
            self._dirty = True
            rate = f"about {self._engine_speed:,.0f} steps/s" if self._engine_speed else "less"
            self._post(
                Notice(
                    f"This network trains at {rate} here, under its default pace, so it runs at "
                    "full speed; < sets a slower pace."
                )
            )

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
            val = self.run.val_set()
            self._events = self.run.trainer.run(data.X_train, data.y_train, None, val=val)
            cold = self._warm_from is None and not self.paused
            self._state, self._note, self._dirty = "starting" if cold else "training", "", True
        trainer = self.run.trainer
        if trainer.step + 1 > limit:
            return "pace"
        events, commands, stepping = self._events, self._commands, self.paused
        t0, s0, ended = time.perf_counter(), trainer.step, ""
        for event in events:
            kind = event.__class__
            if kind is Step:
                self._batch_losses.add(event.step, event.loss)  # type: ignore[union-attr]
                if stepping:
                    self._pending -= 1
                    if self._pending <= 0:
                        break
                elif self.paused or not commands.empty() or self._warm_from is None:
                    break  # (after a first step: shown at once, the pace starts after it)
                elif time.perf_counter() >= deadline:
                    ended = "time"
                    break
                elif event.step + 1 > limit:
                    ended = "pace"
                    break
            elif kind is Epoch:
                self._epochs.append(event)  # type: ignore[arg-type]
                self._done = event.epoch
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
        if self._warm_from is None and trainer.step > s0:
            self._warmed()  # the burst of the first step says nothing about the engine's speed
        elif not stepping and trainer.step > s0:
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
