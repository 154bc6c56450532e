"""Rough edges of the app: keys pressed before a snapshot, readouts after a change, cut text."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import ContentSwitcher

from tui.app import DltuiApp
from tui.session.worker import TrainingSession

SIZE = (120, 40)


@pytest.fixture
def held_start(monkeypatch) -> threading.Event:
    """The training thread waits for this event before its first snapshot (a slow start)."""
    gate = threading.Event()
    loop = TrainingSession.loop

    def held(self: TrainingSession, post) -> None:
        gate.wait(20)
        loop(self, post)

    monkeypatch.setattr(TrainingSession, "loop", held)
    return gate


async def wait_mounted(pilot, drive) -> None:
    app = pilot.app
    assert isinstance(app, DltuiApp)

    def mounted() -> bool:
        try:
            return app.main.is_mounted
        except LookupError:
            return False

    await drive.wait_for(pilot, mounted)


async def test_g_before_the_first_snapshot_of_a_deep_network_is_kept(drive, held_start) -> None:
    app = drive.app("plain-deep")
    async with app.run_test(size=SIZE) as pilot:
        await wait_mounted(pilot, drive)
        panel = app.main.query_one("#network-panel", ContentSwitcher)
        assert panel.current == "layers"  # a deep stack opens on its layer list at once
        await pilot.press("g")
        assert panel.current == "network"
        held_start.set()
        await drive.ready(pilot)
        await pilot.pause(0.1)
        assert panel.current == "network"  # the first snapshot did not undo the key
        assert panel.border_title == "network"


async def test_g_after_a_reset_on_a_deep_network_is_kept(drive, monkeypatch) -> None:
    gate, reset = threading.Event(), TrainingSession._reset

    def slow_reset(self: TrainingSession) -> None:
        gate.wait(20)
        reset(self)

    monkeypatch.setattr(TrainingSession, "_reset", slow_reset)
    app = drive.app("plain-deep")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        panel = main.query_one("#network-panel", ContentSwitcher)
        assert panel.current == "layers"
        scene = main.scene
        await pilot.press("r", "g")  # a new network; g pressed before its first snapshot
        assert panel.current == "network"
        gate.set()
        await drive.wait_for(pilot, lambda: main.scene is not scene)
        assert panel.current == "network"


async def test_a_setup_change_to_a_deep_network_opens_its_layer_list(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        panel = main.query_one("#network-panel", ContentSwitcher)
        assert panel.current == "network"
        deep = app.session.experiment.replace(model={"hidden": [8] * 9})
        scene = main.scene
        app.session.rebuild(deep)
        await drive.wait_for(pilot, lambda: main.scene is not scene)
        assert panel.current == "layers"
        await pilot.press("g")
        assert panel.current == "network"
