"""The console script ends without the interpreter's teardown, and loses nothing by it.

``tui.cli.console`` runs ``main``, the exit handlers and a flush of the standard streams, then
``os._exit``: these tests run it as the installed ``dltui`` does, in a process of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import atexit, sys
from tui import cli
atexit.register(lambda: print("exit handler ran", flush=False))
sys.argv = ["dltui", *sys.argv[1:]]
cli.console()
"""


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip


def test_output_and_exit_handlers_survive_the_quick_exit() -> None:
    done = _console("presets")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "spiral" in done.stdout and "transformer-text" in done.stdout
    assert lines[-1] == "exit handler ran"  # after the command's own output, flushed


def test_the_exit_code_is_the_commands() -> None:
    done = _console("train", "--preset", "spiral", "--epochs", "0")
    assert done.returncode == 2
    assert "error" in done.stderr and "Traceback" not in done.stderr


def test_the_installed_command_is_the_console_script() -> None:
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["dltui"] == "tui.cli:console"
