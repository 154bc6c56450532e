"""Exports: a file on disk in a terminal, a download in a browser (tui.deliver)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from tui.deliver import deliver_text


class _Recording(App[object]):
    """An app that says whether it is in a browser and records what it delivers."""

    def __init__(self, web: bool) -> None:
        super().__init__()
        self.web = web
        self.delivered: list[tuple[str, dict[str, Any]]] = []

    @property
    def is_web(self) -> bool:
        return self.web

    def deliver_text(self, path_or_file: Any, **kwargs: Any) -> str | None:
        assert isinstance(path_or_file, io.StringIO)
        self.delivered.append((path_or_file.getvalue(), kwargs))
        return "key"


def test_a_terminal_app_writes_the_file(tmp_path: Path) -> None:
    app = _Recording(web=False)
    path = tmp_path / "derivation-0.W_0_0-index.tex"
    message = deliver_text(app, path, "\\frac{a}{b}\n")
    assert path.read_text(encoding="utf-8") == "\\frac{a}{b}\n"
    assert str(path.resolve()) in message
    assert app.delivered == []


def test_a_served_app_sends_a_download_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = _Recording(web=True)
    message = deliver_text(app, Path("derivation-0.W_0_0-index.md"), "# dL/dW\n")
    assert list(tmp_path.iterdir()) == []
    [(text, kwargs)] = app.delivered
    assert text == "# dL/dW\n"
    assert kwargs["save_filename"] == "derivation-0.W_0_0-index.md"
    assert kwargs["mime_type"] == "text/markdown"
    assert "download" in message
