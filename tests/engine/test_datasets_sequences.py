"""Sequence sets (sine-seq, adding, text) and the sample/target shapes of a DataSplit."""

from __future__ import annotations

import numpy as np
import pytest

from engine import datasets
from engine.datasets import sequences
from engine.datasets.split import DataSplit
from engine.errors import UserError


def _rows(split: DataSplit) -> tuple[np.ndarray, np.ndarray]:
    """All inputs and all targets, training part first."""
    X = np.concatenate([split.X_train, split.X_test])
    return X, np.concatenate([split.y_train, split.y_test])


# ---------------------------------------------------------------- DataSplit shapes


def _split(X: np.ndarray, y: np.ndarray, **shapes: object) -> DataSplit:
    return DataSplit(X, y, X, y, "t", "regression", 0, ("x",), **shapes)  # type: ignore[arg-type]


def test_sample_shape_replaces_the_feature_name_count() -> None:
    X, y = np.zeros((4, 6)), np.zeros((4, 3))
    split = _split(X, y, sample_shape=(3, 2), target_shape=(3, 1))
    assert split.n_features == 6 and split.feature_names == ("x",)
    with pytest.raises(ValueError, match="expected"):
        _split(X, y, sample_shape=(4, 2))
    with pytest.raises(ValueError, match="expected"):
        _split(X, y)  # without sample_shape every column needs a name
    with pytest.raises(ValueError, match="rows of 2 values"):
        _split(X, y, sample_shape=(6,), target_shape=(2,))
    with pytest.raises(ValueError, match="positive ints"):
        _split(X, y, sample_shape=(6, 0))


def test_image_sets_carry_a_channel_first_sample_shape() -> None:
    split = datasets.load("digits")
    assert split.sample_shape == (1, 8, 8) and split.image_shape == (8, 8)
    assert split.target_shape is None and split.n_features == 64


# ---------------------------------------------------------------- sine-seq


def test_sine_seq_predicts_the_window_shifted_by_one() -> None:
    split = datasets.load("sine-seq", n=100, length=16, seed=3)
    assert split.X_train.shape == (80, 16) and split.y_train.shape == (80, 16)
    assert split.X_test.shape == (20, 16) and split.y_test.dtype == np.float64
    assert split.sample_shape == (16, 1) and split.target_shape == (16, 1)
    assert split.task == "regression" and split.n_classes == 0
    X, y = _rows(split)
    np.testing.assert_array_equal(y[:, :-1], X[:, 1:])
    assert not np.allclose(y[:, -1], X[:, -1])


def test_sine_seq_rows_are_sinusoids_with_the_documented_frequency_and_variance() -> None:
    X, y = _rows(datasets.load("sine-seq", n=2000, noise=0.0, seed=1))
    s = np.concatenate([X, y[:, -1:]], axis=1)
    # A sinusoid obeys s[t+1] + s[t-1] = 2 cos(ω) s[t]; fit cos(ω) per row.
    mid = s[:, 1:-1]
    cos_omega = ((s[:, 2:] + s[:, :-2]) * mid).sum(1) / (2.0 * (mid * mid).sum(1))
    residual = s[:, 2:] + s[:, :-2] - 2.0 * cos_omega[:, None] * mid
    assert np.abs(residual).max() < 1e-9
    omega = np.arccos(cos_omega)
    assert omega.min() >= 0.1 - 1e-9 and omega.max() <= 0.3 + 1e-9
    assert abs(s.var() - sequences.SINE_VARIANCE) < 0.02


def test_sine_seq_noise_has_the_requested_size_and_the_seed_fixes_everything() -> None:
    clean = datasets.load("sine-seq", n=300, noise=0.0, seed=5)
    noisy = datasets.load("sine-seq", n=300, noise=0.05, seed=5)
    again = datasets.load("sine-seq", n=300, noise=0.05, seed=5)
    other = datasets.load("sine-seq", n=300, noise=0.05, seed=6)
    np.testing.assert_array_equal(noisy.X_train, again.X_train)
    np.testing.assert_array_equal(noisy.y_test, again.y_test)
    assert not np.allclose(noisy.X_train, other.X_train)
    # Same seed, same draw order: the noisy set is the clean one plus noise of std 0.05.
    assert abs(float((noisy.X_train - clean.X_train).std()) - 0.05) < 0.003


# ---------------------------------------------------------------- adding


def test_adding_target_is_the_sum_of_the_two_marked_values() -> None:
    split = datasets.load("adding", n=500, length=20, seed=2)
    assert split.X_train.shape == (400, 40) and split.y_train.shape == (400, 1)
    assert split.sample_shape == (20, 2) and split.feature_names == ("value", "marker")
    X, y = _rows(split)
    seq = X.reshape(-1, 20, 2)
    values, markers = seq[..., 0], seq[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0}
    assert np.all(markers[:, :10].sum(1) == 1) and np.all(markers[:, 10:].sum(1) == 1)
    assert values.min() >= 0.0 and values.max() < 1.0
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(1), rtol=0, atol=1e-12)


def test_adding_baseline_of_always_one_scores_about_a_sixth() -> None:
    X, y = _rows(datasets.load("adding", n=4000, seed=0))
    assert X.shape == (4000, 60)
    assert abs(float(((y - 1.0) ** 2).mean()) - sequences.ADDING_BASELINE_MSE) < 0.01
    again = datasets.load("adding", n=4000, seed=0)
    np.testing.assert_array_equal(_rows(again)[0], X)


