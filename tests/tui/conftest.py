"""Helpers for driving the app: a paused app on a preset, and waiting for the training thread."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from textual.css.query import NoMatches
from textual.pilot import Pilot

from engine.experiment.presets import get_preset
from tui.app import DltuiApp
from tui.screens.setup import SetupScreen
from tui.session.pace import FULL_SPEED


def make_app(
    preset: str = "spiral", paused: bool = True, pace: float | None = FULL_SPEED, **changes: dict
) -> DltuiApp:
    """The app on a preset (optionally changed), opened paused, kernels assumed compiled.

    It trains at full speed, so tests that wait for many steps stay fast; ``pace=None`` gives
    the experiment's default pace, as ``dltui`` opens with.
    """
    experiment = get_preset(preset)
    if changes:
        experiment = experiment.replace(**changes)
    return DltuiApp(experiment, paused=paused, check_kernels=False, pace=pace)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Lets the app run until ``condition()`` holds; fails after ``timeout`` seconds.

    A widget the condition looks up may be missing for a moment while a screen rebuilds its
    children (the setup form does on a new preset): that counts as "not yet"."""
    deadline = time.monotonic() + timeout
    while not _holds(condition):
        if time.monotonic() > deadline:
            condition()  # raises NoMatches if the widget never came
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except NoMatches:
        return False


async def ready(pilot: Pilot) -> None:
    """Waits until the main screen has drawn its first snapshot."""
    app = pilot.app
    assert isinstance(app, DltuiApp)
    await wait_for(pilot, lambda: app.session is not None and app.main.snapshot is not None)


async def step(pilot: Pilot, times: int = 1) -> None:
    """Presses ``s`` and waits for each single step to be drawn, one at a time."""
    main = pilot.app.main  # type: ignore[attr-defined]
    for _ in range(times):
        target = main.step + 1
        await pilot.press("s")
        await wait_for(pilot, lambda t=target: main.step == t and main.snapshot.step == t)
    await wait_for(pilot, lambda: main.snapshot.view is not None)


async def setup(pilot: Pilot) -> SetupScreen:
    """Waits for the main screen, opens the setup screen (``c``) and returns it once shown."""
    app = pilot.app
    await ready(pilot)
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
    return app.screen  # type: ignore[return-value]


class Drive:
    """The helpers above, handed to tests as the ``drive`` fixture."""

    app = staticmethod(make_app)
    wait_for = staticmethod(wait_for)
    ready = staticmethod(ready)
    step = staticmethod(step)
    setup = staticmethod(setup)


@pytest.fixture
def drive() -> type[Drive]:
    """Helpers to open the app and wait for its training thread (see :class:`Drive`)."""
    return Drive


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Runs the test in an empty folder (saved runs and exports land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
