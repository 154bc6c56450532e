"""Known results of the deeper presets at their fixed seeds, and transfer learning."""

from __future__ import annotations

import numpy as np
import pytest

from engine import UserError
from engine.datasets.sequences import ADDING_BASELINE_MSE
from engine.experiment.config import Experiment
from engine.experiment.presets import get_preset
from engine.experiment.transfer import freeze, start_from


def fit(name: str, **changes):
    exp = get_preset(name).replace(**changes) if changes else get_preset(name)
    run = exp.build()
    d = run.data
    history = run.trainer.fit(
        d.X_train, d.y_train, epochs=exp.train.epochs, val=(d.X_test, d.y_test)
    )
    return run, history


def test_lenet_reaches_98_percent_on_digits() -> None:
    _, history = fit("lenet-digits")
    assert history.val_acc[-1] >= 0.98


def test_lstm_predicts_the_next_sine_value() -> None:
    run, history = fit("lstm-sine")
    variance = float(np.var(run.data.y_test))
    assert history.val_loss[-1] < 0.01 * variance


def test_gru_solves_the_adding_problem() -> None:
    _, history = fit("gru-adding")
    assert history.val_loss[-1] < 0.1 * ADDING_BASELINE_MSE


def test_residual_connections_train_where_the_plain_net_stalls() -> None:
    _, residual = fit("residual-deep")
    _, plain = fit("plain-deep")
    assert residual.val_acc[-1] >= 0.95
    assert plain.val_acc[-1] <= 0.6


def test_autoencoder_and_transformer_learn() -> None:
    _, auto = fit("autoencoder-digits", train={"epochs": 10})
    assert auto.val_loss[-1] < 0.6 * auto.val_loss[0]
    run, text = fit("transformer-text", train={"epochs": 1}, data={"stride": 8})
    assert text.train_loss[-1] < np.log(run.data.n_classes)  # better than guessing uniformly
    assert run.net.forward(run.data.X_test[:2]).shape == (2, 32, run.data.n_classes)


def test_fine_tuning_digits_5_to_9_from_a_net_trained_on_0_to_4(tmp_path) -> None:
    base, history = fit("lenet-digits", data={"classes": [0, 1, 2, 3, 4]}, train={"epochs": 8})
    assert history.val_acc[-1] > 0.95
    base.net.save(tmp_path / "base.npz")
    exp = get_preset("lenet-digits").replace(
        data={"classes": [5, 6, 7, 8, 9]},
        model={"init_from": str(tmp_path / "base.npz"), "new_head": True, "freeze": [0, 3]},
        train={"epochs": 10},
    )
    run = exp.build()
    convs = {k: v.copy() for k, v in run.net.params.items() if k.split(".")[0] in ("0", "3")}
    head = run.net.params["9.W"].copy()
    d = run.data
    h = run.trainer.fit(d.X_train, d.y_train, epochs=10, val=(d.X_test, d.y_test))
    assert h.val_acc[-1] > 0.9
    for name, before in convs.items():
        np.testing.assert_array_equal(run.net.params[name], before)  # frozen
    assert not np.array_equal(run.net.params["9.W"], head)  # the new head trained


def test_transfer_mistakes_are_user_errors(tmp_path) -> None:
    net = get_preset("lenet-digits").build().net
    with pytest.raises(UserError, match="no layer 42"):
        freeze(net, [42])
    with pytest.raises(UserError, match="does not exist"):
        start_from(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        ({"kind": "cnn"}, {"name": "spiral"}, "needs images"),
        ({"kind": "lstm"}, {"name": "digits"}, "needs sequences"),
        ({"kind": "transformer"}, {"name": "sine-seq"}, "needs token sequences"),
        ({"kind": "transformer"}, {"name": "spiral"}, "needs token sequences"),
        ({"kind": "transformer"}, {"name": "iris"}, "needs token sequences"),
        ({"kind": "mlp"}, {"name": "text"}, "to predict at every position"),
        ({"kind": "lstm"}, {"name": "text"}, "for text, kind = 'transformer'"),
        ({"kind": "capsule"}, {"name": "spiral"}, "kind = 'capsule' is not known"),
    ],
)
def test_a_kind_that_does_not_fit_the_data_says_so(model, data, message) -> None:
    losses = {"digits": "cross_entropy", "text": "cross_entropy", "iris": "cross_entropy"}
    loss = losses.get(data["name"], "bce_logits" if data["name"] == "spiral" else "mse")
    raw = {"name": "x", "data": data, "model": model, "train": {"loss": loss}}
    with pytest.raises(UserError) as info:
        Experiment.from_dict(raw).build()
    assert message in f"{info.value.message} {info.value.hint}"
