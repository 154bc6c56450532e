"""The app's start: on an empty kernel cache it compiles the first step only, then trains.

The warm-up markers go to a fresh folder (the kernels themselves stay in the session's cache),
and the background warm-up process is replaced by a recorder: these tests check what the app
decides, not how long Numba takes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest

import tui.app
import tui.screens.main
import tui.screens.warmup
import tui.session.worker
from engine import warmup
from engine.experiment.presets import get_preset
from tui.app import DltuiApp
from tui.commands.app import load_kernels_ahead
from tui.screens.main import MainScreen
from tui.screens.warmup import WarmupScreen

SIZE = (100, 32)


def _drawn(app: DltuiApp) -> bool:
    """Whether the main screen has drawn its first snapshot."""
    return app.session is not None and app.main.snapshot is not None


@pytest.fixture
def cold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No marker yet; returns what happened: "screen" for each warm-up screen the app opened,
    "background" for each background warm-up it started."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path), raising=False)
    seen: list[str] = []
    monkeypatch.setattr(
        tui.screens.warmup, "start_background", lambda *_: seen.append("background")
    )
    monkeypatch.setattr(
        tui.session.worker, "start_background", lambda *_: seen.append("fused behind")
    )

    class Recorded(WarmupScreen):
        def on_mount(self) -> None:
            seen.append("screen")
            super().on_mount()

    monkeypatch.setattr(tui.app, "WarmupScreen", Recorded)
    return seen


async def test_a_cold_start_trains_layer_by_layer_then_on_the_fused_kernel(drive, cold) -> None:
    app = DltuiApp(get_preset("spiral"), check_kernels=True)
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        assert cold == ["screen", "background"]
        net = app.session.run.net
        assert net.fuse is False  # the fused kernel is not in the cache yet
        await drive.wait_for(pilot, lambda: app.main.step > 20, timeout=30)
        warmup._marker().touch()  # what the background warm-up leaves when it is done
        _fused_marker(app).touch()
        await drive.wait_for(pilot, lambda: net.fuse, timeout=5)
        step = app.main.step
        await drive.wait_for(pilot, lambda: app.main.step > step + 20, timeout=30)
        assert app.session.run.trainer.step > step  # still training, on the fused kernel now


def _fused_marker(app: DltuiApp) -> Path:
    assert app.session is not None
    run = app.session.run
    key = warmup.fused_key(run.net, run.trainer.loss)
    assert key is not None
    return warmup._fused_marker(key)


async def test_a_network_whose_fused_kernel_is_not_compiled_trains_layer_by_layer(
    drive, cold
) -> None:
    """The full warm-up compiled the tanh networks' fused kernels, not a ReLU one's: that one
    compiles in the background while the network trains layer by layer, then it switches."""
    warmup._marker().touch()
    app = DltuiApp(get_preset("digits"), paused=False, check_kernels=True)
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        assert cold == ["fused behind"]  # no warm-up screen: its first step is cached
        net = app.session.run.net
        await drive.wait_for(pilot, lambda: app.main.step > 5, timeout=30)
        assert net.fuse is False
        _fused_marker(app).touch()
        await drive.wait_for(pilot, lambda: net.fuse, timeout=5)


def _warm(preset: str) -> None:
    """What the full warm-up leaves: its marker, and the fused kernel's of a tanh network."""
    warmup._marker().touch()
    run = get_preset(preset).build()
    key = warmup.fused_key(run.net, run.trainer.loss)
    assert key is not None
    warmup._fused_marker(key).touch()


async def test_a_warm_start_opens_on_the_main_screen(drive, cold) -> None:
    _warm("spiral")
    app = DltuiApp(get_preset("spiral"), paused=True, check_kernels=True)
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.session is not None and app.session.run.net.fuse is True
        assert cold == []


async def test_a_recurrent_network_warms_its_own_first_step(drive, cold) -> None:
    """The full warm-up covers Dense stacks only: an LSTM compiles its first step on the screen
    even when that has run, and the next start skips it."""
    warmup._marker().touch()
    experiment = get_preset("lstm-sine")
    for _ in range(2):
        app = DltuiApp(experiment, paused=True, check_kernels=True)
        async with app.run_test(size=SIZE) as pilot:  # a first compile takes long: a long wait
            await drive.wait_for(pilot, lambda a=app: _drawn(a), timeout=120)
    assert cold == ["screen", "background"]  # the second start found the first step cached


async def test_a_first_step_that_fails_while_warming_leaves_the_report_to_training(
    drive, cold, monkeypatch
) -> None:
    """The training thread meets the same error and says so in the app; the warm-up screen
    does not end the app with a traceback."""

    def broken(run, progress) -> None:
        raise RuntimeError("a first step that cannot run")

    monkeypatch.setattr(tui.screens.warmup, "warm_first_step", broken)
    app = DltuiApp(get_preset("spiral"), paused=True, check_kernels=True)
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        assert isinstance(app.screen, MainScreen) and app.is_running
    assert app._exception is None and cold == ["screen", "background", "fused behind"]


async def test_the_first_frame_drawn_is_the_first_step(drive, monkeypatch) -> None:
    """The snapshot from before the first step is held back while that step is under way (it
    is shown only when the step takes long: test_app_pace), and the step is reported as soon
    as it is done, not at the end of its burst."""
    monkeypatch.setattr(tui.screens.main, "START_GRACE", 60.0)  # however slow the machine
    drawn: list[tuple[int, str]] = []
    show = MainScreen._show

    def recorded(self: MainScreen, snap) -> None:
        drawn.append((snap.step, snap.state))
        show(self, snap)

    monkeypatch.setattr(MainScreen, "_show", recorded)
    app = drive.app(pace=None, paused=False)
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        assert "▶ training" in app.main.query_one("#header").plain
    assert drawn[0] == (1, "training")


def test_kernels_are_read_ahead_on_a_warm_cache_only_and_on_a_copy(cold) -> None:
    run = get_preset("spiral").build()
    assert load_kernels_ahead(run) is None  # cold: the warm-up screen compiles instead
    _warm("spiral")
    data, grads = run.net.data.copy(), run.net.grad.copy()
    thread = load_kernels_ahead(run)
    assert thread is not None
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert np.array_equal(run.net.data, data) and np.array_equal(run.net.grad, grads)
    assert run.trainer.step == 0
    assert cold == []


# Started in a fresh interpreter: which modules the app has loaded by its first frame of training.
FIRST_FRAME = """
import asyncio, json, sys
from engine.experiment.presets import get_preset
from tui.app import DltuiApp

async def main():
    app = DltuiApp(get_preset("spiral"), check_kernels=False)
    async with app.run_test(size=(100, 32)) as pilot:
        while app.session is None or app.main.step == 0:
            await pilot.pause(0.02)

asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""
LATER = ("sympy", "derive", "tui.learn", "tui.screens.setup", "tui.screens.help",
         "tui.screens.open_run", "tui.screens.derivation")  # fmt: skip


def test_the_first_frame_comes_before_sympy_the_course_and_the_screens_behind_keys() -> None:
    """SymPy (the derivation), the course and the screens a key opens load when first used."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba.config.CACHE_DIR)}
    done = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "tui.screens.main" in loaded and "tui.widgets.decision_map" in loaded
    early = [m for m in loaded if any(m == name or m.startswith(name + ".") for name in LATER)]
    assert early == []
