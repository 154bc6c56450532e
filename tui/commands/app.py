"""``dltui [CONFIG.toml | --preset NAME]``: open the app on an experiment."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.presets import DEFAULT, get_preset
from engine.threads import set_blas_threads
from engine.warmup import start_background


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
    start_background(experiment.train.dtype, experiment.train.optimizer)
    # The interface needs a core of its own; BLAS threads spinning beside it slow training
    # several-fold and gain nothing on networks of this size (engine.threads).
    set_blas_threads(1)
    from tui.app import DltuiApp  # Textual loads only once the experiment is known to be good

    with _sigterm_default():
        result = DltuiApp(experiment, run=run).run()
    return int(result or 0)


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
