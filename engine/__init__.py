"""dltui's numeric engine: networks, losses, optimisers, data sets and the training loop.

Headless use needs nothing but NumPy and Numba::

    from engine import Sequential, Dense, Tanh, Trainer, optim, datasets

    Xtr, ytr, Xte, yte = datasets.load("spiral", noise=0.1, seed=0)
    net = Sequential([Dense(2, 8), Tanh(), Dense(8, 8), Tanh(), Dense(8, 1)], seed=0)
    trainer = Trainer(net, loss="bce_logits", optimizer=optim.Adam(net, lr=0.01), batch_size=16)
    history = trainer.fit(Xtr, ytr, epochs=100, val=(Xte, yte))

Layout: ``activations`` defines every activation once and ``optim`` holds one class per
optimiser; ``layers`` (by family; each layer registers itself), ``backends`` (the typed
``Backend`` interface, CPU and CUDA), ``kernels/cpu`` and ``kernels/cuda`` (the same file names),
``experiment`` (configs, presets, runs, checkpoints, transfer), ``datasets`` (one record per
set) and ``inspect`` (layer outputs, dead units, a loss surface over two weights). Every layer
class is importable from here.
"""

from engine import (
    _numba_setup,  # noqa: F401  (must come before any kernel)
    datasets,
    optim,
)
from engine.errors import UserError
from engine.events import Diverged, Epoch, Finished, History, Step
from engine.layers import *  # noqa: F403  (every layer class, by its __all__)
from engine.layers import __all__ as _layer_names
from engine.losses import LOSSES
from engine.network import Sequential
from engine.sweep import sweep
from engine.trainer import Trainer

__version__ = "0.1.0"

__all__ = [
    *_layer_names,
    "LOSSES",
    "Diverged",
    "Epoch",
    "Finished",
    "History",
    "Sequential",
    "Step",
    "Trainer",
    "UserError",
    "__version__",
    "datasets",
    "optim",
    "sweep",
]
