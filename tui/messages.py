"""Textual messages of the app: the training thread's records (``tui.session.records``) on their
way to the screens, and what widgets ask of the screen that holds the session."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.message import Message

from tui.session.records import Notice, Snapshot

if TYPE_CHECKING:
    from tui.session.worker import TrainingSession


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


class ParamSelected(Message):
    """The user selected another parameter entry (in the diagram or the layer list).

    Attributes:
        param: the entry, e.g. ``"2.W[0,1]"`` or ``"2.0.W[0,1]"``.
    """

    def __init__(self, param: str) -> None:
        self.param = param
        super().__init__()


class Requested(Message):
    """A view asks the training session for something (another head, a grid size).

    Widgets never hold the session: the screen that does calls ``ask`` with it. The session's
    methods only queue a command, so this is safe on the interface thread.
    """

    def __init__(self, ask: Callable[[TrainingSession], None]) -> None:
        self.ask = ask
        super().__init__()
