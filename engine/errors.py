"""Errors a user can cause, each carrying the fix.

Everything that a person can get wrong — a config key, a preset name, a data file, a checkpoint —
raises :class:`UserError`. The command line prints ``message`` and ``hint`` and exits with code 2;
scripts can catch it. Anything else escaping the engine is a bug.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, and how to fix it.

    Args:
        message: what is wrong, naming the input (file, key, value).
        hint: what to do about it.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message
