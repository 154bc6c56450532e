"""The train/test split that every data set returns, and the one way it is cut.

All loaders end in :func:`make_split`, so a split always has the same shapes and dtypes for its
task (see :class:`DataSplit`) whatever file or generator it came from, and the train/test cut is
reproducible from the seed alone.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from engine.errors import UserError

TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True, eq=False)
class DataSplit:
    """A data set cut into a training and a test part.

    The label layout follows what the losses expect: a binary target is a column of 0/1 floats
    (one sigmoid output), a multiclass target is a vector of integer class indices (softmax +
    cross-entropy), a regression target is a column of floats.

    X is always 2-D, one flattened sample per row, so that splitting, shuffling and batching
    never depend on what a sample is. A set whose samples have structure — an image, a sequence —
    says so in ``sample_shape`` and the network reshapes each batch; a set with one target per
    time step says so in ``target_shape`` (y then has one row of ``prod(target_shape)`` values
    per sample: floats for regression, class indices for multiclass).

    Attributes:
        X_train: inputs for training, float64 of shape (n_train, d).
        y_train: targets for training (see above).
        X_test: inputs held out for testing, float64 of shape (n_test, d).
        y_test: targets held out for testing.
        name: the name the set was loaded by.
        task: "binary", "multiclass" or "regression".
        n_classes: 2 for binary, k for multiclass, 0 for regression.
        feature_names: one name per column of X; when ``sample_shape`` is set it may instead
            name the channels of one time step (e.g. ``("value", "marker")``).
        image_shape: (rows, cols) when each row of X is a flattened image, else None.
        class_names: a readable name per class index, when the set has them.
        sample_shape: the shape of one sample before flattening, e.g. (1, 28, 28) for a
            channel-first image, (T, 1) for a univariate sequence, (T,) for token ids; None for
            plain feature vectors.
        target_shape: the shape of one target before flattening, e.g. (T, 1) for a value per
            time step; None for the usual one target per sample.
        X_val: inputs held apart from the training part for validation (early stopping, model
            choice), or None when there is no validation split (see :func:`hold_out`).
        y_val: their targets, or None.
        whole: the split before the validation part was held out of its training part (what
            :func:`hold_out` cuts again for another share or seed), or None.
    """

    X_train: npt.NDArray[np.float64]
    y_train: npt.NDArray[np.generic]
    X_test: npt.NDArray[np.float64]
    y_test: npt.NDArray[np.generic]
    name: str
    task: str
    n_classes: int
    feature_names: tuple[str, ...]
    image_shape: tuple[int, int] | None = None
    class_names: tuple[str, ...] | None = None
    sample_shape: tuple[int, ...] | None = None
    target_shape: tuple[int, ...] | None = None
    X_val: npt.NDArray[np.float64] | None = None
    y_val: npt.NDArray[np.generic] | None = None
    whole: DataSplit | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Check the invariants that every consumer relies on, once, here."""
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")
        width = len(self.feature_names)
        if self.sample_shape is not None:
            width = _size("sample_shape", self.sample_shape)
        target_size = None
        if self.target_shape is not None:
            target_size = _size("target_shape", self.target_shape)
        parts = [(self.X_train, self.y_train), (self.X_test, self.y_test)]
        if (self.X_val is None) != (self.y_val is None):
            raise ValueError("X_val and y_val go together: give both or neither")
        if self.X_val is not None and self.y_val is not None:
            parts.append((self.X_val, self.y_val))
        for X, y in parts:
            if X.ndim != 2 or X.shape[1] != width:
                raise ValueError(f"X has shape {X.shape}; expected (n, {width})")
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}")
            if target_size is not None and math.prod(y.shape[1:]) != target_size:
                raise ValueError(f"y has shape {y.shape}; expected rows of {target_size} values")

    def __iter__(self) -> Iterator[np.ndarray]:
        """Unpack as ``X_train, y_train, X_test, y_test``."""
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))

    def unsplit(self) -> DataSplit:
        """The split before a validation part was held out (itself when none was)."""
        return self if self.whole is None else self.whole

    @property
    def n_features(self) -> int:
        """Number of input columns, the width of the network's first layer.

        Counted from X rather than from ``feature_names``, which name channels, not columns,
        for sequence sets.
        """
        return int(self.X_train.shape[1])


