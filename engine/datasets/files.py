"""The two real data sets shipped inside the package: UCI digits and Fisher's iris.

Both come as small CSV files under ``engine/datasets/data`` (see NOTICE for their sources), so
they work offline and need no cache. They are located with :mod:`importlib.resources`, which
also works when the package is installed as a zip.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from importlib import resources

import numpy as np
import numpy.typing as npt

from engine.datasets import options as opt
from engine.datasets.registry import DataSet, register
from engine.datasets.split import DataSplit, make_rng, make_split, split_indices, standardize
from engine.errors import UserError

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def _read_packaged(filename: str) -> bytes:
    """Return the bytes of a file in the package's ``data`` folder, unzipped if gzipped."""
    raw = resources.files("engine.datasets").joinpath("data", filename).read_bytes()
    return gzip.decompress(raw) if filename.endswith(".gz") else raw


def _rows(text: bytes) -> npt.NDArray[np.float64]:
    return np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2)


def load_digits(
    *,
    test_fraction: float = 0.2,
    seed: int | np.random.Generator = 0,
    classes: Sequence[int] | None = None,
    n_train: int | None = None,
) -> DataSplit:
    """Load the 1,797 UCI handwritten digits of 8×8 pixels, 10 classes.

    Pixels count 0..16 in the file and are divided by 16, so inputs lie in [0, 1] like MNIST's.
    ``sample_shape`` is channel-first (1, 8, 8), the layout a convolution takes.

    Args:
        test_fraction: share held out for testing; the cut is stratified by digit.
        seed: seed or generator for the cut.
        classes: keep only these digits, relabelled 0..k−1 in the order given (e.g. [5, 6, 7,
            8, 9] to fine-tune a network trained on [0, 1, 2, 3, 4]); ``class_names`` keeps
            the digits.
        n_train: keep only this many training samples (few labelled examples), drawn with the
            seed and stratified by digit; the test part is unchanged. None: all of them.
    """
    test_fraction = opt.check_fraction("digits", test_fraction)
    rng = make_rng(opt.check_seed("digits", seed))
    table = _rows(_read_packaged("digits.csv.gz"))
    X, y = table[:, :64] / 16.0, table[:, 64].astype(np.int64)
    kept = _check_classes(classes)
    if kept != tuple(range(10)):
        rows_kept = np.isin(y, kept)
        relabel = np.full(10, -1, dtype=np.int64)
        relabel[list(kept)] = np.arange(len(kept))
        X, y = X[rows_kept], relabel[y[rows_kept]]
    rows = split_indices(len(y), test_fraction, rng, labels=y, source="digits")
    if n_train is not None:
        rows = (_fewer(rows[0], opt.check_count("digits", "n_train", n_train), y, rng), rows[1])
    return make_split(
        X,
        y,
        rows,
        name="digits",
        task="multiclass",
        n_classes=len(kept),
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
        image_shape=(8, 8),
        class_names=tuple(str(d) for d in kept),
        sample_shape=(1, 8, 8),
    )


def _fewer(
    train: npt.NDArray[np.intp], n: int, y: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.intp]:
    """``n`` of the training rows ``train``, stratified by label (all of them when n is all)."""
    if n > len(train):
        raise UserError(
            f"digits: n_train = {n} is more than the {len(train)} training samples",
            f"use n_train ≤ {len(train)}, or leave it out for all of them",
        )
    if n == len(train):
        return train
    _, kept = split_indices(len(train), n / len(train), rng, labels=y[train], source="digits")
    return train[kept]


def _check_classes(classes: Sequence[int] | None) -> tuple[int, ...]:
    if classes is None:
        return tuple(range(10))
    kept = tuple(classes)
    if (
        len(kept) < 2
        or len(set(kept)) != len(kept)
        or not all(isinstance(c, int) and 0 <= c <= 9 for c in kept)
    ):
        raise UserError(
            f"digits: classes = {list(kept)} is not a list of distinct digits",
            "give at least two different digits from 0 to 9, e.g. [0, 1, 2, 3, 4]",
        )
    return kept


def load_iris(*, test_fraction: float = 0.2, seed: int | np.random.Generator = 0) -> DataSplit:
    """Load Fisher's 150 irises: 4 measurements in cm, 3 species.

    Features are standardised with the mean and standard deviation of the training part, so the
    test part stays unseen and all four columns reach the network on the same scale.

    Args:
        test_fraction: share held out for testing; the cut is stratified by species.
        seed: seed or generator for the cut.
    """
    test_fraction = opt.check_fraction("iris", test_fraction)
    rng = make_rng(opt.check_seed("iris", seed))
    text = _read_packaged("iris.csv")
    header, body = text.split(b"\n", 1)
    class_names = tuple(s.strip() for s in header.decode("ascii").split(",")[2:])
    table = _rows(body)
    X, y = table[:, :4], table[:, 4].astype(np.int64)
    rows = split_indices(len(y), test_fraction, rng, labels=y, source="iris")
    return make_split(
        standardize(X, rows[0]),
        y,
        rows,
        name="iris",
        task="multiclass",
        n_classes=len(class_names),
        feature_names=IRIS_FEATURES,
        class_names=class_names,
    )


register(
    DataSet(
        "digits",
        load_digits,
        task="multiclass",
        description="8×8 handwritten digits (UCI), 1,797 images, 10 classes (shipped)",
        inputs="image",
        n_classes=10,
        described={"classes": opt.Option("classes", label="digits kept", check=_check_classes)},
    )
)

register(
    DataSet(
        "iris",
        load_iris,
        task="multiclass",
        description="Fisher's iris: 4 flower measurements, 3 species, 150 rows (shipped)",
        n_classes=3,
    )
)
