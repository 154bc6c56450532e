"""Data sets by name: ``split = datasets.load("spiral", noise=0.2)``.

Every set comes back as a :class:`DataSplit` whose arrays have the same layout for its task, so
the network, the trainer and the app never care where the data came from. Each built-in set is
one :class:`DataSet` record, registered beside its loader (see :mod:`engine.datasets.registry`):
the Playground's 2-D sets and a 1-D sine (:mod:`~engine.datasets.toy`), XOR's truth table, the
shipped digits and iris, the downloaded MNIST and Fashion-MNIST, and sequence sets
(:mod:`~engine.datasets.sequences`) whose rows are flattened sequences of ``sample_shape``.
:func:`records` lists them with their tasks, options and descriptions (so does
``dltui presets``), and ``csv:PATH`` loads a person's own table.

Example:
    >>> from engine import datasets
    >>> X_train, y_train, X_test, y_test = datasets.load("xor", n=100)
    >>> X_train.shape, y_train.shape
    ((50, 2), (50, 1))
"""

from __future__ import annotations

# Each loader module registers its sets when imported; a new module adds one line here.
from engine.datasets import files, logic, mnist, options, sequences, toy  # noqa: F401
from engine.datasets.csvfile import load_csv
from engine.datasets.download import cache_dir
from engine.datasets.idx import parse_idx, read_idx
from engine.datasets.options import Option
from engine.datasets.registry import CSV_PREFIX, INPUTS, DataSet, lookup, on_plane, records
from engine.datasets.registry import names as _names
from engine.datasets.sequences import decode, encode, text_vocab
from engine.datasets.split import DataSplit
from engine.datasets.toy import FEATURES, expand_features
from engine.errors import UserError

__all__ = [
    "CSV_PREFIX",
    "FEATURES",
    "INPUTS",
    "NAMES",
    "DataSet",
    "DataSplit",
    "Option",
    "cache_dir",
    "decode",
    "describe",
    "encode",
    "expand_features",
    "load",
    "lookup",
    "on_plane",
    "parse_idx",
    "read_idx",
    "records",
    "text_vocab",
]

NAMES: tuple[str, ...] = _names()
"""The built-in data set names; ``csv:PATH`` loads a table besides these."""


def load(name: str, **kwargs: object) -> DataSplit:
    """Load a data set by name and split it into training and test parts.

    Args:
        name: one of :data:`NAMES`, or ``csv:PATH`` for a CSV file.
        **kwargs: the set's options, e.g. ``n``, ``noise``, ``test_fraction``, ``seed``,
            ``features`` for the 2-D sets; ``lookup(name).options`` lists them.

    Returns:
        The split, with ``X`` float64 of shape (n, d) and ``y`` laid out for the task.

    Raises:
        UserError: for an unknown name, an unknown or out-of-range option, or a bad file.
    """
    record = lookup(name)
    if record is None:
        path = name[len(CSV_PREFIX) :].strip()
        if not path:
            raise UserError("csv: needs a file path", "write it as csv:PATH, e.g. csv:data.csv")
        options.check_known(name, load_csv, kwargs)
        return load_csv(path, **kwargs)  # type: ignore[arg-type]
    options.check_known(record.name, record.loader, kwargs)
    return record.loader(**kwargs)


def describe(name: str) -> str:
    """Return a one-line description of a data set, for listings and help texts."""
    record = lookup(name)
    if record is None:
        return f"your table {name[len(CSV_PREFIX) :]} (CSV)"
    return record.description
