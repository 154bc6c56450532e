"""Generated sets: shapes, determinism, the geometric rules, features and option checks."""

from __future__ import annotations

import numpy as np
import pytest

from engine import datasets
from engine.errors import UserError

CLASSIFIERS = ("circle", "xor", "gaussians", "spiral", "moons")
REGRESSIONS = ("plane", "multigauss")


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_binary_sets_have_column_labels_of_zero_and_one(name: str) -> None:
    split = datasets.load(name, n=200)
    assert split.task == "binary" and split.n_classes == 2
    assert split.X_train.shape == (100, 2) and split.X_test.shape == (100, 2)
    assert split.X_train.dtype == np.float64 and split.y_train.dtype == np.float64
    assert split.y_train.shape == (100, 1) and split.y_test.shape == (100, 1)
    labels = np.concatenate([split.y_train, split.y_test])
    assert set(np.unique(labels)) == {0.0, 1.0}
    assert abs(labels.mean() - 0.5) < 0.15
    assert split.feature_names == ("x1", "x2") and split.image_shape is None


@pytest.mark.parametrize("name", (*CLASSIFIERS, *REGRESSIONS))
def test_points_stay_in_the_playground_square(name: str) -> None:
    split = datasets.load(name, n=400, noise=0.0)
    X = np.concatenate([split.X_train, split.X_test])
    assert np.all(np.abs(X) <= 6.0)


@pytest.mark.parametrize("name", REGRESSIONS)
def test_regression_sets(name: str) -> None:
    split = datasets.load(name, n=300, test_fraction=0.2)
    assert split.task == "regression" and split.n_classes == 0
    assert split.X_train.shape == (240, 2) and split.y_train.shape == (240, 1)
    assert split.y_test.shape == (60, 1) and split.y_train.dtype == np.float64
    bound = 1.2 if name == "plane" else 1.0  # (x1 + x2) / 10 reaches 1.2 in the corners
    assert np.all(np.abs(split.y_train) <= bound + 1e-12)


def test_plane_target_is_the_scaled_sum_of_the_coordinates() -> None:
    X, y, _, _ = datasets.load("plane", n=50)
    np.testing.assert_allclose(y[:, 0], (X[:, 0] + X[:, 1]) / 10.0)


def test_multigauss_peaks_at_the_bump_centres() -> None:
    _, y, _, _ = datasets.load("multigauss", n=2000, test_fraction=0.5)
    assert y.max() > 0.9 and y.min() < -0.9


def test_sine_is_one_dimensional_and_follows_the_sine() -> None:
    split = datasets.load("sine", noise=0.0)
    assert split.X_train.shape == (100, 1) and split.y_train.shape == (100, 1)
    assert split.feature_names == ("x1",) and split.task == "regression"
    np.testing.assert_allclose(split.y_train[:, 0], np.sin(split.X_train[:, 0]))
    assert np.all(np.abs(split.X_train) <= np.pi)


def test_xor_without_noise_labels_by_quadrant() -> None:
    X, y, Xt, yt = datasets.load("xor", n=500, noise=0.0)
    for points, labels in ((X, y), (Xt, yt)):
        np.testing.assert_array_equal(labels[:, 0], points[:, 0] * points[:, 1] >= 0)
        assert np.all(np.abs(points) >= 0.3)


def test_circle_without_noise_labels_by_radius() -> None:
    X, y, _, _ = datasets.load("circle", n=500, noise=0.0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_array_equal(y[:, 0], r < 2.5)
    assert np.all((r <= 2.5) | ((r >= 3.5) & (r <= 5.0)))


def test_noise_flips_some_circle_labels() -> None:
    X, y, _, _ = datasets.load("circle", n=1000, noise=0.5)
    wrong = y[:, 0] != (np.hypot(X[:, 0], X[:, 1]) < 2.5)
    assert 0 < wrong.sum() < 500


def test_spiral_arms_are_point_symmetric_without_noise() -> None:
    split = datasets.load("spiral", n=200, noise=0.0)
    X = np.concatenate([split.X_train, split.X_test])
    y = np.concatenate([split.y_train, split.y_test])[:, 0]
    arm0 = X[y == 0][np.argsort(np.hypot(*X[y == 0].T))]
    arm1 = X[y == 1][np.argsort(np.hypot(*X[y == 1].T))]
    np.testing.assert_allclose(arm0, -arm1, atol=1e-12)


@pytest.mark.parametrize("name", (*CLASSIFIERS, *REGRESSIONS, "sine"))
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    a, b, c = (datasets.load(name, n=60, seed=s) for s in (3, 3, 4))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.X_train, c.X_train)