def _size(field: str, shape: tuple[int, ...]) -> int:
    """Return the number of values in ``shape``, after checking it is a tuple of positive ints."""
    if (
        not isinstance(shape, tuple)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ValueError(f"{field} must be a tuple of positive ints, not {shape!r}")
    return math.prod(shape)


def make_rng(seed: int | np.random.Generator) -> np.random.Generator:
    """Return the generator that drives a loader, from a seed or a caller's generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def split_indices(
    n: int,
    test_fraction: float,
    rng: np.random.Generator,
    labels: npt.NDArray[np.int64] | None = None,
    source: str = "data set",
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Choose which rows go to training and which to test.

    With ``labels`` the cut is stratified: rows are shuffled, grouped by class, and every
    ``1/test_fraction``-th row of that sequence goes to test, so each class keeps its share in
    both parts (to within one row) and the test size is ``round(n * test_fraction)``.

    Args:
        n: number of rows.
        test_fraction: share of rows held out, in (0, 1).
        rng: the loader's generator.
        labels: class index per row, or None for a plain shuffled cut.
        source: what to call the data in an error message.

    Returns:
        Row indices of the training part and of the test part, each in shuffled order.

    Raises:
        UserError: if either part would be empty.
    """
    order = rng.permutation(n)
    if labels is not None:
        order = order[np.argsort(labels[order], kind="stable")]
    j = np.arange(n)
    to_test = np.floor((j + 1) * test_fraction + 0.5) > np.floor(j * test_fraction + 0.5)
    train, test = order[~to_test], order[to_test]
    if train.size == 0 or test.size == 0:
        part = "training" if train.size == 0 else "test"
        raise UserError(
            f"{source}: {n} rows with test_fraction={test_fraction} leave the {part} part empty",
            "use more rows or a test_fraction nearer 0.5",
        )
    return rng.permutation(train), rng.permutation(test)


def make_split(
    X: npt.NDArray[np.float64],
    y: npt.NDArray[np.generic],
    rows: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
    *,
    name: str,
    task: str,
    n_classes: int,
    feature_names: tuple[str, ...],
    image_shape: tuple[int, int] | None = None,
    class_names: tuple[str, ...] | None = None,
    sample_shape: tuple[int, ...] | None = None,
    target_shape: tuple[int, ...] | None = None,
) -> DataSplit:
    """Index X and y into a :class:`DataSplit` with contiguous arrays of the task's dtypes.

    Args:
        X: all inputs, one row per example.
        y: all targets, class indices for classification or values for regression.
        rows: training and test row indices, as :func:`split_indices` returns them.
        name: see :class:`DataSplit`; so are the remaining keywords.
        task: see :class:`DataSplit`.
        n_classes: see :class:`DataSplit`.
        feature_names: see :class:`DataSplit`.
        image_shape: see :class:`DataSplit`.
        class_names: see :class:`DataSplit`.
        sample_shape: see :class:`DataSplit`.
        target_shape: see :class:`DataSplit`; a regression target becomes (n, prod(target_shape)),
            a column (n, 1) without it.
    """
    y_dtype = np.int64 if task == "multiclass" else np.float64
    if task != "multiclass":
        y = y.reshape(len(y), -1) if target_shape is not None else y.reshape(-1, 1)
    train, test = rows
    return DataSplit(
        X_train=np.ascontiguousarray(X[train], dtype=np.float64),
        y_train=np.ascontiguousarray(y[train], dtype=y_dtype),
        X_test=np.ascontiguousarray(X[test], dtype=np.float64),
        y_test=np.ascontiguousarray(y[test], dtype=y_dtype),
        name=name,
        task=task,
        n_classes=n_classes,
        feature_names=feature_names,
        image_shape=image_shape,
        class_names=class_names,
        sample_shape=sample_shape,
        target_shape=target_shape,
    )


def standardize(X: npt.NDArray[np.float64], train: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    """Centre and scale every column with the statistics of the training rows only.

    Using only training rows keeps the test part truly unseen. A constant column is centred but
    not scaled, so it becomes zeros instead of NaNs.
    """
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std[std == 0.0] = 1.0
    return (X - mean) / std


def hold_out(split: DataSplit, share: float, seed: int) -> DataSplit:
    """``split`` with ``share`` of its training part held apart as a validation part.

    The rows are drawn with ``seed`` (stratified by class for a classification set, as the test
    cut is); the test part is untouched. A share of 0 gives back the split without validation
    part. A split that already has one is cut again from its whole training part.

    Raises:
        UserError: when the share would leave the training or the validation part empty.
    """
    base = split.unsplit()
    if share <= 0.0:
        return base
    n = len(base.X_train)
    rng = np.random.default_rng((seed, 0x7A1))  # not the trainer's stream, which seed also drives
    labels = None
    if base.task != "regression" and base.target_shape is None:
        labels = np.asarray(base.y_train).reshape(n, -1)[:, 0].astype(np.int64)
    try:
        train, val = split_indices(n, share, rng, labels)
    except UserError:
        raise UserError(
            f"validation = {share:g} of the {n} training samples leaves the training or the "
            "validation part empty",
            "use a share nearer 0.5, more samples, or validation = 0 for no validation split",
        ) from None
    train, val = np.sort(train), np.sort(val)  # the training rows keep their order
    return dataclasses.replace(
        base,
        X_train=np.ascontiguousarray(base.X_train[train]),
        y_train=np.ascontiguousarray(base.y_train[train]),
        X_val=np.ascontiguousarray(base.X_train[val]),
        y_val=np.ascontiguousarray(base.y_train[val]),
        whole=base,
    )
