"""Data sets by name: ``split = datasets.load("spiral", noise=0.2)``.

Every set comes back as a :class:`DataSplit` whose arrays have the same layout for its task, so
the network, the trainer and the app never care where the data came from:

* generated 2-D sets after TensorFlow Playground — ``circle``, ``xor``, ``gaussians``,
  ``spiral``, ``moons``, and the regressions ``plane`` and ``multigauss`` — plus a 1-D ``sine``;
* shipped real sets — ``digits`` (UCI, 8×8) and ``iris``;
* downloaded sets — ``mnist`` and ``fashion-mnist``;
* sequence sets — ``sine-seq``, ``adding`` and the character-level ``text`` (see
  :mod:`engine.datasets.sequences`), whose rows are flattened sequences of ``sample_shape``;
* a person's own table — ``csv:PATH``.

Example:
    >>> from engine import datasets
    >>> X_train, y_train, X_test, y_test = datasets.load("xor", n=100)
    >>> X_train.shape, y_train.shape
    ((50, 2), (50, 1))
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from engine.datasets import options
from engine.datasets.csvfile import load_csv
from engine.datasets.download import cache_dir
from engine.datasets.files import load_digits, load_iris
from engine.datasets.idx import parse_idx, read_idx
from engine.datasets.logic import load_xor_gate
from engine.datasets.mnist import DESCRIPTIONS as _MNIST_DESCRIPTIONS
from engine.datasets.mnist import load_mnist
from engine.datasets.sequences import (
    decode,
    encode,
    load_adding,
    load_sine_seq,
    load_text,
    text_vocab,
)
from engine.datasets.split import DataSplit
from engine.datasets.toy import FEATURES, PLAYGROUND, expand_features, load_playground, load_sine
from engine.errors import UserError

__all__ = [
    "FEATURES",
    "NAMES",
    "DataSplit",
    "cache_dir",
    "decode",
    "describe",
    "encode",
    "expand_features",
    "load",
    "parse_idx",
    "read_idx",
    "text_vocab",
]

_LOADERS: dict[str, Callable[..., DataSplit]] = {
    **{name: partial(load_playground, name) for name in PLAYGROUND},
    "xor-gate": load_xor_gate,
    "sine": load_sine,
    "digits": load_digits,
    "iris": load_iris,
    "mnist": partial(load_mnist, "mnist"),
    "fashion-mnist": partial(load_mnist, "fashion-mnist"),
    "sine-seq": load_sine_seq,
    "adding": load_adding,
    "text": load_text,
}

_DESCRIPTIONS: dict[str, str] = {
    **{name: spec[3] for name, spec in PLAYGROUND.items()},
    "xor-gate": "XOR's truth table: four points, the classic that needs a hidden layer",
    "sine": "1-D regression: y = sin(x) + noise",
    "digits": "8×8 handwritten digits (UCI), 1,797 images, 10 classes (shipped)",
    "iris": "Fisher's iris: 4 flower measurements, 3 species, 150 rows (shipped)",
    **_MNIST_DESCRIPTIONS,
    "sine-seq": "sequences: predict the next step of noisy sine waves (T = 32)",
    "adding": "sequences: add the two marked values of 30 (the adding problem)",
    "text": "sequences: predict the next character of a short essay on backprop (shipped)",
}

NAMES: tuple[str, ...] = tuple(_LOADERS)
"""The built-in data set names; ``csv:PATH`` loads a table besides these."""

CSV_PREFIX = "csv:"


def _canonical(name: object) -> str:
    """Return the registry key for ``name``, forgiving case and ``_`` for ``-``.

    Raises:
        UserError: listing the valid names when ``name`` is none of them.
    """
    if isinstance(name, str):
        if name.startswith(CSV_PREFIX):
            return name
        key = name.strip().lower().replace("_", "-")
        if key in _LOADERS:
            return key
    raise UserError(
        f"unknown data set {name!r}",
        f"choose one of {', '.join(NAMES)}, or csv:PATH for your own table",
    )


def load(name: str, **kwargs: object) -> DataSplit:
    """Load a data set by name and split it into training and test parts.

    Args:
        name: one of :data:`NAMES`, or ``csv:PATH`` for a CSV file.
        **kwargs: the set's options, e.g. ``n``, ``noise``, ``test_fraction``, ``seed``,
            ``features`` for the 2-D sets; see the set's loader for the full list.

    Returns:
        The split, with ``X`` float64 of shape (n, d) and ``y`` laid out for the task.

    Raises:
        UserError: for an unknown name, an unknown or out-of-range option, or a bad file.
    """
    key = _canonical(name)
    if key.startswith(CSV_PREFIX):
        path = key[len(CSV_PREFIX) :].strip()
        if not path:
            raise UserError("csv: needs a file path", "write it as csv:PATH, e.g. csv:data.csv")
        options.check_known(key, load_csv, kwargs)
        return load_csv(path, **kwargs)  # type: ignore[arg-type]
    loader = _LOADERS[key]
    options.check_known(key, loader, kwargs)
    return loader(**kwargs)


def describe(name: str) -> str:
    """Return a one-line description of a data set, for listings and help texts."""
    key = _canonical(name)
    if key.startswith(CSV_PREFIX):
        return f"your table {key[len(CSV_PREFIX) :]} (CSV)"
    return _DESCRIPTIONS[key]
