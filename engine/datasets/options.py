"""The options a person passes to ``datasets.load``: what each means, and the checks.

Options come from config files, the setup screen and the command line as often as from code, so
each check names the data set, the option and the accepted range, and bools are not taken for
numbers. :class:`Option` describes one keyword for forms and config validation; :data:`COMMON`
describes the keywords many loaders share, so a loader only describes the ones it adds.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import UserError

KINDS = ("count", "number", "fraction", "seed", "choices", "other")
"""What an option's value is: a whole number of at least ``low`` (None allowed when the default
is None: "all"), a real number in [low, high], a share strictly between 0 and 1, a seed, a subset
of ``choices`` in order, or anything only the loader checks."""

FORM_KINDS = ("count", "number", "fraction", "choices")
"""The kinds a form can offer as a field; seeds and the rest stay in config files."""


@dataclass(frozen=True)
class Option:
    """One keyword a data set's loader takes.

    Attributes:
        name: the keyword, as ``datasets.load(name, **{option: value})`` and ``[data]`` take it.
        default: the loader's default (read from its signature when the set is registered).
        label: a few words for a form, e.g. "noise (0–0.5)".
        kind: one of :data:`KINDS`.
        low: the smallest accepted value of a count or number.
        high: the largest accepted value of a number.
        choices: the names a "choices" option picks from.
        check: for kind "other", a function ``check(value) -> value`` that raises UserError.
    """

    name: str
    default: Any = None
    label: str = ""
    kind: str = "other"
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    check: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: kind must be one of {KINDS}, not {self.kind!r}")

    @property
    def in_forms(self) -> bool:
        """Whether a form offers this option as a field."""
        return self.kind in FORM_KINDS

    def validate(self, source: str, value: object) -> Any:
        """Return ``value`` if this option accepts it, else raise a UserError naming it."""
        if self.kind == "count":
            if value is None and self.default is None:
                return None
            return check_count(source, self.name, value, minimum=int(self.low or 1))
        if self.kind == "number":
            return check_number(source, self.name, value, self.low, self.high)
        if self.kind == "fraction":
            return check_fraction(source, value)
        if self.kind == "seed":
            return check_seed(source, value)
        if self.kind == "choices":
            return check_choices(source, self.name, value, self.choices)
        return value if self.check is None else self.check(value)


COMMON: dict[str, Option] = {
    "n": Option("n", label="samples", kind="count", low=2),
    "noise": Option("noise", label="noise (0–0.5)", kind="number", low=0.0, high=0.5),
    "test_fraction": Option("test_fraction", label="test share", kind="fraction"),
    "seed": Option("seed", label="data seed", kind="seed"),
    "length": Option("length", label="steps (T)", kind="count", low=1),
    "n_train": Option("n_train", label="train samples", kind="count", low=1),
    "n_test": Option("n_test", label="test samples", kind="count", low=1),
}
"""The options many loaders share; a data set's record describes the others."""


def options_of(
    loader: Callable[..., object], described: Mapping[str, Option] | None = None
) -> tuple[Option, ...]:
    """Describe each keyword-only parameter of ``loader``, with its default from the signature.

    Args:
        loader: the data set's loader.
        described: descriptions of the parameters :data:`COMMON` lacks or describes otherwise.
    """
    described = described or {}
    out = []
    for p in inspect.signature(loader).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        base = described.get(p.name) or COMMON.get(p.name) or Option(p.name, label=p.name)
        default = None if p.default is inspect.Parameter.empty else p.default
        out.append(dataclasses.replace(base, name=p.name, default=default))
    return tuple(out)


def check_known(source: str, loader: Callable[..., object], options: Mapping[str, object]) -> None:
    """Reject option keys that ``loader`` does not take, listing the ones it does.

    Raises:
        UserError: naming the unknown keys.
    """
    accepted = [
        p.name
        for p in inspect.signature(loader).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UserError(
            f"{source}: unknown option(s) {', '.join(map(repr, unknown))}",
            f"options for {source}: {', '.join(accepted) or 'none'}",
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def check_count(source: str, key: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is a whole number of at least ``minimum``."""
    if not _is_int(value) or int(value) < minimum:  # type: ignore[call-overload]
        raise UserError(
            f"{source}: {key}={value!r} is not a whole number >= {minimum}",
            f"pass {key} as an integer such as {max(minimum, 100)}",
        )
    return int(value)  # type: ignore[call-overload]


def check_optional_count(source: str, key: str, value: object) -> int | None:
    """Like :func:`check_count`, but None (meaning "all") passes through."""
    return None if value is None else check_count(source, key, value)


def check_number(
    source: str, key: str, value: object, low: float | None, high: float | None
) -> float:
    """Return ``value`` as a float if it is a real number in [low, high] (None: unbounded)."""
    lo = -np.inf if low is None else low
    hi = np.inf if high is None else high
    if not _is_real(value) or not lo <= float(value) <= hi:  # type: ignore[arg-type]
        raise UserError(
            f"{source}: {key}={value!r} is outside [{lo:g}, {hi:g}]",
            f"pass {key} as a number from {lo:g} to {hi:g}",
        )
    return float(value)  # type: ignore[arg-type]


def check_choices(
    source: str, key: str, value: object, choices: tuple[str, ...]
) -> tuple[str, ...]:
    """Return the chosen names as a tuple, each once, each one of ``choices``.

    A comma-separated string is accepted too, as a config file or command line gives it, and so
    is any iterable of names (a NumPy array of strings, say).
    """
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    names = list(value) if isinstance(value, Iterable) else None
    hint = f"choose each at most once from {', '.join(choices)}"
    if names is None or not all(isinstance(v, str) for v in names):
        raise UserError(f"{source}: {key}={value!r} is not a list of names", hint)
    unknown = [v for v in names if v not in choices]
    if unknown:
        raise UserError(f"{source}: unknown {key} {', '.join(map(repr, unknown))}", hint)
    if not names or len(set(names)) != len(names):
        problem = f"no {key} chosen" if not names else f"{key}: a name is repeated"
        raise UserError(f"{source}: {problem}", hint)
    return tuple(str(v) for v in names)


def check_noise(source: str, value: object) -> float:
    """Return the noise level if it lies in [0, 0.5], the Playground's 0 % to 50 %."""
    if not _is_real(value) or not 0.0 <= float(value) <= 0.5:  # type: ignore[arg-type]
        raise UserError(
            f"{source}: noise={value!r} is outside [0, 0.5]",
            "pass noise as a number from 0 (none) to 0.5 (the Playground's 50 %)",
        )
    return float(value)  # type: ignore[arg-type]


def check_fraction(source: str, value: object) -> float:
    """Return the test fraction if it lies strictly between 0 and 1."""
    if not _is_real(value) or not 0.0 < float(value) < 1.0:  # type: ignore[arg-type]
        raise UserError(
            f"{source}: test_fraction={value!r} is not strictly between 0 and 1",
            "pass test_fraction as a share of the rows, e.g. 0.2 to hold out a fifth",
        )
    return float(value)  # type: ignore[arg-type]


def check_seed(source: str, value: object) -> int | np.random.Generator:
    """Return the seed if it is a non-negative int or a ready ``np.random.Generator``."""
    if isinstance(value, np.random.Generator):
        return value
    if not _is_int(value) or int(value) < 0:  # type: ignore[call-overload]
        raise UserError(
            f"{source}: seed={value!r} is not a whole number >= 0",
            "pass seed as an integer such as 0; the same seed gives the same data",
        )
    return int(value)  # type: ignore[call-overload]
