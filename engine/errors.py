"""Errors a user can cause, each carrying the fix.

Everything that a person can get wrong — a config key, a preset name, a data file, a checkpoint —
raises :class:`UserError`. The command line prints ``message`` and ``hint`` and exits with code 2;
scripts can catch it. Anything else escaping the engine is a bug.
"""

from __future__ import annotations

import errno


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


OS_ERROR_FIXES = {
    errno.ENAMETOOLONG: "use a shorter path (a name holds at most 255 bytes)",
    errno.EACCES: "choose a path you may write to, or change its permissions",
    errno.EPERM: "choose a path you may write to, or change its permissions",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "the path is a folder: name a file",
    errno.EROFS: "the file system is read-only: choose a path on a writable one",
    errno.ENOSPC: "free some disk space, or write elsewhere",
    errno.EDQUOT: "free some of your disk quota, or write elsewhere",
    errno.ENOENT: "check the path",
    errno.EEXIST: "choose a path that does not exist yet",
}
"""The fix for each file-system error a person can cause (and so correct), by errno."""


def os_error_fix(exc: OSError) -> str | None:
    """The fix for ``exc`` when it is one a person can make (``OS_ERROR_FIXES``), else None."""
    return OS_ERROR_FIXES.get(exc.errno or 0)
