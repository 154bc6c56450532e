"""Handing a file the app made to the person using it: a file on disk in a terminal, a download
in a browser (``dltui serve``).

In a terminal the person and the app share a disk, so the file is written beside where the app
was started, as it always was. Served to a browser, the app runs on another machine: writing
there helps no one, so the text goes through Textual's ``deliver_text``, which textual-serve
turns into a download of the same name.
"""

from __future__ import annotations

import io
from pathlib import Path

from textual.app import App


def deliver_text(app: App[object], path: Path, text: str) -> str:
    """Writes ``text`` to ``path``, or sends it to the browser as a download named like it.

    Returns:
        What to tell the user: where the file went.

    Raises:
        OSError: when the file cannot be written (in a terminal).
    """
    if app.is_web:
        app.deliver_text(io.StringIO(text), save_filename=path.name, mime_type=_mime(path))
        return f"Sent {path.name} to the browser as a download"
    path.write_text(text, encoding="utf-8")
    return f"Wrote {path.resolve()}"


def _mime(path: Path) -> str:
    return {".tex": "application/x-tex", ".md": "text/markdown"}.get(path.suffix, "text/plain")
