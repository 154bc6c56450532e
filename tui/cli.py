"""The ``dltui`` command.

``dltui`` alone opens the app on the default experiment; ``dltui --preset NAME`` or
``dltui CONFIG.toml`` on another. The subcommands run headless with Rich output:
``train``, ``derive``, ``bench`` and ``presets``. Every mistake a user can make ends in a message
naming the problem and the fix, and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from engine import __version__
from engine.errors import UserError

SUBCOMMANDS = ("train", "derive", "bench", "presets")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a UserError (exit code 2, with the usage line)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}", f"see `{self.prog} --help`")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The subcommand parser; ``only`` imports just that subcommand (sympy only when needed)."""
    parser = _Parser(
        prog="dltui",
        description="Learn and do deep learning from first principles, in a terminal.",
        epilog="Without a subcommand, opens the app. Subcommands: " + ", ".join(SUBCOMMANDS),
    )
    parser.add_argument("--version", action="version", version=f"dltui {__version__}")
    subparsers = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name in SUBCOMMANDS if only is None else (only,):
        module = importlib.import_module(f"tui.commands.{name}")
        module.register(subparsers)
    return parser


def _app_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dltui", description="Open the app on an experiment.")
    parser.add_argument("config", nargs="?", help="an experiment file (TOML)")
    parser.add_argument("--preset", help="a named experiment (see `dltui presets`)")
    parser.add_argument("--version", action="version", version=f"dltui {__version__}")
    return parser


def _check_config_or_subcommand(config: str | None) -> None:
    """A word that names no file and no subcommand (``dltui frobnicate``) is a mistyped command.

    Raises:
        UserError: when ``config`` does not exist and does not end in ``.toml``.
    """
    if config is None or config.endswith(".toml") or Path(config).exists():
        return
    raise UserError(
        f"'{config}' is neither a subcommand nor a config file",
        f"the subcommands are {', '.join(SUBCOMMANDS)}; a config file ends in .toml "
        "(see `dltui --help`)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    err = Console(stderr=True, highlight=False)
    try:
        if args_list and (args_list[0] in SUBCOMMANDS or args_list[0] in ("-h", "--help")):
            only = args_list[0] if args_list[0] in SUBCOMMANDS else None
            args = build_parser(only).parse_args(args_list)
            return int(args.func(args) or 0)
        args = _app_parser().parse_args(args_list)
        _check_config_or_subcommand(args.config)
        from tui.commands.app import run_app

        return run_app(args.config, args.preset)
    except UserError as exc:
        err.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True)
        if exc.hint:
            err.print(f"[yellow]hint:[/] {escape(exc.hint)}", markup=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
