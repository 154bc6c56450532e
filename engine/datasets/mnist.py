"""MNIST and Fashion-MNIST: 28×28 grey images in 10 classes, fetched on first use.

The official train/test split is kept (60,000 / 10,000 images); ``n_train`` and ``n_test`` take
seeded random subsets of each part for quick runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

from engine.datasets import download, idx
from engine.datasets import options as opt
from engine.datasets.registry import DataSet, register
from engine.datasets.split import DataSplit, make_rng
from engine.errors import UserError

IMAGE_SHAPE = (28, 28)

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}

DESCRIPTIONS = {
    "mnist": "28×28 handwritten digits, 60,000 + 10,000 (downloaded once)",
    "fashion-mnist": "28×28 clothing pictures, 10 kinds, 60,000 + 10,000 (downloaded once)",
}

# Where the files come from and how loading reports progress: code's business, not a form's.
_PLUMBING = {
    "mirrors": opt.Option("mirrors", label="mirrors"),
    "data_dir": opt.Option("data_dir", label="data folder"),
    "progress": opt.Option("progress", label="progress"),
}


def _read_part(
    name: str, images_path: Path, labels_path: Path
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Read one part's images and labels and check that they belong together."""
    images = idx.read_idx(images_path, idx.IMAGES_MAGIC)
    labels = idx.read_idx(labels_path, idx.LABELS_MAGIC)
    hint = "delete both files so that they are downloaded again"
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise UserError(f"{images_path}: images of shape {images.shape[1:]}, not 28×28", hint)
    if labels.shape != (images.shape[0],):
        raise UserError(
            f"{labels_path}: {labels.size} labels for {images.shape[0]} images in {images_path}",
            hint,
        )
    if labels.size and labels.max() > 9:
        raise UserError(f"{labels_path}: label {labels.max()} outside 0..9 in {name}", hint)
    return images, labels.astype(np.int64)


def _subset(count: int, n: int | None, rng: np.random.Generator) -> npt.NDArray[np.intp]:
    """All rows in file order, or ``n`` of them drawn at random and kept in file order."""
    if n is None or n >= count:
        return np.arange(count)
    return np.sort(rng.choice(count, size=n, replace=False))


def _load_part(
    name: str, paths: dict[str, Path], prefix: str, n: int | None, rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Return the inputs in [0, 1] and the labels of the "train" or "t10k" part."""
    images, labels = _read_part(
        name, paths[f"{prefix}-images-idx3-ubyte.gz"], paths[f"{prefix}-labels-idx1-ubyte.gz"]
    )
    rows = _subset(len(labels), n, rng)
    X = images[rows].reshape(len(rows), -1).astype(np.float64)
    X /= 255.0  # in place: the full training part is 376 MB as float64
    return X, np.ascontiguousarray(labels[rows])


def load_mnist(
    name: str,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int | np.random.Generator = 0,
    mirrors: Sequence[str] | str | None = None,
    data_dir: str | Path | None = None,
    progress: download.Progress | None = None,
) -> DataSplit:
    """Load MNIST or Fashion-MNIST, downloading the four files on first use.

    Pixels are divided by 255, so inputs lie in [0, 1]; each image is one row of 784 values, with
    ``sample_shape`` (1, 28, 28), channel-first as a convolution takes it.

    Args:
        name: "mnist" or "fashion-mnist".
        n_train: take this many training images at random (None: all 60,000).
        n_test: take this many test images at random (None: all 10,000).
        seed: seed or generator for the subsets.
        mirrors: base URLs to download from, in order (default: the public mirror, or the
            ``DLTUI_MNIST_MIRROR`` / ``DLTUI_FASHION_MNIST_MIRROR`` variable).
        data_dir: folder holding the files (default: :func:`download.cache_dir`).
        progress: ``progress(filename, bytes_so_far, total)`` while downloading.
    """
    n_train = opt.check_optional_count(name, "n_train", n_train)
    n_test = opt.check_optional_count(name, "n_test", n_test)
    rng = make_rng(opt.check_seed(name, seed))
    directory = Path(data_dir).expanduser() if data_dir is not None else None
    paths = download.fetch(name, mirrors, directory, progress)
    X_train, y_train = _load_part(name, paths, "train", n_train, rng)
    X_test, y_test = _load_part(name, paths, "t10k", n_test, rng)
    return DataSplit(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        name=name,
        task="multiclass",
        n_classes=10,
        feature_names=tuple(f"pixel_{r}_{c}" for r in range(28) for c in range(28)),
        image_shape=IMAGE_SHAPE,
        class_names=CLASS_NAMES[name],
        sample_shape=(1, *IMAGE_SHAPE),
    )


for _name, _about in DESCRIPTIONS.items():
    register(
        DataSet(
            _name,
            partial(load_mnist, _name),
            task="multiclass",
            description=_about,
            inputs="image",
            n_classes=len(CLASS_NAMES[_name]),
            described=_PLUMBING,
            small={"n_train": 100, "n_test": 50},
            downloads=True,
        )
    )
