"""TensorBoard event files for a run folder, so that ``tensorboard --logdir runs`` shows it.

::

    runs/spiral-20250101-120000/tb/events.out.tfevents.…

Written with ``tensorboardX`` (the ``tensorboard`` extra), imported only when a log is made: the
engine pays nothing for it otherwise. What goes in, every value at the step the trainer had
reached (TensorBoard's x axis, one for all tags):

- ``loss/train``, ``loss/val``, ``loss/test``, ``accuracy/…`` and ``lr``: each epoch's row of
  metrics.csv, the same numbers (``loss/test`` only where the run has a validation part beside
  its test part, as in metrics.csv);
- ``loss/step``: each mini-batch's loss, when step logging is on;
- ``grad_norm/NAME``: a histogram per parameter (``0.W``, ``0.b`` …) of the gradient's L2 norm
  over the epoch's steps, and ``grad_norm_mean/NAME`` its mean: a layer whose gradients vanish
  or explode shows it here.

A resumed run opens the same folder with ``purge_step`` set to the checkpoint's step: events a
crash left beyond the checkpoint are dropped by TensorBoard's reader, and none is repeated.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UserError
from engine.events import Epoch, Event, Step

if TYPE_CHECKING:
    from engine.network import Sequential

TB_DIR = "tb"
INSTALL_HINT = 'install the TensorBoard extra: pip install -e ".[tensorboard]"'
# Epoch fields and the tags they go to.
EPOCH_TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "test_loss": "loss/test",
    "train_acc": "accuracy/train",
    "val_acc": "accuracy/val",
    "test_acc": "accuracy/test",
    "lr": "lr",
}


def summary_writer() -> Any:
    """tensorboardX's SummaryWriter, imported now.

    Raises:
        UserError: naming the extra, when tensorboardX is not installed.
    """
    try:
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise UserError(f"TensorBoard logs need tensorboardX ({exc})", INSTALL_HINT) from None
    return SummaryWriter


class TensorBoardLog:
    """One run's TensorBoard writer, fed the trainer's events.

    Args:
        run_path: the run folder; the events go to ``run_path/tb``.
        net: the network whose gradients are measured after each step.
        log_steps: write each step's loss too.
        purge_step: on a resume, the checkpoint's step (events after it are superseded).

    Raises:
        UserError: when tensorboardX is not installed.
    """

    def __init__(
        self, run_path: Path, net: Sequential, log_steps: bool = False, purge_step: int = 0
    ) -> None:
        SummaryWriter = summary_writer()
        self.path = run_path / TB_DIR
        self.net = net
        self.log_steps = log_steps
        # A session's file is named by the step it starts from: two sessions of one second
        # would otherwise share a name, the second one overwriting the first.
        self.writer: Any = SummaryWriter(
            logdir=str(self.path),
            purge_step=purge_step + 1 if purge_step else None,
            filename_suffix=f".from-step-{purge_step}",
        )
        # One pass over the flat gradient buffer a step: each parameter's sum of squares
        # (np.add.reduceat from where each one starts), not one NumPy call per parameter.
        self._names = sorted(net.offsets, key=net.offsets.__getitem__)
        self._starts = np.array([net.offsets[name] for name in self._names], dtype=np.int64)
        self._norms: list[np.ndarray] = []

    def on_event(self, event: Event) -> None:
        """Takes one training event: a step's gradient norms (and loss), or an epoch's row."""
        if isinstance(event, Step):
            self._step(event)
        elif isinstance(event, Epoch):
            self._epoch(event)

    def _step(self, event: Step) -> None:
        grad = np.asarray(self.net.backend.to_host(self.net.grad))
        if len(self._starts):
            squares = np.square(grad, dtype=np.float64)
            self._norms.append(np.sqrt(np.add.reduceat(squares, self._starts)))
        if self.log_steps:
            self.writer.add_scalar("loss/step", event.loss, event.step)

    def _epoch(self, row: Epoch) -> None:
        for field, tag in EPOCH_TAGS.items():
            value = getattr(row, field)
            if value is not None:
                self.writer.add_scalar(tag, value, row.step)
        if self._norms:
            norms = np.stack(self._norms)  # (steps, parameters)
            for name, values in zip(self._names, norms.T, strict=True):
                self.writer.add_histogram(f"grad_norm/{name}", values, row.step)
                self.writer.add_scalar(f"grad_norm_mean/{name}", float(values.mean()), row.step)
            self._norms.clear()
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
