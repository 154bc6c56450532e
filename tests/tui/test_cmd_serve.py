"""``dltui serve``'s checks before it serves: each mistake a message and exit code 2."""

from __future__ import annotations

import shlex
import socket
import sys

import pytest

from tui import cli
from tui.commands import serve


def dltui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_a_port_outside_the_range_is_refused(capsys, port: str) -> None:
    code, err = dltui(capsys, "serve", "--port", port)
    assert code == 2 and "is not a TCP port" in err


def test_a_port_in_use_is_refused(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = dltui(capsys, "serve", "--port", str(port))
    assert code == 2 and f"port {port} on 127.0.0.1 is in use" in err


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("no-such-host.invalid", "not an address or a known host name"),
        ("192.0.2.1", "not an address of this machine"),
    ],
)
def test_a_bad_host_is_refused(capsys, host: str, says: str) -> None:
    code, err = dltui(capsys, "serve", "--host", host, "--port", "8000")
    assert code == 2 and says in err


def test_a_bad_preset_is_refused_before_serving(capsys) -> None:
    code, err = dltui(capsys, "serve", "--preset", "no-such-preset")
    assert code == 2 and "unknown preset" in err


def test_without_textual_serve_the_message_names_the_extra(capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    code, err = dltui(capsys, "serve", "--port", str(_free_port()))
    assert code == 2 and 'pip install -e ".[serve]"' in err


def test_each_visitor_runs_this_python_on_the_same_experiment(tmp_path) -> None:
    config = tmp_path / "my exp.toml"
    argv = shlex.split(serve.app_command(str(config), None))
    assert argv == [sys.executable, "-m", "tui.cli", str(config.resolve())]
    assert shlex.split(serve.app_command(None, "xor"))[-2:] == ["--preset", "xor"]


def test_the_address_to_open() -> None:
    assert serve.local_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert serve.local_url("::1", 8080) == "http://[::1]:8080"
    assert serve.local_url("0.0.0.0", 80) == f"http://{socket.gethostname()}:80"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url", ["dltui.example.org", "example.org:8000", "ftp://example.org", "https://"]
)
def test_a_public_url_that_is_no_web_address_is_refused(capsys, url: str) -> None:
    code, err = dltui(capsys, "serve", "--port", str(_free_port()), "--public-url", url)
    assert code == 2 and "is not a web address" in err


def test_a_public_url_with_a_trailing_slash_joins_the_pages_paths_once(monkeypatch) -> None:
    made: dict[str, object] = {}

    class Recorder:
        def __init__(self, command: str, **kwargs: object) -> None:
            made.update(kwargs)

        def serve(self) -> None:
            pass

    monkeypatch.setattr(serve, "_server_class", lambda: Recorder)
    url = "https://dltui.example.org/class/"
    assert cli.main(["serve", "--port", str(_free_port()), "--public-url", url]) == 0
    assert made["public_url"] == "https://dltui.example.org/class"
