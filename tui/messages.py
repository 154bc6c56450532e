"""Textual messages that carry the training thread's records (``tui.session.records``) to the
screens."""

from __future__ import annotations

from textual.message import Message

from tui.session.records import Notice, Snapshot


class Updated(Message):
    """A snapshot arrived from the training thread."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        super().__init__()


class Noticed(Message):
    """A notice arrived from the training thread."""

    def __init__(self, notice: Notice) -> None:
        self.notice = notice
        super().__init__()
