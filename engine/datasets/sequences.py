"""Sequence sets for recurrent and attention models: sine waves, the adding problem, text.

Each sample is a whole sequence, flattened into one row of X (``DataSplit.sample_shape`` gives
its (steps, channels) shape), so splitting and batching work exactly as for the flat sets:

* ``sine-seq`` — next-step prediction of noisy sine waves, a target per time step;
* ``adding`` — Hochreiter & Schmidhuber's adding problem, one target per sequence, which a
  network can only solve by remembering two values across the whole sequence;
* ``text`` — next-character prediction on a short essay shipped with the package.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from engine.datasets import options as opt
from engine.datasets.registry import DataSet, register
from engine.datasets.split import DataSplit, make_rng, make_split, split_indices
from engine.errors import UserError

__all__ = ["decode", "encode", "load_adding", "load_sine_seq", "load_text", "text_vocab"]

SINE_VARIANCE = 0.5
"""Variance of the clean sine signal: sin(θ) with θ uniform over a period has E[sin²] = 1/2."""

ADDING_BASELINE_MSE = 1.0 / 6.0
"""MSE of always answering 1.0 on ``adding``: the variance of a sum of two U(0, 1) values."""

CORPUS_FILE = "corpus.txt"


def load_sine_seq(
    *,
    n: int = 1000,
    length: int = 32,
    noise: float = 0.05,
    test_fraction: float = 0.2,
    seed: int | np.random.Generator = 0,
) -> DataSplit:
    """Generate windows of noisy sine waves and ask for each next value.

    Sample i is s_t = sin(ω t + φ) + ε_t for t = 0..T, with φ ~ U[0, 2π), ω ~ U[0.1, 0.3] (radians
    per step) drawn per sample and ε_t ~ N(0, noise²). X holds s_0..s_{T-1} and y holds
    s_1..s_T, the same window shifted by one, so a model predicts every next step at once.

    The clean signal has variance :data:`SINE_VARIANCE` (1/2); the targets have 1/2 + noise².
    The usual bar for a model that has learnt the waves is a test MSE below 1 % of the signal's
    variance, 0.005; noise² (0.0025 by default) is a floor that no model can go below, since the
    next step's noise cannot be predicted.

    Args:
        n: number of sequences.
        length: T, the steps per sequence; X and y are (n, T), sample and target shape (T, 1).
        noise: standard deviation of the Gaussian noise, 0 to 0.5.
        test_fraction: share of sequences held out for testing.
        seed: seed or generator for the waves, the noise and the cut.
    """
    source = "sine-seq"
    n = opt.check_count(source, "n", n, minimum=2)
    length = opt.check_count(source, "length", length, minimum=1)
    noise = opt.check_noise(source, noise)
    test_fraction = opt.check_fraction(source, test_fraction)
    rng = make_rng(opt.check_seed(source, seed))
    phase = rng.uniform(0.0, 2.0 * np.pi, (n, 1))
    omega = rng.uniform(0.1, 0.3, (n, 1))
    t = np.arange(length + 1, dtype=np.float64)
    s = np.sin(omega * t + phase) + rng.normal(0.0, noise, (n, length + 1))
    rows = split_indices(n, test_fraction, rng, source=source)
    return make_split(
        s[:, :-1],
        s[:, 1:],
        rows,
        name=source,
        task="regression",
        n_classes=0,
        feature_names=("x",),
        sample_shape=(length, 1),
        target_shape=(length, 1),
    )


def load_adding(
    *,
    n: int = 2000,
    length: int = 30,
    test_fraction: float = 0.2,
    seed: int | np.random.Generator = 0,
) -> DataSplit:
    """Generate the adding problem (Hochreiter & Schmidhuber, 1997).

    Each step carries two channels: a value ~ U(0, 1) and a marker that is 1 at exactly two steps,
    one in each half of the sequence, and 0 elsewhere. The target is the sum of the two marked
    values. Nothing but memory solves it: the first marked value must be carried across at least
    half the sequence. Always answering the mean, 1.0, scores an MSE of
    :data:`ADDING_BASELINE_MSE` (1/6 ≈ 0.167); a model must beat that clearly to have learnt
    anything.

    Args:
        n: number of sequences.
        length: T, the steps per sequence, at least 2; rows of X interleave the channels step by
            step (sample shape (T, 2)), y is (n, 1).
        test_fraction: share of sequences held out for testing.
        seed: seed or generator for the values, the markers and the cut.
    """
    source = "adding"
    n = opt.check_count(source, "n", n, minimum=2)
    length = opt.check_count(source, "length", length, minimum=2)
    test_fraction = opt.check_fraction(source, test_fraction)
    rng = make_rng(opt.check_seed(source, seed))
    half = length // 2
    values = rng.uniform(0.0, 1.0, (n, length))
    first = rng.integers(0, half, n)
    second = rng.integers(half, length, n)
    markers = np.zeros((n, length))
    rows_all = np.arange(n)
    markers[rows_all, first] = 1.0
    markers[rows_all, second] = 1.0
    y = values[rows_all, first] + values[rows_all, second]
    X = np.stack([values, markers], axis=2).reshape(n, 2 * length)
    rows = split_indices(n, test_fraction, rng, source=source)
    return make_split(
        X,
        y,
        rows,
        name=source,
        task="regression",
        n_classes=0,
        feature_names=("value", "marker"),
        sample_shape=(length, 2),
    )


@lru_cache(maxsize=1)
def corpus() -> str:
    """The shipped essay the ``text`` set is cut from (read once, then kept)."""
    raw = resources.files("engine.datasets").joinpath("data", CORPUS_FILE).read_bytes()
    return raw.decode("utf-8")


def text_vocab() -> tuple[str, ...]:
    """The characters of the ``text`` set, in the order of their ids (sorted)."""
    return _vocab()[0]


@lru_cache(maxsize=1)
def _vocab() -> tuple[tuple[str, ...], dict[str, int]]:
    chars = tuple(sorted(set(corpus())))
    return chars, {c: i for i, c in enumerate(chars)}


def encode(text: str) -> npt.NDArray[np.int64]:
    """Turn text into the ids the ``text`` set uses, e.g. to prime a model with a prompt.

    Raises:
        UserError: naming the first character that the corpus never uses.
    """
    index = _vocab()[1]
    unknown = next((c for c in text if c not in index), None)
    if unknown is not None:
        raise UserError(
            f"text: the character {unknown!r} does not occur in the corpus",
            f"use only these characters: {''.join(text_vocab())!r}",
        )
    return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))


def decode(ids: npt.ArrayLike) -> str:
    """Turn ids (any integer array, e.g. a model's argmax or samples) back into text.

    Raises:
        UserError: if an id lies outside the vocabulary.
    """
    chars = text_vocab()
    flat = np.asarray(ids).reshape(-1)
    whole = np.issubdtype(flat.dtype, np.integer) or bool(np.all(flat == np.round(flat)))
    if not whole:
        raise UserError("text: ids must be whole numbers", "pass class indices, e.g. argmax")
    flat = flat.astype(np.int64)
    bad = flat[(flat < 0) | (flat >= len(chars))]
    if bad.size:
        raise UserError(
            f"text: id {int(bad[0])} is outside the vocabulary of {len(chars)} characters",
            f"ids run from 0 to {len(chars) - 1}",
        )
    return "".join(chars[i] for i in flat)


def window_starts(size: int, length: int, stride: int) -> npt.NDArray[np.intp]:
    """Start of every window of ``length + 1`` characters (inputs plus the next one) in order."""
    return np.arange(0, size - length, stride)


def cut_windows(
    starts: npt.NDArray[np.intp], length: int, test_fraction: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Hold out the last windows for test and drop the training windows that touch them.

    Windows at a stride shorter than their length overlap, so a random cut would put most of
    every test window's characters into training windows too, and the test loss would measure
    memory, not generalisation. Cutting a contiguous tail, and dropping the few training windows
    that would reach into it (about ``(length + 1) / stride``), keeps every character of the
    test part out of training.

    Returns:
        Indices into ``starts`` of the training windows and of the test windows, both in order.

    Raises:
        UserError: if either part is empty.
    """
    count = len(starts)
    n_test = max(1, round(count * test_fraction))
    first_test = count - n_test
    boundary = starts[first_test] if count else 0
    train = np.flatnonzero(starts[:first_test] + length + 1 <= boundary)
    if train.size == 0 or first_test <= 0:
        raise UserError(
            f"text: {count} windows with test_fraction={test_fraction} leave no training windows",
            "use a shorter length, a smaller stride or a smaller test_fraction",
        )
    return train, np.arange(first_test, count)


def load_text(
    *,
    length: int = 32,
    stride: int = 3,
    test_fraction: float = 0.1,
    seed: int | np.random.Generator = 0,
) -> DataSplit:
    """Cut the shipped essay into windows of characters and ask for each next character.

    A window starting at i has X = ids of characters [i, i + T) and y = ids of [i + 1, i + T + 1),
    so a model predicts every next character at once. Ids index :func:`text_vocab`, the sorted
    characters of the corpus; :func:`encode` and :func:`decode` convert. X holds the ids as
    float64 like every other set (an embedding layer takes them as indices); y is int64.

    The test part is the tail of the essay, and training windows that would share a character
    with it are dropped (see :func:`cut_windows`), so test windows are text the model never read.

    Args:
        length: T, the characters per window; sample and target shape (T,).
        stride: characters between the starts of neighbouring windows.
        test_fraction: share of the windows held out, taken from the end of the text.
        seed: seed or generator for the order of the training windows (the cut itself is fixed).
    """
    source = "text"
    length = opt.check_count(source, "length", length, minimum=1)
    stride = opt.check_count(source, "stride", stride, minimum=1)
    test_fraction = opt.check_fraction(source, test_fraction)
    rng = make_rng(opt.check_seed(source, seed))
    ids = encode(corpus())
    starts = window_starts(len(ids), length, stride)
    train, test = cut_windows(starts, length, test_fraction)
    windows = ids[starts[:, None] + np.arange(length + 1)]
    chars = text_vocab()
    return make_split(
        windows[:, :-1],
        windows[:, 1:],
        (rng.permutation(train), test),
        name=source,
        task="multiclass",
        n_classes=len(chars),
        feature_names=("char",),
        class_names=chars,
        sample_shape=(length,),
        target_shape=(length,),
    )


register(
    DataSet(
        "sine-seq",
        load_sine_seq,
        task="regression",
        description="sequences: predict the next step of noisy sine waves (T = 32)",
        inputs="sequence",
        small={"n": 20, "length": 8},
    )
)

register(
    DataSet(
        "adding",
        load_adding,
        task="regression",
        description="sequences: add the two marked values of 30 (the adding problem)",
        inputs="sequence",
        described={"length": opt.Option("length", label="steps (T)", kind="count", low=2)},
        small={"n": 20, "length": 6},
    )
)

register(
    DataSet(
        "text",
        load_text,
        task="multiclass",
        description="sequences: predict the next character of a short essay on backprop (shipped)",
        inputs="tokens",
        described={"stride": opt.Option("stride", label="stride", kind="count", low=1)},
        small={"length": 8, "stride": 64},
    )
)
