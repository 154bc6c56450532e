"""``verify`` on every preset's network, and that it notices a wrong engine gradient."""

from __future__ import annotations

import time

import numpy as np
import pytest
from derive_helpers import XOR_X, XOR_Y, xor_net

from derive import derive, verify, verify_report
from engine import Dense, Sequential, Tanh, UserError, datasets
from engine.datasets.split import DataSplit
from engine.events import Step
from engine.experiment.config import Run
from engine.experiment.presets import PRESETS, get_preset

DOWNLOADED = {"mnist": (784, 10), "fashion-mnist": (784, 10)}  # sets not shipped with dltui


def _build(name: str) -> Run:
    """The preset as built; a downloaded set that is not at hand becomes random data its shape."""
    exp = get_preset(name)
    try:
        return exp.build()
    except UserError:
        if exp.data.name not in DOWNLOADED:
            raise
    features, classes = DOWNLOADED[exp.data.name]
    rng = np.random.default_rng(0)
    split = DataSplit(
        rng.random((64, features)),
        rng.integers(0, classes, 64),
        rng.random((16, features)),
        rng.integers(0, classes, 16),
        exp.data.name,
        "multiclass",
        classes,
        tuple(f"pixel{i}" for i in range(features)),
        image_shape=(28, 28),
        sample_shape=(1, 28, 28),
    )
    return exp.build(data=split)


@pytest.mark.parametrize("name", PRESETS)
def test_verify_passes_on_every_preset(name: str) -> None:
    run = _build(name)
    trainer, data = run.trainer, run.data
    X, y = data.X_train[:32], data.y_train[:32]
    assert verify(run.net, X, y, trainer.loss, trainer.l1, trainer.l2) < 1e-9
    events = trainer.run(data.X_train, data.y_train, epochs=None)
    for _, event in zip(range(40), events):
        if isinstance(event, Step) and event.step >= 5:
            break
    events.close()
    report = verify_report(run.net, X, y, trainer.loss, trainer.l1, trainer.l2)
    assert report.passed(), report.summary()
    assert report.n_params == run.net.n_params


def test_verify_notices_a_wrong_engine_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Sequential.loss_and_grad

    def skewed(self: Sequential, *args: object, **kwargs: object) -> float:
        value = original(self, *args, **kwargs)
        self.grads["2.W"][0, 1] += 1e-6
        return value

    monkeypatch.setattr(Sequential, "loss_and_grad", skewed)
    report = verify_report(xor_net(), XOR_X, XOR_Y, "mse")
    assert report.max_abs_diff == pytest.approx(1e-6, rel=1e-6)
    assert report.worst == "2.W[0,1]" and not report.passed()
    assert "DISAGREE" in report.summary()


def test_verify_with_penalties_and_float32() -> None:
    net = Sequential([Dense(2, 4), Tanh(), Dense(4, 1)], seed=5)
    assert verify(net, XOR_X, XOR_Y, "bce_logits", 0.01, 0.02) < 1e-9


def test_digits_sized_derivations_take_under_a_second() -> None:
    split = datasets.load("digits")
    net = Sequential([Dense(64, 32), Tanh(), Dense(32, 10)], seed=0)
    x, y = split.X_train[:1], split.y_train[:1]
    derive(net, x, y, "cross_entropy", "0.W[0,0]")  # builds the lambdified rules once
    for param in ("0.W[3,17]", "0.b[31]", "2.W[9,31]", "2.b[0]"):
        start = time.perf_counter()
        d = derive(net, x, y, "cross_entropy", param)
        d.to_text()
        assert time.perf_counter() - start < 1.0, param
