"""The ``dltui`` command.

``dltui`` alone opens the app on the default experiment; ``dltui --preset NAME`` or
``dltui CONFIG.toml`` on another. The subcommands run headless with Rich output:
``train``, ``derive``, ``bench`` and ``presets``; ``learn`` opens the app on the guided course.
Every mistake a user can make ends in a message naming the problem and the fix, and exit code
2 — never a traceback.

This module imports only the standard library at the top: the engine (NumPy, Numba) loads inside
``main``, so that a Ctrl-C during those seconds of start-up ends as any other interrupt does —
one line and exit code 130 — rather than as a traceback from the import. SIGTERM is taken as
Ctrl-C is, with exit code 143 (128 + 15, the shell's code for it).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

SUBCOMMANDS = (
    "train",
    "derive",
    "bench",
    "presets",
    "learn",
    "compare",
    "sweep",
    "serve",
    "export",
)
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM

# Linux's limits: one name in a path holds at most NAME_MAX bytes, a whole path PATH_MAX.
NAME_MAX = 255
PATH_MAX = 4096
# The arguments that name a file or folder, and how the user wrote them.
PATH_ARGS = {"config": "the config file", "out": "--out", "resume": "--resume", "json": "--json"}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt: stopped alike, exit code 143."""


def _version() -> str:
    from engine import __version__

    return f"dltui {__version__}"


class _VersionAction(argparse.Action):
    """``--version``, reading the engine's version only when asked (the engine loads slowly)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        print(_version())
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a UserError (exit code 2, with the usage line)."""

    def error(self, message: str) -> NoReturn:
        from engine.errors import UserError

        raise UserError(f"{self.prog}: {message}", f"see `{self.prog} --help`")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The subcommand parser; ``only`` imports just that subcommand (sympy only when needed)."""
    parser = _Parser(
        prog="dltui",
        description="Learn and do deep learning from first principles, in a terminal.",
        epilog="Without a subcommand, opens the app. Subcommands: " + ", ".join(SUBCOMMANDS),
    )
    parser.add_argument("--version", action=_VersionAction)
    subparsers = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name in SUBCOMMANDS if only is None else (only,):
        module = importlib.import_module(f"tui.commands.{name}")
        module.register(subparsers)
    return parser


def _app_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dltui", description="Open the app on an experiment.")
    parser.add_argument("config", nargs="?", help="an experiment file (TOML)")
    parser.add_argument("--preset", help="a named experiment (see `dltui presets`)")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="train on the CPU or an NVIDIA GPU (replaces the config's [train] device)",
    )
    parser.add_argument("--version", action=_VersionAction)
    return parser


def _check_config_or_subcommand(config: str | None) -> None:
    """A word that names no file and no subcommand (``dltui frobnicate``) is a mistyped command.

    Raises:
        UserError: when ``config`` does not exist and does not end in ``.toml``.
    """
    from engine.errors import UserError

    if config is None or config.endswith(".toml") or Path(config).exists():
        return
    raise UserError(
        f"'{config}' is neither a subcommand nor a config file",
        f"the subcommands are {', '.join(SUBCOMMANDS)}; a config file ends in .toml "
        "(see `dltui --help`)",
    )


def check_paths(args: argparse.Namespace) -> None:
    """Every path argument must be one the system can hold, before anything touches the disk.

    Raises:
        UserError: naming the argument, when one name in it is longer than ``NAME_MAX`` bytes
            or the whole path longer than ``PATH_MAX``.
    """
    from engine.errors import UserError

    for attr, shown in PATH_ARGS.items():
        value = getattr(args, attr, None)
        if not isinstance(value, str):
            continue
        size = len(os.fsencode(value))
        longest = max((len(os.fsencode(part)) for part in Path(value).parts), default=0)
        if longest > NAME_MAX:
            why = f"one name in it is {longest} bytes long; a name holds at most {NAME_MAX}"
        elif size > PATH_MAX:
            why = f"it is {size} bytes long; a path holds at most {PATH_MAX}"
        else:
            continue
        raise UserError(f"{shown} '{_clip(value)}' is too long: {why}", "use a shorter path")


def _clip(text: str, keep: int = 60) -> str:
    """The start and end of a long path: enough to recognise it, short enough to read."""
    return text if len(text) <= 2 * keep else f"{text[:keep]}…{text[-keep:]}"


def _os_error_message(exc: OSError) -> tuple[str, str, int]:
    """What an OSError reaching the command line says: the path, the reason, the fix, the code
    (2 for an error a person can fix, ``engine.errors.OS_ERROR_FIXES``; else 1)."""
    from engine.errors import os_error_fix

    path = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    fix = os_error_fix(exc)
    return f"{_clip(str(path))}: {reason}", fix or "check the path", 1 if fix is None else 2


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` (a KeyboardInterrupt) while inside, as Ctrl-C would."""
    if not _on_main_thread():  # only the main thread may install a handler
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def console() -> NoReturn:
    """The console script: ``main``, then an exit without the interpreter's teardown.

    Freeing Numba's compiler state one module at a time takes Python 0.1 to 0.2 s after a
    command has finished, longer than many a command takes warm. Once ``main`` returns, every
    file the command wrote is closed; the exit handlers (``atexit``) run and the standard
    streams are flushed as at any exit, then the process ends. Where a thread is still running
    (the app's daemon threads can be), the process exits the ordinary way instead.
    """
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed pipe or stream: nothing left to say there
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        with terminate_as_interrupt():
            return _main(args_list)
    except KeyboardInterrupt as exc:  # during start-up, or where no command caught it
        terminated = isinstance(exc, Terminated)
        print("terminated" if terminated else "interrupted", file=sys.stderr, flush=True)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _main(args_list: list[str]) -> int:
    from rich.console import Console
    from rich.markup import escape

    from engine.errors import UserError

    err = Console(stderr=True, highlight=False)

    def report(message: str, hint: str) -> None:
        err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
        if hint:
            err.print(f"[yellow]hint:[/] {escape(hint)}", markup=True)

    try:
        return _dispatch(args_list)
    except UserError as exc:
        report(exc.message, exc.hint)
        return exc.exit_code
    except OSError as exc:  # a path the system refused: too long, not allowed, read-only, ...
        message, hint, code = _os_error_message(exc)
        report(message, hint)
        return code


def _dispatch(args_list: list[str]) -> int:
    if args_list and (args_list[0] in SUBCOMMANDS or args_list[0] in ("-h", "--help")):
        only = args_list[0] if args_list[0] in SUBCOMMANDS else None
        args = build_parser(only).parse_args(args_list)
        check_paths(args)
        return int(args.func(args) or 0)
    args = _app_parser().parse_args(args_list)
    check_paths(args)
    _check_config_or_subcommand(args.config)
    return _run_app(args)


def _run_app(args: argparse.Namespace) -> int:
    from tui.commands.app import run_app

    return run_app(args.config, args.preset, args.device)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":  # python -m tui.cli: run the one tui.cli the commands import
    from tui.cli import main as tui_main

    sys.exit(tui_main())
