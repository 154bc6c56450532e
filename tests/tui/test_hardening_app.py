"""The app under a hostile but fair user: random keys on every screen, a terminal too small to
draw in, and resizes while training.

The key fuzz presses a fixed-seed random sequence of keys on each screen: every binding of the
screen in front (and the app's), printable characters, arrows, tab, escape, enter and space. It
asserts that the app is still running, logged no unhandled exception and that no worker failed.
``DLTUI_KEY_FUZZ=<keys per screen>`` presses more, ``DLTUI_KEY_FUZZ_SEED`` draws another
sequence and ``DLTUI_KEY_FUZZ_PRESET`` starts from another preset (its views have other keys).
"""

from __future__ import annotations

import os
import random
import string

import pytest
from textual.app import App
from textual.binding import Binding
from textual.pilot import Pilot
from textual.screen import Screen
from textual.worker import WorkerState

from engine.experiment.presets import get_preset
from tui.app import DltuiApp
from tui.screens.derivation import DerivationScreen
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.screens.open_run import OpenRunScreen
from tui.screens.setup import SetupScreen
from tui.screens.warmup import WarmupScreen
from tui.widgets.too_small import MIN_SIZE, TooSmall

KEYS_PER_SCREEN = int(os.environ.get("DLTUI_KEY_FUZZ", "200"))
SEED = int(os.environ.get("DLTUI_KEY_FUZZ_SEED", "12"))
PRESET = os.environ.get("DLTUI_KEY_FUZZ_PRESET", "spiral")
PAUSE = 0.02  # seconds, every PAUSE_EVERY keys: the training thread and the workers run between
PAUSE_EVERY = 10
GENERIC = ("up", "down", "left", "right", "tab", "shift+tab", "escape", "enter", "space")
PRINTABLE = string.ascii_letters + string.digits + "+-.,<>?/=_[]() "
SIZE = (100, 32)


class FuzzApp(DltuiApp):
    """The app with quitting counted instead of done, so the keys go on after a ``q``."""

    quits = 0

    async def action_quit(self) -> None:
        self.quits += 1


def fuzz_app(check_kernels: bool = False) -> FuzzApp:
    """The app on the fuzzed preset, training at its default pace (full speed would starve the
    interface thread of the interpreter on a small machine, and every key wait for it)."""
    return FuzzApp(get_preset(PRESET), paused=False, check_kernels=check_kernels)


def binding_keys(*holders: Screen | App) -> list[str]:
    """Every key bound on ``holders`` (each key of a comma-separated binding)."""
    keys: list[str] = []
    for holder in holders:
        for b in holder.BINDINGS:
            if isinstance(b, Binding):
                keys += [k.strip() for k in b.key.split(",")]
            elif isinstance(b, tuple):
                keys += [k.strip() for k in b[0].split(",")]
    return [k for k in keys if k not in ("ctrl+c", "ctrl+z")]  # the terminal's, not ours


def key_pool(app: App) -> list[str]:
    """The keys a random press draws from on the screen in front."""
    printable = [c if c != " " else "space" for c in PRINTABLE]
    return [*binding_keys(app.screen, app), *GENERIC, *printable]


def healthy(app: App) -> None:
    """Fails when the app stopped, logged an unhandled exception or a worker failed."""
    assert app.is_running and app.return_code is None
    assert app._exception is None, app._exception  # Textual keeps it there
    failed = [w for w in app.workers if w.state == WorkerState.ERROR]
    assert not failed, [(w.name, w.error) for w in failed]


async def press_random(pilot: Pilot, rng: random.Random, count: int) -> None:
    """Presses ``count`` random keys, each drawn from the pool of the screen then in front."""
    for i in range(count):
        await pilot.press(rng.choice(key_pool(pilot.app)))
        if i % PAUSE_EVERY == 0:
            await pilot.pause(PAUSE)
        healthy(pilot.app)


