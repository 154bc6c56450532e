"""Snapshots pin the layout of the main and derivation screens for a seeded, paused run.

Regenerate after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the report before committing.
"""

from __future__ import annotations

import pytest

from tui.screens.derivation import DerivationScreen

STEPS = 30


def paused_spiral(drive, steps: int = STEPS, keys: tuple[str, ...] = ("right", "down")):
    """The default experiment, stepped by hand so every run draws the same; 2.W[0,1] chosen.

    It keeps its default pace, which the header shows.
    """
    app = drive.app("spiral", pace=None)

    async def run_before(pilot) -> None:
        await drive.ready(pilot)
        await drive.step(pilot, steps)
        await pilot.press(*keys)
        main = app.main
        selected = app.session.selected
        await drive.wait_for(pilot, lambda: getattr(main.snapshot.chain, "param", "") == selected)
        await pilot.pause(0.2)

    return app, run_before


@pytest.mark.parametrize("size", [(100, 32), (80, 24)], ids=["100x32", "80x24"])
def test_main_screen(snap_compare, drive, size) -> None:
    app, run_before = paused_spiral(drive)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_derivation_screen(snap_compare, drive) -> None:
    app, prepare = paused_spiral(drive, steps=5)

    async def run_before(pilot) -> None:
        await prepare(pilot)
        await pilot.press("d")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, DerivationScreen))
        screen = app.screen
        await drive.wait_for(pilot, lambda: screen.derivation is not None, timeout=30)
        await drive.wait_for(pilot, lambda: "agree" in screen.verify_summary, timeout=30)
        await pilot.press(*["right"] * 12)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(100, 32), run_before=run_before)
