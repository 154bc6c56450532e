"""The training loop, as a generator of events.

``Trainer.run()`` yields a ``Step`` after every mini-batch and an ``Epoch`` after every pass over
the data; ``fit()`` just drains it. Pausing is not pulling, single-stepping is pulling until the
next ``Step``, stopping is closing the generator: the app, the headless command and scripts all
share this one loop.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import optim
from engine.backends.cpu import Array
from engine.errors import UserError
from engine.events import Diverged, Epoch, Event, Finished, History, Step
from engine.losses import check_loss
from engine.network import Sequential
from engine.saved_state import check_order, check_saved

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class EvalSets:
    """What is measured after every epoch: ``val`` (early stopping watches it) and, when the
    run holds a validation part apart, ``test`` beside it (``Run.val_set()`` makes these)."""

    val: Pair
    test: Pair | None = None


def eval_sets(val: Pair | EvalSets | None) -> EvalSets | None:
    """``val`` as :class:`EvalSets`: a plain ``(X, y)`` pair is the validation set alone."""
    if val is None or isinstance(val, EvalSets):
        return val
    return EvalSets((val[0], val[1]))


class Trainer:
    """Trains a network on arrays.

    Args:
        net: the network.
        loss: a loss name (``engine.losses.LOSSES``).
        optimizer: an ``Optimizer``; SGD with lr 0.01 when None.
        batch_size: 1 is stochastic gradient descent, None the full batch, else mini-batches.
        seed: seeds the order of samples in each epoch.
        l1, l2: penalty rates on the weights (TensorFlow Playground's regularisation).
        clip_norm: clip the global gradient norm to this value (None: no clipping).
        patience: early stopping: stop when the validation loss has not improved for this many
            epochs, and restore the best weights (None: off).
        augment: called on every gathered batch of flat rows, in place, before the step
            (``engine.augment.Augment`` shifts, flips and adds noise to images).
    """

    def __init__(
        self,
        net: Sequential,
        loss: str = "mse",
        optimizer: optim.Optimizer | None = None,
        batch_size: int | None = 32,
        seed: int = 0,
        l1: float = 0.0,
        l2: float = 0.0,
        clip_norm: float | None = None,
        patience: int | None = None,
        augment: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.info = check_loss(loss)
        if batch_size is not None and batch_size < 1:
            raise UserError(
                f"batch size {batch_size} is less than 1", "use 1 (SGD), N, or None (full batch)"
            )
        if l1 < 0 or l2 < 0:
            raise UserError("regularisation rates must not be negative", "use 0 to switch one off")
        self.net = net
        self.loss = loss
        self.optimizer = optimizer if optimizer is not None else optim.SGD(net, lr=0.01)
        self.batch_size = batch_size
        self.l1, self.l2 = float(l1), float(l2)
        self.clip_norm = clip_norm
        self.patience = patience
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.step = 0
        self.epoch = 0
        self.best_val = math.inf
        self.best_epoch: int | None = None
        self.best_data: Array | None = None
        self._order: np.ndarray | None = None  # this epoch's sample order
        self._cursor = 0  # batches of this epoch done
        self._sums = [0.0, 0.0, 0]  # loss sum, correct count, samples, this epoch

    # ------------------------------------------------------------------ metrics
    def predict_classes(self, out: np.ndarray) -> np.ndarray:
        """Class labels from network outputs, following what the loss says the outputs are.

        Outputs per time step (n, T, k) give one label per sample and step, flattened.
        """
        return self._predicted(out).astype(np.int64, copy=False)

    def _predicted(self, out: np.ndarray) -> np.ndarray:
        """``predict_classes``, a single output's as booleans (True: class 1), not converted."""
        if out.ndim > 2:
            out = out.reshape(-1, out.shape[-1])
        if out.shape[1] > 1:
            return out.argmax(axis=1)
        return out[:, 0] > self.info.threshold

    def _uses_accuracy(self, y: np.ndarray) -> bool:
        if self.info.classification:
            return True
        return self.net.out_features == 1 and bool(np.isin(y, (0.0, 1.0)).all())

    def _labels_per_sample(self) -> int:
        """Predictions per sample: one, or one per time step for per-step outputs (n, T, k)."""
        return int(np.prod(self.net.output_shape[:-1]))

    def _correct(self, out: np.ndarray, y: np.ndarray) -> int:
        return self._hits(out, y.reshape(-1).astype(np.int64))

    def _hits(self, out: np.ndarray, labels: np.ndarray) -> int:
        """How many of the labels (int64, one per prediction) ``out`` predicts."""
        return int(np.count_nonzero(self._predicted(out) == labels.reshape(-1)))

    def evaluate(
        self, X: np.ndarray, y: np.ndarray, batch: int = 4096
    ) -> tuple[float, float | None]:
        """Mean data loss and accuracy (None for regression) on a whole set, dropout off."""
        net, total, correct = self.net, 0.0, 0
        accuracy = self._uses_accuracy(y)
        n = X.shape[0]
        for s in range(0, n, batch):
            xb = net.as_input(X[s : s + batch])
            yb = net.as_target(y[s : s + batch], self.loss, xb.shape[0])
            out = net._forward(xb, training=False, cache=False)
            grad = net.backend.empty(out.shape, out.dtype)
            total += net.backend.loss(self.loss, out, yb, grad, self.info.delta) * xb.shape[0]
            if accuracy:
                correct += self._correct(np.asarray(net.backend.to_host(out)), y[s : s + batch])
        acc = correct / (n * self._labels_per_sample()) if accuracy else None
        return total / n, acc

    # ------------------------------------------------------------------ the loop
    def run(
        self,
        X: np.ndarray,
        y: np.ndarray,
        epochs: int | None = 10,
        val: Pair | EvalSets | None = None,
    ) -> Generator[Event, None, None]:
        """Trains ``epochs`` more epochs (None: until the generator is closed), yielding events.

        ``val`` is measured after every epoch: an ``(X, y)`` pair, or :class:`EvalSets` with a
        test set beside the validation set (``Run.val_set()``).
        """
        net = self.net
        sets = eval_sets(val)
        # samples stay flat rows for gathering batches; each batch is shaped for the network
        Xd = net.as_input(X)
        n = Xd.shape[0]
        Xd = Xd.reshape(n, -1)
        yd = net.as_target(y, self.loss, n)
        yd = yd.reshape(n, -1) if yd.ndim > 1 or yd.shape[0] != n else yd
        accuracy = self._uses_accuracy(np.asarray(y))
        # each sample's labels as the accuracy compares them, converted once, not every step
        labels = np.asarray(y).reshape(n, -1).astype(np.int64) if accuracy else None
        bs = n if self.batch_size is None else min(self.batch_size, n)
        xb = net.backend.empty((bs, Xd.shape[1]), net.dtype)
        yb = net.backend.empty((bs, *yd.shape[1:]), yd.dtype)
        if self._order is not None:  # a restored epoch: its order must index these samples
            try:
                check_order(self._order, n, self._cursor, self.batch_size)
            except ValueError as exc:
                raise UserError(
                    f"the saved epoch does not fit the {n} training samples: {exc}",
                    "resume on the data the run trained on, or start a new run",
                ) from None
        completed = self.epoch - (1 if self._order is not None else 0)
        target = None if epochs is None else completed + epochs
        while True:
            if self._order is None:
                if target is not None and self.epoch >= target:
                    break
                self._start_epoch(n)
            assert self._order is not None
            t0 = time.perf_counter()
            n_batches = math.ceil(n / bs)
            while self._cursor < n_batches:
                lo, hi = self._cursor * bs, min(n, (self._cursor + 1) * bs)
                x_view, y_view = xb[: hi - lo], yb[: hi - lo]
                net.backend.gather_rows(Xd, self._order, lo, hi, x_view)
                net.backend.gather_rows(yd, self._order, lo, hi, y_view)
                if self.augment is not None:
                    self.augment(x_view)
                event = self._train_batch(x_view, y_view, labels, lo, hi)
                yield event
                if isinstance(event, Diverged):
                    yield Finished("diverged", self.epoch, self.step, self.best_epoch)
                    return
            epoch_event = self._end_epoch(time.perf_counter() - t0, accuracy, sets)
            stop = self._should_stop(epoch_event)
            yield epoch_event
            if stop:
                self._restore_best()
                yield Finished("early_stopping", self.epoch, self.step, self.best_epoch)
                return
        yield Finished("epochs", self.epoch, self.step, self.best_epoch)

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        epochs: int = 10,
        val: Pair | EvalSets | None = None,
    ) -> History:
        """Runs ``epochs`` epochs and returns the per-epoch history."""
        history = History()
        for event in self.run(X, y, epochs, val):
            if isinstance(event, Epoch):
                history.add(event)
            elif isinstance(event, Diverged):
                history.diverged = event
            elif isinstance(event, Finished):
                history.finished = event
        return history

    def next_batch_rows(self, n: int) -> np.ndarray:
        """The training-set rows of the mini-batch ``run()`` trains on next, for ``n`` samples.

        Read only: the next epoch's order is drawn from a copy of the generator, so the step
        that follows draws the same one (``derive`` shows the gradient of exactly this batch).
        """
        bs = n if self.batch_size is None else min(self.batch_size, n)
        order, cursor = self._order, self._cursor
        if order is None or len(order) != n or cursor >= math.ceil(n / bs):
            order, cursor = copy.deepcopy(self.rng).permutation(n).astype(np.int64), 0
        return order[cursor * bs : min(n, (cursor + 1) * bs)].copy()

    def _start_epoch(self, n: int) -> None:
        self.epoch += 1
        self._order = self.rng.permutation(n).astype(np.int64)
        self._cursor = 0
        self._sums = [0.0, 0.0, 0]

    def _train_batch(
        self, xb: Array, yb: np.ndarray, labels: np.ndarray | None, lo: int, hi: int
    ) -> Step | Diverged:
        net = self.net
        k = xb.shape[0]
        if len(net.input_shape) > 1:
            xb = xb.reshape(k, *net.input_shape)
        if yb.ndim > 1 and (self.loss == "cross_entropy" or len(net.output_shape) > 1):
            yb = (
                yb.reshape(-1) if self.loss == "cross_entropy" else yb.reshape(k, *net.output_shape)
            )
        # without clipping, a split fused step takes the update in the same call (last_updated)
        then = None if self.clip_norm else self.optimizer
        total = net._loss_and_grad(xb, yb, self.loss, self.l1, self.l2, then)
        loss = total - net.last_penalty
        if not math.isfinite(total):
            return Diverged(self.step, self.epoch, loss, self._divergence_advice(loss))
        norm = optim.clip_grad_norm(net, self.clip_norm) if self.clip_norm else None
        if not net.last_updated:
            self.optimizer.step()
        self.step += 1
        self._cursor += 1
        self._sums[0] += loss * (hi - lo)
        self._sums[2] += hi - lo
        if labels is not None:
            out = np.asarray(net.backend.to_host(net.last_output))
            assert self._order is not None
            self._sums[1] += self._hits(out, labels[self._order[lo:hi]])
        return Step(self.step, self.epoch, loss, norm)

    def _divergence_advice(self, loss: float) -> str:
        """What happened, at the step ``Diverged.step`` names, and how to recover."""
        lr = self.optimizer.lr
        fix = f"lower the learning rate (now {lr:g}; try {lr / 10:g})"
        if not self.clip_norm:
            fix += " or clip the gradients (clip in setup (c), or clip_norm = 1.0 in [train])"
        when = (
            f"after step {self.step} (epoch {self.epoch})"
            if self.step
            else f"on the first batch, before any step (epoch {self.epoch})"
        )
        return (
            f"the loss became {loss} {when}; training stopped. "
            f"To recover: {fix}, then reset the weights."
        )

    def _end_epoch(self, seconds: float, accuracy: bool, sets: EvalSets | None) -> Epoch:
        loss_sum, correct, count = self._sums
        val_loss = val_acc = test_loss = test_acc = None
        if sets is not None and len(sets.val[0]):
            val_loss, val_acc = self.evaluate(*sets.val)
        if sets is not None and sets.test is not None and len(sets.test[0]):
            test_loss, test_acc = self.evaluate(*sets.test)
        self._order = None
        return Epoch(
            self.epoch,
            self.step,
            loss_sum / max(count, 1),
            correct / (count * self._labels_per_sample()) if accuracy and count else None,
            val_loss,
            val_acc,
            seconds,
            self.optimizer.lr,
            test_loss,
            test_acc,
        )

    def _should_stop(self, e: Epoch) -> bool:
        if self.patience is None or e.val_loss is None:
            return False
        if e.val_loss < self.best_val:
            self.best_val, self.best_epoch = e.val_loss, e.epoch
            self.best_data = np.array(self.net.backend.to_host(self.net.data))
            return False
        assert self.best_epoch is not None
        return e.epoch - self.best_epoch >= self.patience

    def _restore_best(self) -> None:
        if self.best_data is not None:
            self.net.data[...] = self.best_data

    # ------------------------------------------------------------------ resuming
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able facts that let ``restore`` continue exactly where this stands."""
        arrays = {f"opt.{k}": v for k, v in self.optimizer.state_dict().items()}
        if self._order is not None:
            arrays["order"] = self._order
        if self.best_data is not None:
            arrays["best_data"] = self.best_data
        meta = {
            "step": self.step,
            "epoch": self.epoch,
            "cursor": self._cursor,
            "sums": list(self._sums),
            "opt_t": self.optimizer.t,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "rng": self.rng.bit_generator.state,
            "augment_rng": _rng_state(self.augment),
        }
        return arrays, meta

    def restore(
        self, arrays: dict[str, np.ndarray], meta: dict[str, Any], n: int | None = None
    ) -> None:
        """Continues from a ``state()`` (the network's weights are restored separately).

        Every value is checked before any is used: the sample order goes into a kernel that
        does not check its indices. ``n`` is the number of training samples; with it, the
        order must be a permutation of them and the cursor inside the epoch. A value that
        does not fit raises ValueError naming it (``RunDir`` adds the file and the fix).
        """
        opt = {k[4:]: v for k, v in arrays.items() if k.startswith("opt.")}
        check_saved(
            arrays, meta, opt, self.optimizer.state, self.net.data.shape, n, self.batch_size
        )
        self.optimizer.load_state_dict(opt, meta["opt_t"])
        self.step, self.epoch, self._cursor = meta["step"], meta["epoch"], meta["cursor"]
        self._sums = [float(meta["sums"][0]), float(meta["sums"][1]), int(meta["sums"][2])]
        order = arrays.get("order")
        self._order = None if order is None else np.ascontiguousarray(order, dtype=np.int64)
        self.best_val = float(meta["best_val"])
        self.best_epoch = meta["best_epoch"]
        best = arrays.get("best_data")
        self.best_data = None if best is None else np.array(best, dtype=self.net.dtype)
        self.rng.bit_generator.state = meta["rng"]
        rng = getattr(self.augment, "rng", None)
        if meta.get("augment_rng") and rng is not None:
            rng.bit_generator.state = meta["augment_rng"]


def _rng_state(augment: object) -> dict[str, Any] | None:
    """The state of an augmentation's random generator, when it has one (``engine.augment``)."""
    rng = getattr(augment, "rng", None)
    return None if rng is None else rng.bit_generator.state
