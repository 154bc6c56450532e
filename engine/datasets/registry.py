"""The data sets by name: one :class:`DataSet` record each, registered beside its loader.

A loader's module declares its set once, at module level::

    register(DataSet("sine", load_sine, task="regression", description="1-D regression: ..."))

and everything else reads the record: :func:`engine.datasets.load`, the config's checks, the
setup screen's picker and fields, ``dltui presets`` and the tests, which load every record at a
small size and hold it to what it claims. A name that is not registered raises a UserError that
lists the registered ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.datasets.options import Option, options_of
from engine.datasets.split import TASKS, DataSplit
from engine.errors import UserError

INPUTS = ("plane", "features", "image", "sequence", "tokens")
"""What a sample is, in the order a course meets them (and the order :func:`names` lists them):
a point of the Playground's plane (x1, x2 in [-6, 6], drawn as a map, with its ``features``), a
row of other numbers, a channel-first image, a sequence of (T, C) values, a sequence of T token
ids."""

CSV_PREFIX = "csv:"
"""``csv:PATH`` loads a person's own table; it is no record, as its task comes from the file."""


@dataclass(frozen=True, eq=False)
class DataSet:
    """One data set: how to load it and what it gives.

    Attributes:
        name: the name ``datasets.load`` and ``[data] name`` take (lower case, ``-`` between
            words).
        loader: ``loader(**options) -> DataSplit``; its keyword-only parameters are the options.
        task: "binary", "multiclass" or "regression", as the split says.
        description: one line for listings and help.
        inputs: one of :data:`INPUTS`.
        n_classes: the classes its default options give: 2 for binary and 0 for regression
            (filled in), the count for multiclass, or None where only loading tells.
        described: descriptions of the options that ``options.COMMON`` lacks or that differ
            here (a range, a label).
        small: options that make a small, quick load, for tests and previews.
        downloads: whether the first load fetches files from the network.
        options: every option the loader takes, with its default (filled in from the loader).
    """

    name: str
    loader: Callable[..., DataSplit]
    task: str
    description: str
    inputs: str = "features"
    n_classes: int | None = None
    described: Mapping[str, Option] = field(default_factory=dict)
    small: Mapping[str, Any] = field(default_factory=dict)
    downloads: bool = False
    options: tuple[Option, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"data set {self.name}: task must be one of {TASKS}")
        if self.inputs not in INPUTS:
            raise ValueError(f"data set {self.name}: inputs must be one of {INPUTS}")
        if "\n" in self.description or not self.description:
            raise ValueError(f"data set {self.name}: the description is one line")
        fixed = {"binary": 2, "regression": 0}.get(self.task)
        if fixed is not None and self.n_classes not in (None, fixed):
            raise ValueError(f"data set {self.name}: a {self.task} set has {fixed} classes")
        if fixed is not None:
            object.__setattr__(self, "n_classes", fixed)
        object.__setattr__(self, "options", options_of(self.loader, self.described))

    def option(self, name: str) -> Option | None:
        """The option called ``name``, or None if the loader does not take it."""
        return next((o for o in self.options if o.name == name), None)

    def check_options(self, options: Mapping[str, object], source: str | None = None) -> None:
        """Raise a UserError for an option the loader does not take or a value out of range."""
        where = source or self.name
        accepted = [o.name for o in self.options]
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise UserError(
                f"{where}: unknown option(s) {', '.join(map(repr, unknown))} for {self.name}",
                f"options for {self.name}: {', '.join(accepted) or 'none'}",
            )
        for key, value in options.items():
            self.option(key).validate(where, value)  # type: ignore[union-attr]


_REGISTRY: dict[str, DataSet] = {}


def register(record: DataSet) -> DataSet:
    """Add a data set; its module calls this once, beside the loader."""
    key = canonical_key(record.name)
    if key != record.name:
        raise ValueError(f"data set name {record.name!r} should be written {key!r}")
    if key in _REGISTRY:
        raise ValueError(f"data set {key!r} is registered twice")
    _REGISTRY[key] = record
    return record


def canonical_key(name: str) -> str:
    """The registry's spelling of ``name``: case and ``_`` for ``-`` are forgiven."""
    return name.strip().lower().replace("_", "-")


def records() -> tuple[DataSet, ...]:
    """Every registered data set, simple inputs first (see :data:`INPUTS`)."""
    order = list(_REGISTRY)
    return tuple(
        sorted(_REGISTRY.values(), key=lambda r: (INPUTS.index(r.inputs), order.index(r.name)))
    )


def names() -> tuple[str, ...]:
    """The registered names, in the order of :func:`records`."""
    return tuple(r.name for r in records())


def unknown(name: object) -> UserError:
    """The error for a name that is no data set: it lists the names there are."""
    return UserError(
        f"unknown data set {name!r}",
        f"choose one of {', '.join(names())}, or csv:PATH for your own table",
    )


def on_plane(name: str) -> bool:
    """Whether the data set ``name`` is points of the Playground's plane (the app draws a
    decision map over them); False for a person's ``csv:`` table and for unknown names."""
    record = _REGISTRY.get(canonical_key(name)) if isinstance(name, str) else None
    return record is not None and record.inputs == "plane"


def lookup(name: object) -> DataSet | None:
    """The record for ``name``, or None for ``csv:PATH`` (a person's table).

    Raises:
        UserError: listing the valid names when ``name`` is neither.
    """
    if isinstance(name, str):
        if name.startswith(CSV_PREFIX):
            return None
        record = _REGISTRY.get(canonical_key(name))
        if record is not None:
            return record
    raise unknown(name)
