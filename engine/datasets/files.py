"""The two real data sets shipped inside the package: UCI digits and Fisher's iris.

Both come as small CSV files under ``engine/datasets/data`` (see NOTICE for their sources), so
they work offline and need no cache. They are located with :mod:`importlib.resources`, which
also works when the package is installed as a zip.
"""

from __future__ import annotations

import gzip
import io
from importlib import resources

import numpy as np
import numpy.typing as npt

from engine.datasets import options as opt
from engine.datasets.split import DataSplit, make_rng, make_split, split_indices, standardize

IRIS_FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def _read_packaged(filename: str) -> bytes:
    """Return the bytes of a file in the package's ``data`` folder, unzipped if gzipped."""
    raw = resources.files("engine.datasets").joinpath("data", filename).read_bytes()
    return gzip.decompress(raw) if filename.endswith(".gz") else raw


def _rows(text: bytes) -> npt.NDArray[np.float64]:
    return np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.float64, ndmin=2)


def load_digits(*, test_fraction: float = 0.2, seed: int | np.random.Generator = 0) -> DataSplit:
    """Load the 1,797 UCI handwritten digits of 8×8 pixels, 10 classes.

    Pixels count 0..16 in the file and are divided by 16, so inputs lie in [0, 1] like MNIST's.
    ``sample_shape`` is channel-first (1, 8, 8), the layout a convolution takes.

    Args:
        test_fraction: share held out for testing; the cut is stratified by digit.
        seed: seed or generator for the cut.
    """
    test_fraction = opt.check_fraction("digits", test_fraction)
    rng = make_rng(opt.check_seed("digits", seed))
    table = _rows(_read_packaged("digits.csv.gz"))
    X, y = table[:, :64] / 16.0, table[:, 64].astype(np.int64)
    rows = split_indices(len(y), test_fraction, rng, labels=y, source="digits")
    return make_split(
        X,
        y,
        rows,
        name="digits",
        task="multiclass",
        n_classes=10,
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8)),
        image_shape=(8, 8),
        class_names=tuple(str(d) for d in range(10)),
        sample_shape=(1, 8, 8),
    )


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
