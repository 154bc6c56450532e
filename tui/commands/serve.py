"""``dltui serve``: the app in a web browser, one app process per visitor.

::

    dltui serve [--port 8000] [--host 127.0.0.1] [--preset NAME | CONFIG.toml]

``textual-serve`` (the ``serve`` extra) answers each page that opens with a websocket and runs
``dltui`` behind it, in a process of its own, with the same preset or config file: two visitors
train two networks and never see each other's. The app knows it is in a browser
(``App.is_web``) and hands what it exports (a derivation's LaTeX or Markdown) to the browser as
a download instead of writing a file on the server.

The port and host are checked before the server starts, so a port in use or a host that names
no address of this machine ends in a message and exit code 2. Ctrl-C (or SIGTERM) stops the
server and every app it started.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

from engine.errors import UserError

DEFAULT_PORT = 8000
DEFAULT_HOST = "127.0.0.1"
SHUTDOWN_S = 10.0  # at most this long for the apps to end when the server stops
INSTALL_HINT = 'install the browser extra: pip install -e ".[serve]"'


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="open the app in a web browser (one app per visitor)",
        description="Serve the app to web browsers: every visitor gets an app of their own, "
        "on the same experiment. Exports reach the browser as downloads.",
        epilog="Anyone who can reach HOST:PORT can use the app and train networks on this "
        "machine's CPU: keep the default 127.0.0.1 unless the network is one you trust. "
        "Ctrl-C stops.",
    )
    p.add_argument("config", nargs="?", help="an experiment file (TOML)")
    p.add_argument("--preset", help="a named experiment (see `dltui presets`)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the TCP port to listen on (default {DEFAULT_PORT})",
    )
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}: this machine only; "
        "0.0.0.0 for every network)",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers reach the server at, when it differs from http://HOST:PORT "
        "(behind a proxy, or with --host 0.0.0.0)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Checks the arguments, then serves until Ctrl-C; returns the exit code."""
    from tui.commands.app import load_experiment

    load_experiment(args.config, args.preset)  # a bad config or preset fails here, not per visitor
    check_port(args.port)
    check_bind(args.host, args.port)
    if args.public_url is not None:
        check_public_url(args.public_url)
    server_class = _server_class()
    # the page joins its paths to this address: a trailing slash would double theirs
    url = args.public_url.rstrip("/") if args.public_url else local_url(args.host, args.port)
    server = server_class(
        app_command(args.config, args.preset),
        host=args.host,
        port=args.port,
        title="dltui",
        public_url=url,
    )
    server.serve()
    print("server stopped", flush=True)
    return 0


def app_command(config: str | None, preset: str | None) -> str:
    """The shell command each visitor's app runs: this Python, the same module, the same
    experiment (a config file by its absolute path: the server's folder may not be the app's)."""
    argv = [sys.executable, "-m", "tui.cli"]
    if config:
        argv.append(str(Path(config).resolve()))
    if preset:
        argv += ["--preset", preset]
    return shlex.join(argv)


def local_url(host: str, port: int) -> str:
    """``http://HOST:PORT``, an IPv6 address in brackets; a wildcard address (every network)
    shown as this machine's own name, which a browser can open."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def check_port(port: int) -> None:
    """Raises:
    UserError: for a port outside 1-65535."""
    if not 1 <= port <= 65535:
        hint = f"use one from 1 to 65535, e.g. --port {DEFAULT_PORT}"
        raise UserError(f"--port {port} is not a TCP port", hint)


def check_public_url(url: str) -> None:
    """Raises:
    UserError: for a --public-url that is not an http(s) address with a host: the page
    builds its websocket's address from it, so anything else leaves visitors a blank page."""
    from urllib.parse import urlsplit  # here: the app's start imports no urllib

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(
            f"--public-url {url!r} is not a web address",
            "give the address browsers open, with its scheme and host, "
            "e.g. --public-url https://dltui.example.org",
        )


def check_bind(host: str, port: int) -> None:
    """Binds ``host:port`` once and lets it go, so that the server's own bind cannot fail.

    Raises:
        UserError: naming the host or the port: a name that resolves to no address, an address
            that is not this machine's, a port in use or one that needs more privileges.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(
            f"--host {host!r} is not an address or a known host name ({exc})",
            f"use an address of this machine, e.g. --host {DEFAULT_HOST}",
        ) from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            try:
                sock.bind(address)
            except OSError as exc:
                raise _bind_error(host, port, exc) from None


def _bind_error(host: str, port: int, exc: OSError) -> UserError:
    if exc.errno == errno.EADDRINUSE:
        return UserError(
            f"port {port} on {host} is in use by another program",
            f"choose another, e.g. --port {port + 1 if port < 65535 else DEFAULT_PORT}",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UserError(
            f"port {port} needs more privileges than this user has (ports below 1024 do)",
            f"use a port from 1024 up, e.g. --port {DEFAULT_PORT}",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return UserError(
            f"--host {host} is not an address of this machine",
            f"use one of its own, e.g. --host {DEFAULT_HOST} (or 0.0.0.0 for every network)",
        )
    return UserError(
        f"cannot listen on {host}:{port}: {exc.strerror or exc}",
        f"try --host {DEFAULT_HOST} --port {DEFAULT_PORT}",
    )


def _server_class() -> Any:
    """textual-serve's Server, printing the address to open in place of its banner.

    Imported here, not at the top: aiohttp and textual-serve belong to an optional extra.
    """
    try:
        from textual_serve.server import Server
    except ImportError as exc:
        raise UserError(f"`dltui serve` needs textual-serve ({exc})", INSTALL_HINT) from None

    class DltuiServer(Server):
        """Keeps each visitor's connection, to end them all, apps included, when it stops."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.visitors: set[asyncio.Task[Any]] = set()

        async def handle_websocket(self, request: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            self.visitors.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.visitors.discard(task)

        async def on_shutdown(self, app: object) -> None:
            """Ends every visitor's connection while the event loop still runs: each one then
            stops its app and waits for its process, which would otherwise be left to a
            closed loop (and a traceback at exit)."""
            for task in self.visitors:
                task.cancel()
            if self.visitors:
                await asyncio.wait(self.visitors, timeout=SHUTDOWN_S)

        def initialize_logging(self) -> None:
            """Warnings and errors only: a line per request would bury the address to open."""
            super().initialize_logging()
            logging.getLogger().setLevel(logging.WARNING)

        async def on_startup(self, app: object) -> None:
            self.console.print(
                f"dltui in a browser: open [bold]{self.public_url}[/]\n"
                f"each visitor gets an app of their own; Ctrl+C stops the server",
                highlight=False,
            )

    return DltuiServer
