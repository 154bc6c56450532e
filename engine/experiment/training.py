"""Training a run into its folder: ``train`` drives the trainer and saves as it goes.

``train`` pulls ``Trainer.run()``, adds every epoch's row to the run folder (``runs.RunDir``)
and saves it at the end of the first epoch, every ``save_every`` seconds after, and when
training ends; ``stop_on_sigint`` turns Ctrl-C into a request to stop at a step boundary.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.events import Diverged, Epoch, Event, Finished, Step

if TYPE_CHECKING:
    from engine.experiment.config import Run
    from engine.experiment.runs import RunDir


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
    events = trainer.run(data.X_train, data.y_train, left, val=run.val_set())
    reason, diverged, last_save = "epochs", None, -math.inf
    with contextlib.closing(events):
        while (event := next(events, None)) is not None:  # an interrupt in here propagates
            if isinstance(event, Epoch):
                rundir.add_row(event)
                if time.perf_counter() - last_save >= save_every:
                    rundir.save(run)
                    last_save = time.perf_counter()
            elif isinstance(event, Step):
                rundir.add_step(event, trainer.optimizer.lr)
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