async def back_to_main(pilot: Pilot) -> None:
    """Closes whatever is open over the main screen (the command palette, dialogs, screens)."""
    app = pilot.app
    for _ in range(20):
        if isinstance(app.screen, MainScreen):
            return
        if isinstance(app.screen, SetupScreen | OpenRunScreen | HelpScreen | DerivationScreen):
            app.screen.dismiss(None)
        else:
            await pilot.press("escape")
        await pilot.pause(0.05)
    raise AssertionError(f"could not get back to the main screen from {app.screen}")


OPENERS: dict[str, tuple[str, type[Screen]]] = {
    "main": ("", MainScreen),
    "setup": ("c", SetupScreen),
    "help": ("question_mark", HelpScreen),
    "open run": ("o", OpenRunScreen),
    "derivation": ("d", DerivationScreen),
}


@pytest.mark.parametrize("name", list(OPENERS))
async def test_random_keys_raise_nothing(drive, in_tmp, name: str) -> None:
    key, kind = OPENERS[name]
    rng = random.Random(f"{SEED}-{name}")
    app = fuzz_app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        for _ in range(3):  # a random key may leave the screen: open it again, a few times
            await back_to_main(pilot)
            if key:
                await pilot.press(key)
                await drive.wait_for(pilot, lambda: isinstance(app.screen, kind), timeout=30)
            await press_random(pilot, rng, KEYS_PER_SCREEN // 3)
        healthy(app)
        await back_to_main(pilot)
        main = app.main
        before = main.snapshots
        await pilot.press("s")  # still training: a step is drawn
        await drive.wait_for(pilot, lambda: main.snapshots > before, timeout=30)
        healthy(app)
    assert app._exception is None


async def test_random_keys_on_the_warm_up_screen_raise_nothing(drive, monkeypatch) -> None:
    """The warm-up screen (first start) takes keys while compiling, then gives way to training."""
    import time

    import tui.app
    import tui.screens.warmup

    def slow_warm_up(run, progress) -> None:
        for i in range(8):
            time.sleep(0.1)
            progress(f"kernel {i}")

    monkeypatch.setattr(tui.app, "kernels_cached", lambda: False)
    monkeypatch.setattr(tui.screens.warmup, "warm_up", slow_warm_up)
    app = fuzz_app(check_kernels=True)
    rng = random.Random(f"{SEED}-warm-up")
    async with app.run_test(size=SIZE) as pilot:
        await drive.wait_for(pilot, lambda: isinstance(app.screen, WarmupScreen))
        pool = [*binding_keys(app.screen, app), *GENERIC, *PRINTABLE.replace(" ", "")]
        for _ in range(40):
            if not isinstance(app.screen, WarmupScreen):
                break
            await pilot.press(rng.choice(pool))
            await pilot.pause(PAUSE)
            healthy(app)
        await drive.wait_for(pilot, lambda: app.session is not None, timeout=30)
        await drive.ready(pilot)
        healthy(app)


async def test_a_derivation_finishing_after_its_screen_closed_is_dropped(drive) -> None:
    """Found by the key fuzz (lenet-digits): escape, then the check of every parameter came back
    from its thread and looked for the closed screen's widgets (NoMatches)."""
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await pilot.press("d")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, DerivationScreen), timeout=30)
        screen = app.screen
        assert isinstance(screen, DerivationScreen)
        await pilot.press("escape")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.pause(0.1)
        screen._checked_all("all agree")  # what the threads call back with, late
        screen._derived("index", "late")
        await pilot.pause(0.1)
        healthy(app)


# ---------------------------------------------------------------------------- too small
def cover(app: App) -> TooSmall:
    return app.screen.query_one(TooSmall)


def covers_the_screen(app: App) -> bool:
    """Whether the screen in front shows the cover over all of the terminal."""
    widget = cover(app)
    w, h = app.size
    return widget.display and widget.region.size == (w, h) and widget.region.offset == (0, 0)


