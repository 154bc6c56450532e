"""`dltui serve` in a real browser: Debian's chromium, driven by playwright.

The server runs as a user starts it, in a process group of its own; the page opens, the app's
first frame arrives, and the keys a learner presses first (space, s, d, Escape, and x for an
export) must each change what the app draws. textual-serve paints on a canvas, so the test
reads the app's screen from the terminal output the page's websocket receives (escape codes
removed), and compares screenshots besides.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page, WebSocket

playwright_api = pytest.importorskip("playwright.sync_api")
pytest.importorskip("textual_serve")

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        "no chromium at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_FRAME_S = 180.0  # an empty kernel cache compiles the first step before the first frame
KEY_S = 30.0
# Escape codes (CSI, OSC, DCS and the two-byte ones) between the characters the app draws.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1bP.*?\x1b\\|\x1b.")
HEADER = re.compile(r"(training|paused|finished)\s+epoch (\d+) of \d+\s+step ([\d,]+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``dltui serve`` on a free port of 127.0.0.1; stopped with its apps, whatever happens."""
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", "--port", str(port), "--preset", "spiral"],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        f"dltui serve did not listen: {(tmp_path / 'serve.log').read_text()}"
                    )
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/", proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and every app it started
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


class Screen:
    """What the app has drawn, read from the page's websocket, and the page to press keys in."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.frames: list[str] = []
        page.on("websocket", self._listen)

    def _listen(self, ws: WebSocket) -> None:
        ws.on("framereceived", self._take)

    def _take(self, payload: str | bytes) -> None:
        text = payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
        self.frames.append(ANSI.sub("", text))

    def text(self, since: int = 0) -> str:
        return "".join(self.frames[since:])

    def wait(self, what: str, condition: Callable[[str], bool], since: int, timeout: float) -> str:
        """Lets the page run (events arrive only inside playwright's calls) until the text
        drawn since frame ``since`` satisfies ``condition``."""
        deadline = time.monotonic() + timeout
        while not condition(self.text(since)):
            if time.monotonic() > deadline:
                tail = re.sub(r"\s+", " ", self.text(since))[-600:]
                raise AssertionError(f"timed out waiting for {what}; last drawn: {tail!r}")
            self.page.wait_for_timeout(100)
        return self.text(since)

    def press(self, key: str, what: str, condition: Callable[[str], bool]) -> str:
        since = len(self.frames)
        self.page.keyboard.press(key)
        return self.wait(what, condition, since, KEY_S)


def _last_header(text: str) -> tuple[str, int, int]:
    state, epoch, step = HEADER.findall(text)[-1]
    return state, int(epoch), int(step.replace(",", ""))


def test_the_app_in_a_browser_answers_its_keys(
    server: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, proc = server
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
            screen = Screen(page)
            page.goto(url)
            screen.wait(
                "the first frame",
                lambda t: "training" in t and HEADER.search(t) is not None,
                0,
                FIRST_FRAME_S,
            )
            page.focus(".xterm-helper-textarea")  # xterm.js takes keys through this box
            before = page.screenshot()

            text = screen.press("Space", "the run to pause", lambda t: "paused" in t)
            assert page.screenshot() != before
            _, _, step = _last_header(screen.text())

            screen.press("s", "one step", lambda t: f"step {step + 1:,}" in t)
            assert _last_header(screen.text())[2] == step + 1

            shot = page.screenshot()
            since = len(screen.frames)
            screen.press("d", "the derivation screen", lambda t: "esc Back" in t)
            # the derivation is worked out on a thread: on an empty cache its kernels compile
            screen.wait(
                "its steps", lambda t: "step 1 of" in t and "∂L/∂" in t, since, FIRST_FRAME_S
            )
            assert page.screenshot() != shot

            with page.expect_download(timeout=KEY_S * 1000) as download:
                page.keyboard.press("x")
            saved = tmp_path / "download.tex"
            download.value.save_as(saved)
            assert download.value.suggested_filename.endswith("-index.tex")
            assert "\\frac" in saved.read_text(encoding="utf-8") or "\\partial" in saved.read_text(
                encoding="utf-8"
            )
            assert not list(tmp_path.glob("derivation-*"))  # delivered, not written on the server

            text = screen.press("Escape", "the main view", lambda t: "decision boundary" in t)
            assert "paused" in text

            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in its terminal, a visitor still there
            assert proc.wait(timeout=30) == 0
        finally:
            browser.close()
    log = (tmp_path / "serve.log").read_text()
    assert "server stopped" in log and "Traceback" not in log, log