def test_adding_with_odd_length_keeps_one_marker_per_half() -> None:
    X, _ = _rows(datasets.load("adding", n=200, length=3, seed=4))
    markers = X.reshape(-1, 3, 2)[..., 1]
    assert np.all(markers[:, :1].sum(1) == 1) and np.all(markers[:, 1:].sum(1) == 1)


# ---------------------------------------------------------------- text


def test_text_vocab_is_the_sorted_characters_of_the_corpus() -> None:
    chars = datasets.text_vocab()
    corpus = sequences.corpus()
    assert chars == tuple(sorted(set(corpus))) and len(chars) == len(set(chars))
    assert 6000 <= len(corpus.encode()) <= 10_000 and "backpropagation" in corpus.lower()
    assert datasets.decode(datasets.encode(corpus)) == corpus
    split = datasets.load("text")
    assert split.n_classes == len(chars) and split.class_names == chars


def test_text_windows_decode_to_corpus_text_and_y_is_x_shifted_by_one() -> None:
    split = datasets.load("text", length=12, stride=5)
    assert split.task == "multiclass" and split.sample_shape == (12,)
    assert split.target_shape == (12,) and split.y_train.dtype == np.int64
    assert split.y_train.shape == split.X_train.shape == (len(split.X_train), 12)
    X, y = _rows(split)
    np.testing.assert_array_equal(X[:, 1:], y[:, :-1])
    corpus = sequences.corpus()
    for x_row, y_row in zip(X[::7], y[::7]):
        assert datasets.decode(x_row) + datasets.decode(y_row[-1:]) in corpus


def _positions(X: np.ndarray, y: np.ndarray, corpus: str, stride: int) -> np.ndarray:
    """Start of each window in the corpus: the one place on the stride grid that holds its text."""
    size = X.shape[1] + 1
    grid: dict[str, list[int]] = {}
    for i in range(0, len(corpus) - size + 1, stride):
        grid.setdefault(corpus[i : i + size], []).append(i)
    starts = []
    for x_row, y_row in zip(X, y):
        found = grid[datasets.decode(x_row) + datasets.decode(y_row[-1:])]
        assert len(found) == 1
        starts.append(found[0])
    return np.array(starts)


def test_text_test_windows_share_no_character_with_training_windows() -> None:
    split = datasets.load("text")
    corpus = sequences.corpus()
    train = _positions(split.X_train, split.y_train, corpus, 3)
    test = _positions(split.X_test, split.y_test, corpus, 3)
    assert train.max() + 32 + 1 <= test.min()  # every training window ends before any test one
    assert test.max() + 33 > len(corpus) - 3  # the test part is the tail of the text
    assert len(split.X_test) == round((len(train) + len(test) + 33 // 3 - 1) * 0.1)
    np.testing.assert_array_equal(np.diff(test), 3)


def test_text_seed_orders_training_windows_only() -> None:
    a, b, c = (datasets.load("text", seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_train, c.X_train)
    np.testing.assert_array_equal(np.sort(a.X_train, axis=0), np.sort(c.X_train, axis=0))
    np.testing.assert_array_equal(a.X_test, c.X_test)


def test_cut_windows_drops_only_the_training_windows_that_reach_the_test_part() -> None:
    starts = sequences.window_starts(100, 9, 2)
    assert starts[-1] + 10 <= 100 < starts[-1] + 2 + 10  # the last window that fits
    train, test = sequences.cut_windows(starts, 9, 0.2)
    assert starts[train].max() + 10 == starts[test].min()  # ends right where the test part starts
    assert len(test) == round(len(starts) * 0.2)
    assert len(train) == len(starts) - len(test) - (10 // 2 - 1)


def test_encode_and_decode_reject_what_the_vocabulary_lacks() -> None:
    with pytest.raises(UserError, match="does not occur"):
        datasets.encode("naïve")
    with pytest.raises(UserError, match="outside the vocabulary"):
        datasets.decode([0, len(datasets.text_vocab())])
    with pytest.raises(UserError, match="whole numbers"):
        datasets.decode(np.array([0.5]))
    ids = datasets.encode("the chain rule")
    assert ids.dtype == np.int64 and datasets.decode(ids.astype(np.float64)) == "the chain rule"


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("sine-seq", {"length": 0}),
        ("sine-seq", {"noise": 0.9}),
        ("sine-seq", {"n": True}),
        ("sine-seq", {"test_fraction": 1.0}),
        ("adding", {"length": 1}),
        ("adding", {"seed": -1}),
        ("adding", {"noise": 0.1}),
        ("text", {"stride": 0}),
        ("text", {"length": 100_000}),
        ("text", {"test_fraction": 0.0}),
        ("text", {"n": 10}),
    ],
)
def test_bad_options_are_user_errors(name: str, options: dict[str, object]) -> None:
    with pytest.raises(UserError):
        datasets.load(name, **options)


def test_sequence_names_are_registered_and_described() -> None:
    for name in ("sine-seq", "adding", "text"):
        assert name in datasets.NAMES and "sequences" in datasets.describe(name)
    assert datasets.load("Sine_Seq", n=10).name == "sine-seq"
