"""Training speed inside the app against headless training, on the same preset and process.

Headless: ``Trainer.run()`` drained in a loop for a fixed time. In the app: the real app, run
headless with ``App.run_test()`` at a fixed terminal size, training at full speed while every view
redraws; its step counter is read at the start and the end of the same length of time. The
ratio is what the interface costs the training (the target is at least 0.8).

Run: ``python -m tui.bench.app_speed [--preset spiral] [--seconds 4] [--rounds 3]``.
Headless and in-app runs alternate and the median ratio is kept, so a neighbour's load that comes
and goes does not decide the result.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from engine.events import Step
from engine.experiment.presets import DEFAULT, get_preset
from tui.app import DltuiApp
from tui.session.pace import FULL_SPEED

LATENCIES: list[float] = []  # key press to its effect on screen, while training at full speed


def headless_speed(preset: str, seconds: float) -> float:
    """Steps per second of ``Trainer.run()`` with nothing else running."""
    run = get_preset(preset).build()
    data = run.data
    events = run.trainer.run(data.X_train, data.y_train, None, val=(data.X_test, data.y_test))
    for _ in range(200):  # load the kernels before the clock starts
        next(events)
    start_step, start = run.trainer.step, time.perf_counter()
    deadline = start + seconds
    for event in events:
        if event.__class__ is Step and time.perf_counter() >= deadline:
            break
    steps = run.trainer.step - start_step
    events.close()
    return steps / (time.perf_counter() - start)


async def key_latency(app: DltuiApp, key: str, done: Callable[[], bool]) -> float:
    """Seconds from a key press until the screen has drawn its effect (``done()``).

    The key goes in as a terminal would send it (``simulate_key``); ``Pilot.press`` is not used
    because it also waits for every widget to go idle, which a live app never does.
    """
    start = time.perf_counter()
    app.simulate_key(key)
    while not done():
        await asyncio.sleep(0.001)
    return time.perf_counter() - start


async def app_speed(preset: str, seconds: float, size: tuple[int, int]) -> tuple[float, float]:
    """Steps per second inside the running app, and snapshots drawn per second."""
    experiment = get_preset(preset).replace(train={"epochs": 1_000_000})  # never done in time
    app = DltuiApp(experiment, check_kernels=False, pace=FULL_SPEED)
    async with app.run_test(size=size) as pilot:
        while app.session is None or app.main.snapshots < 3:
            await pilot.pause(0.05)
        main = app.main
        trainer_step = lambda: main.session.run.trainer.step  # noqa: E731
        s0, n0, t0 = trainer_step(), main.snapshots, time.perf_counter()
        await pilot.pause(seconds)
        s1, n1, t1 = trainer_step(), main.snapshots, time.perf_counter()
        lr = main.lr
        LATENCIES.append(await key_latency(app, "plus", lambda: main.lr > lr))
        paused = lambda: main.snapshot is not None and main.snapshot.paused  # noqa: E731
        LATENCIES.append(await key_latency(app, "space", paused))
        await pilot.press("q")
    return (s1 - s0) / (t1 - t0), (n1 - n0) / (t1 - t0)


def main() -> None:
    """Alternates headless and in-app measurements and prints each ratio and their median."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=DEFAULT)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="headless/app pairs (median kept)")
    parser.add_argument("--size", default="120x40", help="terminal size, COLSxROWS")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    print(f"preset {args.preset}, app at {cols}x{rows}, {args.rounds} rounds of {args.seconds:g} s")
    ratios = []
    headless = headless_speed(args.preset, args.seconds)
    for n in range(1, args.rounds + 1):
        in_app, frames = asyncio.run(app_speed(args.preset, args.seconds, (cols, rows)))
        after = headless_speed(args.preset, args.seconds)
        ratio = in_app / ((headless + after) / 2)
        ratios.append(ratio)
        print(
            f"round {n}: headless {headless:9,.0f} → {after:9,.0f} steps/s, "
            f"in app {in_app:9,.0f} steps/s ({frames:.1f} snapshots/s), ratio {ratio:.2f}"
        )
        headless = after
    print(f"ratio app / headless: median {statistics.median(ratios):.2f} (target ≥ 0.80)")
    worst = 1000 * max(LATENCIES)
    print(f"keys (+, space) while training: effect on screen within {worst:.0f} ms (target 100 ms)")


if __name__ == "__main__":
    main()
