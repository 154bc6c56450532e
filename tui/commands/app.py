"""``dltui [CONFIG.toml | --preset NAME]``: open the app on an experiment."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from engine.errors import UserError
from engine.experiment.config import Experiment, Run
from engine.experiment.presets import DEFAULT, get_preset
from engine.threads import set_blas_threads
from engine.trainer import Trainer
from engine.warmup import defer_fused, first_step_cached, kernels_cached, start_background
from tui.session.params import FIRST_BATCH, default_entry


def load_experiment(config_path: str | None, preset: str | None) -> Experiment:
    """The experiment a config file or preset names (the default preset for neither).

    Raises:
        UserError: for a missing or malformed config, an unknown preset, or both given.
    """
    if config_path and preset:
        raise UserError(
            "give either a config file or --preset, not both",
            f"e.g. `dltui {config_path}` or `dltui --preset {preset}`",
        )
    if config_path:
        return Experiment.from_toml(config_path)
    return get_preset(preset or DEFAULT)


def run_app(config_path: str | None, preset: str | None, device: str | None = None) -> int:
    """Loads the experiment and its data, then runs the app until the user quits.

    ``device`` replaces the experiment's ``[train] device``: on ``cuda`` the network trains on
    the GPU and the views read a host copy of it once a frame (tui.session.probes.HostMirror).
    Mistakes in the config or the data surface here, before the screen switches, as UserError.
    """
    experiment = load_experiment(config_path, preset)
    if device is not None:
        experiment = experiment.replace(train={"device": device})
    run = experiment.build()
    # On an empty kernel cache, the kernels the first step reaches last start compiling in
    # another process now, while the interface loads (engine.warmup).
    # A network whose fused kernel is not compiled trains layer by layer until that process
    # has compiled it too.
    t = experiment.train
    if t.device == "cpu":
        defer_fused(run.net, t.loss)
    start_background(t.dtype, t.optimizer, run.net, t.loss)
    # The interface needs a core of its own; BLAS threads spinning beside it slow training
    # several-fold and gain nothing on networks of this size (engine.threads).
    set_blas_threads(1)
    load_kernels_ahead(run)
    from tui.app import DltuiApp  # Textual loads only once the experiment is known to be good

    with _sigterm_default():
        result = DltuiApp(experiment, run=run).run()
    return int(result or 0)


def load_kernels_ahead(run: Run) -> threading.Thread | None:
    """On a warm kernel cache, reads the kernels of ``run``'s first steps in on a thread, while
    the interface loads; returns that thread (None where there is nothing to read ahead).

    The first cached kernel a process calls costs some hundred milliseconds (Numba sets up its
    compiler context and runtime, then reads the kernel from the disk); started here, that
    overlaps Textual's start instead of coming after it, before the first frame of training.
    The passes read ahead are the training session's own first ones, on a copy of the network
    (the same kernels, the run's network untouched): the default entry's forward and backward
    pass (``default_entry``), and the first snapshot's loss on a few training rows. On a cold
    cache nothing starts: the warm-up screen compiles the first step. On a GPU the kernels are
    others.
    """
    if run.experiment.train.device != "cpu" or not (kernels_cached() and first_step_cached(run)):
        return None
    twin, data, t = run.net.copy(), run.data, run.experiment.train

    def read() -> None:
        # an error here is met again on the training thread, which reports it in the app
        with contextlib.suppress(Exception):
            default_entry(twin, data.X_train, data.y_train, t.loss, t.l1, t.l2)
            rows = slice(0, FIRST_BATCH)
            Trainer(twin, loss=t.loss).evaluate(data.X_train[rows], data.y_train[rows])

    thread = threading.Thread(target=read, name="kernels ahead", daemon=True)
    thread.start()
    return thread


@contextmanager
def _sigterm_default() -> Iterator[None]:
    """SIGTERM ends the app at once, as it always has: the command line raises it as an
    interrupt elsewhere, but an exception raised into Textual's event loop mid-frame is not a
    way out the app plans for."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
