"""The events ``Trainer.run()`` yields: small frozen records, cheap to make and to pass on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Step:
    """One mini-batch was trained on: forward, backward, update.

    Attributes:
        step: steps done so far (1 after the first).
        epoch: the epoch this step belongs to (1-based).
        loss: the batch's data loss (without penalties), before the update.
        grad_norm: the global gradient norm before clipping, or None when not computed.
    """

    step: int
    epoch: int
    loss: float
    grad_norm: float | None = None


@dataclass(frozen=True, slots=True)
class Epoch:
    """An epoch ended. Train figures are the means over its batches (as Keras reports them).

    ``val_loss``/``val_acc`` are measured on the validation part when the run has one, else on
    the test part; ``test_loss``/``test_acc`` on the test part, only when a validation part
    exists beside it (None otherwise, and in rows written before they existed).
    """

    epoch: int
    step: int
    train_loss: float
    train_acc: float | None
    val_loss: float | None
    val_acc: float | None
    seconds: float
    lr: float
    test_loss: float | None = None
    test_acc: float | None = None


@dataclass(frozen=True, slots=True)
class Diverged:
    """The loss became NaN or infinite; training stopped before applying the next update.

    ``step`` is the number of steps applied (``Trainer.step``, what the app's header shows):
    the weights those steps left give a non-finite loss. ``message`` names the same step.
    """

    step: int
    epoch: int
    loss: float
    message: str


@dataclass(frozen=True, slots=True)
class Finished:
    """Training ended: ``reason`` is "epochs", "early_stopping" or "diverged"."""

    reason: str
    epoch: int
    step: int
    best_epoch: int | None = None


Event = Step | Epoch | Diverged | Finished


@dataclass
class History:
    """Per-epoch metrics of a run, as ``fit`` returns them."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    test_acc: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    finished: Finished | None = None
    diverged: Diverged | None = None

    def add(self, e: Epoch) -> None:
        self.epoch.append(e.epoch)
        self.train_loss.append(e.train_loss)
        self.train_acc.append(e.train_acc)
        self.val_loss.append(e.val_loss)
        self.val_acc.append(e.val_acc)
        self.test_loss.append(e.test_loss)
        self.test_acc.append(e.test_acc)
        self.seconds.append(e.seconds)

    def __len__(self) -> int:
        return len(self.epoch)
