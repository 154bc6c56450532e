"""Checks for the options a person passes to ``datasets.load``.

Options come from config files and the command line as often as from code, so each check names
the data set, the option and the accepted range, and bools are not taken for numbers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

import numpy as np

from engine.errors import UserError


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
