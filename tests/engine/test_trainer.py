"""The training loop: events, batching, divergence, early stopping, and known results."""

from __future__ import annotations

import numpy as np
import pytest

from engine import (
    Dense,
    Diverged,
    Epoch,
    Finished,
    Sequential,
    Step,
    Tanh,
    Trainer,
    UserError,
    optim,
)
from engine.experiment.presets import get_preset


def small_problem(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 2))
    return X, (X[:, :1] * X[:, 1:] > 0).astype(float)


def make_trainer(batch_size: int | None, lr: float = 0.1, **kw) -> Trainer:
    net = Sequential([Dense(2, 6), Tanh(), Dense(6, 1)], seed=0, dtype="float64")
    return Trainer(net, "bce_logits", optim.SGD(net, lr=lr), batch_size=batch_size, **kw)


@pytest.mark.parametrize(("batch_size", "steps_per_epoch"), [(1, 20), (6, 4), (None, 1), (100, 1)])
def test_batch_size_sets_steps_per_epoch(batch_size: int | None, steps_per_epoch: int) -> None:
    X, y = small_problem()
    events = list(make_trainer(batch_size).run(X, y, epochs=2))
    steps = [e for e in events if isinstance(e, Step)]
    epochs = [e for e in events if isinstance(e, Epoch)]
    assert len(steps) == 2 * steps_per_epoch and [e.epoch for e in epochs] == [1, 2]
    assert events[-1] == Finished("epochs", 2, 2 * steps_per_epoch, None)
    assert [s.step for s in steps] == list(range(1, 2 * steps_per_epoch + 1))


def test_full_batch_step_equals_manual_gradient_descent() -> None:
    X, y = small_problem()
    trainer = make_trainer(None, lr=0.5)
    twin = trainer.net.copy()
    next(trainer.run(X, y, epochs=1))
    twin.loss_and_grad(X, y, "bce_logits")
    np.testing.assert_allclose(trainer.net.data, twin.data - 0.5 * twin.grad, rtol=1e-12)


def test_same_seed_same_run_and_epoch_metrics() -> None:
    X, y = small_problem()
    h1 = make_trainer(4, seed=7).fit(X, y, epochs=3, val=(X, y))
    h2 = make_trainer(4, seed=7).fit(X, y, epochs=3, val=(X, y))
    assert h1.train_loss == h2.train_loss and h1.val_loss == h2.val_loss
    assert all(0 <= a <= 1 for a in h1.train_acc) and h1.val_acc[-1] is not None
    h3 = make_trainer(4, seed=8).fit(X, y, epochs=3)
    assert h3.train_loss != h1.train_loss


def test_pausing_is_not_pulling_and_stepping_is_one_pull() -> None:
    X, y = small_problem()
    trainer = make_trainer(5)
    gen = trainer.run(X, y, epochs=None)
    before = trainer.net.data.copy()
    event = next(gen)
    assert isinstance(event, Step) and trainer.step == 1
    assert not np.array_equal(before, trainer.net.data)
    frozen = trainer.net.data.copy()
    np.testing.assert_array_equal(frozen, trainer.net.data)  # nothing moves between pulls
    gen.close()
    assert trainer.step == 1


def test_divergence_stops_with_advice_instead_of_crashing() -> None:
    X, y = small_problem()
    net = Sequential([Dense(2, 4), Dense(4, 1)], seed=0)
    trainer = Trainer(net, "mse", optim.SGD(net, lr=10.0), batch_size=None)
    events = list(trainer.run(X * 10, y, epochs=500))
    diverged = [e for e in events if isinstance(e, Diverged)]
    assert diverged and events[-1].reason == "diverged"
    assert (
        "learning rate" in diverged[0].message and f"step {diverged[0].step}" in diverged[0].message
    )


def test_early_stopping_restores_the_best_weights() -> None:
    X, y = small_problem(40)
    Xv, yv = X[:10] * -1, y[:10]  # a validation set the model cannot fit: loss rises
    trainer = make_trainer(4, lr=0.5, patience=3)
    history = trainer.fit(X, y, epochs=100, val=(Xv, yv))
    best = history.finished.best_epoch
    assert history.finished.reason == "early_stopping"
    assert len(history) == best + 3
    loss, _ = trainer.evaluate(Xv, yv)
    assert loss == pytest.approx(min(history.val_loss))


def test_gradient_clipping_reports_the_norm() -> None:
    X, y = small_problem()
    trainer = make_trainer(None, clip_norm=1e-3)
    event = next(trainer.run(X, y, epochs=1))
    assert event.grad_norm is not None and event.grad_norm > 1e-3


def test_bad_trainer_settings_are_user_errors() -> None:
    with pytest.raises(UserError, match="batch size 0"):
        make_trainer(0)
    with pytest.raises(UserError, match="negative"):
        make_trainer(4, l2=-1.0)


def fit_preset(name: str) -> tuple[float, float]:
    run = get_preset(name).build()
    d = run.data
    h = run.trainer.fit(
        d.X_train, d.y_train, epochs=run.experiment.train.epochs, val=(d.X_test, d.y_test)
    )
    return h.train_acc[-1], h.val_acc[-1]


@pytest.mark.parametrize(("preset", "target"), [("xor", 1.0), ("spiral", 0.95), ("digits", 0.95)])
def test_known_results_at_fixed_seed(preset: str, target: float) -> None:
    _, test_acc = fit_preset(preset)
    assert test_acc >= target


@pytest.mark.parametrize(
    ("layers", "loss", "labels"),
    [
        (lambda: [Dense(2, 6), Tanh(), Dense(6, 1)], "bce_logits", lambda X: X[:, :1] > 0),
        (lambda: [Dense(2, 6), Tanh(), Dense(6, 3)], "cross_entropy", lambda X: X[:, 0] > 0),
    ],
)
def test_an_epochs_training_accuracy_counts_what_each_batch_predicted(layers, loss, labels) -> None:
    """The accuracy of an epoch is the share of its samples that the network, as it was when it
    trained on each one's batch, classified right: with one batch, the starting network's."""
    X, _ = small_problem(40)
    y = labels(X).astype(float if loss == "bce_logits" else np.int64)
    net = Sequential(layers(), seed=1, dtype="float64")
    trainer = Trainer(net, loss, optim.SGD(net, lr=0.1), batch_size=None)
    expected = np.mean(trainer.predict_classes(net.forward(X)) == y.reshape(-1))
    epoch = next(e for e in trainer.run(X, y, epochs=1) if isinstance(e, Epoch))
    assert epoch.train_acc == pytest.approx(expected)
    assert 0 < expected < 1  # a test that could fail either way