async def shrink_and_grow(pilot: Pilot) -> None:
    """Too small, then big again: the cover comes, names both sizes, and goes."""
    app = pilot.app
    await pilot.resize_terminal(40, 12)
    await pilot.pause(0.1)
    assert covers_the_screen(app)
    text = str(cover(app).content)
    need = f"{MIN_SIZE[0]}×{MIN_SIZE[1]}"
    assert "Make the window larger" in text and need in text and "40×12" in text
    await pilot.resize_terminal(MIN_SIZE[0], MIN_SIZE[1] - 1)
    await pilot.pause(0.1)
    assert covers_the_screen(app) and f"{MIN_SIZE[0]}×{MIN_SIZE[1] - 1}" in str(cover(app).content)
    await pilot.resize_terminal(*MIN_SIZE)
    await pilot.pause(0.1)
    assert not cover(app).display
    await pilot.resize_terminal(*SIZE)
    await pilot.pause(0.1)
    assert not cover(app).display


@pytest.mark.parametrize("name", list(OPENERS))
async def test_a_terminal_too_small_asks_for_a_larger_window(drive, in_tmp, name: str) -> None:
    key, kind = OPENERS[name]
    app = drive.app(paused=True)
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        if key:
            await pilot.press(key)
            await drive.wait_for(pilot, lambda: isinstance(app.screen, kind), timeout=30)
        assert not cover(app).display
        await shrink_and_grow(pilot)
        assert isinstance(app.screen, kind)
        healthy(app)


async def test_an_app_opened_too_small_says_so_and_draws_once_grown(drive) -> None:
    app = drive.app(paused=True)
    async with app.run_test(size=(30, 8)) as pilot:
        await drive.ready(pilot)
        await pilot.pause(0.1)
        assert covers_the_screen(app) and "30×8" in str(cover(app).content)
        await pilot.press("s", "right", "?", "escape")  # keys still work under the cover
        await pilot.resize_terminal(*SIZE)
        await pilot.pause(0.1)
        assert not cover(app).display and isinstance(app.screen, MainScreen)
        assert app.session.selected != "0.W[0,0]" and app.main.paused
        healthy(app)


async def test_the_warm_up_screen_too_small_asks_for_a_larger_window(drive, monkeypatch) -> None:
    import threading

    import tui.app
    import tui.screens.warmup

    done = threading.Event()
    monkeypatch.setattr(tui.app, "kernels_cached", lambda: False)
    monkeypatch.setattr(tui.screens.warmup, "warm_up", lambda run, progress: done.wait(10))
    app = DltuiApp(get_preset("spiral"), paused=True, check_kernels=True)
    async with app.run_test(size=SIZE) as pilot:
        await drive.wait_for(pilot, lambda: isinstance(app.screen, WarmupScreen))
        await shrink_and_grow(pilot)
        done.set()
        await drive.ready(pilot)
        healthy(app)


# ---------------------------------------------------------------------------- resize while training
RESIZES = ((80, 24), (40, 12), (120, 40), (61, 19), (100, 32))


async def test_resizing_while_training_changes_only_the_layout(drive) -> None:
    app = drive.app(paused=False, pace=None)  # its default pace: far from the last epoch
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await pilot.press("right", "down", "v", "g", "l")
        await drive.wait_for(pilot, lambda: main.snapshot.chain.param == app.session.selected)
        selected = app.session.selected
        assert selected != "0.W[0,0]"

        def state() -> tuple:
            return (
                app.session.selected,
                main.paused,
                main.query_one("#view-panel").current,
                main.query_one("#network-panel").current,
                main.query_one("#loss").log_scale,
                type(app.screen),
            )

        before = state()
        for size in RESIZES:
            step = main.step
            await pilot.resize_terminal(*size)
            await drive.wait_for(pilot, lambda s=step: main.step > s + 5)
            assert state() == before, size
            healthy(app)
        # paused, a resize neither steps nor resumes
        await pilot.press("space")
        await drive.wait_for(pilot, lambda: main.snapshot.paused)
        step = main.step
        for size in RESIZES:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        assert main.step == step and main.paused and app.session.selected == selected
        healthy(app)
