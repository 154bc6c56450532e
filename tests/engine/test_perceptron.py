"""The perceptron: a step output unit trained by Rosenblatt's rule, as the perceptron loss."""

from __future__ import annotations

import numpy as np
import pytest

from engine import optim
from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.layers import Dense, Heaviside, Sigmoid
from engine.network import Sequential
from engine.trainer import Trainer


def perceptron(**data: object) -> Experiment:
    return Experiment().replace(
        data={"name": "gaussians", "n": 200, "noise": 0.0, **data},
        model={"hidden": [], "output": "step"},
        train={"optimizer": "sgd", "lr": 1.0, "batch_size": 1, "epochs": 30},
    )


def test_auto_loss_with_a_step_output_is_the_perceptron() -> None:
    run = perceptron().build()
    assert run.experiment.train.loss == "perceptron"
    assert isinstance(run.net.layers[-1], Heaviside)


def test_it_separates_linearly_separable_data() -> None:
    run = perceptron().build()
    d = run.data
    history = run.trainer.fit(d.X_train, d.y_train, 30)
    assert history.train_acc[-1] == 1.0 and history.train_loss[-1] == 0.0
    # a whole epoch without a mistake: the training set is separated, so the weights stand
    out = run.net.forward(d.X_train)
    np.testing.assert_array_equal(out, d.y_train)


def test_hand_made_clusters_are_separated_on_a_hand_made_network() -> None:
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(-2, 0.3, (20, 2)), rng.normal(2, 0.3, (20, 2))])
    y = np.concatenate([np.zeros(20), np.ones(20)])[:, None]
    net = Sequential([Dense(2, 1), Heaviside()], seed=0, dtype="float64")
    net.set_params({"0.W": [[-1.0, -1.0]], "0.b": [0.0]})  # every point on the wrong side
    trainer = Trainer(net, "perceptron", optim.SGD(net, lr=1.0), batch_size=1)
    history = trainer.fit(X, y, 10)
    assert history.train_loss[0] > 0.0 and history.train_acc[-1] == 1.0


@pytest.mark.parametrize(("y", "b"), [(1.0, -0.5), (0.0, 1.0), (0.0, -0.5)])
def test_one_update_is_rosenblatts_rule(y: float, b: float) -> None:
    net = Sequential([Dense(3, 1), Heaviside()], seed=0, dtype="float64")
    w = np.array([[0.2, -0.4, 0.1]])
    net.set_params({"0.W": w, "0.b": [b]})
    x = np.array([[1.0, 2.0, -1.0]])
    y_hat = float(w[0] @ x[0] + b > 0)
    trainer = Trainer(net, "perceptron", optim.SGD(net, lr=1.0), batch_size=1)
    trainer.fit(x, np.array([[y]]), 1)
    # w ← w + (y − ŷ)·x, b ← b + (y − ŷ): no change when the sample was right
    np.testing.assert_allclose(net.params["0.W"], w + (y - y_hat) * x)
    np.testing.assert_allclose(net.params["0.b"], [b + (y - y_hat)])


def test_the_loss_is_the_misclassification_rate_and_the_gradient_is_y_hat_minus_y() -> None:
    net = Sequential([Dense(2, 1), Heaviside()], seed=0, dtype="float64")
    net.set_params({"0.W": [[1.0, 0.0]], "0.b": [0.0]})
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0], [-2.0, 3.0]])
    y = np.array([[1.0], [1.0], [0.0], [0.0]])  # ŷ = 1, 0, 1, 0: two wrong
    loss = net.loss_and_grad(X, y, "perceptron")
    assert loss == pytest.approx(0.5)
    err = np.array([0.0, -1.0, 1.0, 0.0])  # ŷ − y
    np.testing.assert_allclose(net.grads["0.W"], (err @ X)[None, :] / 4)
    np.testing.assert_allclose(net.grads["0.b"], [err.sum() / 4])


def test_other_losses_with_a_step_unit_keep_their_error() -> None:
    net = Sequential([Dense(2, 1), Heaviside()], seed=0)
    with pytest.raises(UserError, match="no gradient"):
        net.loss_and_grad(np.ones((2, 2)), np.ones((2, 1)), "mse")
    smooth = Sequential([Dense(2, 1), Sigmoid()], seed=0)
    with pytest.raises(UserError, match="ends in a step unit"):
        smooth.loss_and_grad(np.ones((2, 2)), np.ones((2, 1)), "perceptron")


def test_config_names_the_allowed_combinations() -> None:
    with pytest.raises(UserError, match="loss = 'perceptron'"):
        perceptron().replace(train={"loss": "bce"})
    with pytest.raises(UserError, match="output = 'step'"):
        Experiment().replace(train={"loss": "perceptron"})
    with pytest.raises(UserError, match="separates two classes"):
        Experiment().replace(data={"name": "iris"}, model={"output": "step"}).build()
    with pytest.raises(UserError, match="kind = 'cnn'"):
        Experiment().replace(
            data={"name": "digits"}, model={"kind": "cnn", "output": "step"}
        ).validate()
