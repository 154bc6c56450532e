"""Data set options the lessons lean on: few labelled digits of some classes, few noisy points."""

from __future__ import annotations

import numpy as np
import pytest

from engine import datasets
from engine.errors import UserError
from engine.experiment.config import Experiment


def test_digits_keeps_some_classes_and_few_training_samples() -> None:
    few = datasets.load("digits", classes=[5, 6, 7, 8, 9], n_train=50, seed=3)
    full = datasets.load("digits", classes=[5, 6, 7, 8, 9], seed=3)
    assert few.n_classes == 5 and few.class_names == ("5", "6", "7", "8", "9")
    assert few.X_train.shape == (50, 64)
    assert np.bincount(few.y_train).tolist() == [10] * 5  # stratified by digit
    np.testing.assert_array_equal(few.X_test, full.X_test)  # the test part is unchanged
    kept = {row.tobytes() for row in full.X_train}
    assert all(row.tobytes() in kept for row in few.X_train)
    again = datasets.load("digits", classes=[5, 6, 7, 8, 9], n_train=50, seed=3)
    np.testing.assert_array_equal(again.X_train, few.X_train)


def test_digits_n_train_is_checked() -> None:
    with pytest.raises(UserError, match="n_train = 5000 is more than"):
        datasets.load("digits", n_train=5000)
    with pytest.raises(UserError, match="n_train"):
        Experiment().replace(data={"name": "digits", "n_train": 0})
    every = datasets.load("digits")
    assert len(datasets.load("digits", n_train=len(every.X_train)).X_train) == len(every.X_train)


def test_a_config_asks_for_few_digits() -> None:
    exp = Experiment().replace(
        data={"name": "digits", "classes": [0, 1, 2, 3, 4], "n_train": 25}, model={"hidden": [8]}
    )
    run = exp.build()
    assert run.data.X_train.shape == (25, 64) and run.net.out_features == 5


def test_few_noisy_points_on_the_plane() -> None:
    split = datasets.load("gaussians", n=20, noise=0.5, seed=1)
    assert len(split.X_train) + len(split.X_test) == 20
    clean = datasets.load("gaussians", n=20, noise=0.0, seed=1)
    assert not np.array_equal(split.X_train, clean.X_train)


def test_the_adding_problem_sets_its_lag_with_length() -> None:
    split = datasets.load("adding", n=40, length=50)
    assert split.sample_shape == (50, 2)
    markers = split.X_train.reshape(-1, 50, 2)[:, :, 1]
    first = markers.argmax(axis=1)
    last = 49 - markers[:, ::-1].argmax(axis=1)
    assert (first < 25).all() and (last >= 25).all()