def test_a_generator_may_be_passed_as_seed() -> None:
    a = datasets.load("moons", n=50, seed=np.random.default_rng(7))
    b = datasets.load("moons", n=50, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.X_test, b.X_test)


@pytest.mark.parametrize(
    ("n", "fraction", "n_test"), [(500, 0.5, 250), (101, 0.3, 30), (10, 0.1, 1)]
)
def test_train_and_test_sizes(n: int, fraction: float, n_test: int) -> None:
    split = datasets.load("gaussians", n=n, test_fraction=fraction)
    assert len(split.X_test) == n_test and len(split.X_train) == n - n_test


def test_split_is_a_partition_of_the_generated_points() -> None:
    split = datasets.load("xor", n=300, noise=0.0)
    X = np.concatenate([split.X_train, split.X_test])
    assert len(np.unique(X, axis=0)) == 300


def test_features_are_computed_in_the_requested_order() -> None:
    base = datasets.load("xor", n=40)
    chosen = ("sin_x2", "x1x2", "x1", "x2^2", "x1^2", "sin_x1", "x2")
    split = datasets.load("xor", n=40, features=chosen)
    x1, x2 = base.X_train[:, 0], base.X_train[:, 1]
    expected = np.stack([np.sin(x2), x1 * x2, x1, x2**2, x1**2, np.sin(x1), x2], axis=1)
    np.testing.assert_allclose(split.X_train, expected)
    assert split.feature_names == chosen


def test_expand_features_on_a_grid_and_from_a_string() -> None:
    grid = np.array([[1.0, 2.0], [-3.0, 0.5]])
    out = datasets.expand_features(grid, "x1, x1x2")
    np.testing.assert_allclose(out, [[1.0, 2.0], [-3.0, -1.5]])
    assert out.dtype == np.float64


@pytest.mark.parametrize("features", [("x1", "x3"), (), ("x1", "x1"), [1, 2]])
def test_bad_features_list_the_valid_names(features: object) -> None:
    with pytest.raises(UserError) as err:
        datasets.load("circle", features=features)
    assert "sin_x2" in err.value.hint


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"n": -5}, "n="),
        ({"n": 1}, "n="),
        ({"n": 2.5}, "n="),
        ({"noise": 0.7}, "noise"),
        ({"noise": -0.1}, "noise"),
        ({"noise": True}, "noise"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"seed": -1}, "seed"),
        ({"seed": "x"}, "seed"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_options_are_user_errors(options: dict[str, object], word: str) -> None:
    with pytest.raises(UserError, match=word):
        datasets.load("spiral", **options)


def test_unknown_option_lists_the_accepted_ones() -> None:
    with pytest.raises(UserError) as err:
        datasets.load("sine", features=("x1",))
    assert "noise" in err.value.hint and "features" not in err.value.hint


def test_a_too_small_set_for_the_split_is_a_user_error() -> None:
    with pytest.raises(UserError, match="empty"):
        datasets.load("xor", n=2, test_fraction=0.1)


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(UserError) as err:
        datasets.load("spirals")
    assert "spiral" in err.value.hint and "csv:PATH" in err.value.hint


def test_names_forgive_case_and_underscores() -> None:
    assert datasets.load("XOR", n=20).name == "xor"
    assert datasets.describe("Fashion_MNIST") == datasets.describe("fashion-mnist")


def test_a_csv_table_is_described_by_its_path() -> None:
    assert "t.csv" in datasets.describe("csv:t.csv")  # the registered sets: test_datasets_registry


def test_split_unpacks_and_counts_features() -> None:
    split = datasets.load("circle", n=30, features=("x1", "x2", "x1x2"))
    X_train, y_train, X_test, y_test = split
    assert X_train is split.X_train and y_train is split.y_train
    assert X_test is split.X_test and y_test is split.y_test
    assert split.n_features == 3
    with pytest.raises(AttributeError):
        split.name = "other"  # type: ignore[misc]


def test_features_may_come_as_an_array_of_names() -> None:
    split = datasets.load("xor", n=20, features=np.array(["x2", "x1"]))
    assert split.feature_names == ("x2", "x1")


def test_xor_gate_is_the_truth_table() -> None:
    split = datasets.load("xor-gate")
    assert split.X_train.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert split.y_train.ravel().tolist() == [0, 1, 1, 0] and split.task == "binary"
