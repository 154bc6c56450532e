"""Training speed inside the app against headless training, on the same preset and process.

Headless: ``Trainer.run()`` drained in a loop for a fixed time. In the app: the real app, run
headless with ``App.run_test()`` at a fixed terminal size, training at full speed while every view
redraws; its step counter is read at the start and the end of the same length of time. The
ratio is what the interface costs the training (the target is at least 0.85).

Run: ``python -m tui.bench.app_speed [--preset spiral ...] [--seconds 4] [--rounds 3]``; several
``--preset`` options measure each in turn (``--deep``: the four the target names: spiral,
lenet-digits, lstm-sine and transformer-text). Headless and in-app runs alternate and the median
ratio is kept, so a neighbour's load that comes and goes does not decide the result.

Both sides run with the BLAS threads the app sets for itself (one, ``--blas-threads``: see
``engine.threads``), so the ratio is what the interface costs and not what a second BLAS thread
gains or loses.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable

from engine.events import Step
from engine.experiment.presets import DEFAULT, get_preset
from engine.threads import set_blas_threads
from tui.app import DltuiApp
from tui.session.pace import FULL_SPEED

LATENCIES: list[float] = []  # key press to its effect on screen, while training at full speed
DEEP = ("spiral", "lenet-digits", "lstm-sine", "transformer-text")


def headless_speed(preset: str, seconds: float) -> float:
    """Steps per second of ``Trainer.run()`` with nothing else running, on a thread of its own
    as the app trains on one (Numba's parallel kernels may run at another speed on the main
    thread, which would be no cost or gain of the interface)."""
    speeds: list[float] = []
    thread = threading.Thread(target=lambda: speeds.append(_headless(preset, seconds)))
    thread.start()
    thread.join()
    return speeds[0]


def _headless(preset: str, seconds: float) -> float:
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


def measure(preset: str, seconds: float, rounds: int, size: tuple[int, int]) -> float:
    """Prints each round's speeds for one preset; returns the median ratio app / headless."""
    ratios = []
    headless = headless_speed(preset, seconds)
    for n in range(1, rounds + 1):
        in_app, frames = asyncio.run(app_speed(preset, seconds, size))
        after = headless_speed(preset, seconds)
        ratio = in_app / ((headless + after) / 2)
        ratios.append(ratio)
        print(
            f"{preset} round {n}: headless {headless:9,.0f} → {after:9,.0f} steps/s, "
            f"in app {in_app:9,.0f} steps/s ({frames:.1f} snapshots/s), ratio {ratio:.2f}",
            flush=True,
        )
        headless = after
    return statistics.median(ratios)


def main() -> None:
    """Alternates headless and in-app measurements and prints each ratio and their median."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="a preset to measure (repeatable)")
    parser.add_argument("--deep", action="store_true", help="measure " + ", ".join(DEEP))
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=3, help="headless/app pairs (median kept)")
    parser.add_argument("--size", default="120x40", help="terminal size, COLSxROWS")
    parser.add_argument("--blas-threads", type=int, default=1, help="as the app sets (1)")
    args = parser.parse_args()
    presets = [*(args.preset or ()), *(DEEP if args.deep else ())] or [DEFAULT]
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    set_blas_threads(args.blas_threads)
    print(
        f"app at {cols}x{rows}, {args.rounds} rounds of {args.seconds:g} s, "
        f"{args.blas_threads} BLAS thread(s)"
    )
    medians = {p: measure(p, args.seconds, args.rounds, (cols, rows)) for p in presets}
    for preset, ratio in medians.items():
        print(f"{preset}: ratio app / headless, median {ratio:.2f} (target ≥ 0.85)")
    worst = 1000 * max(LATENCIES)
    print(f"keys (+, space) while training: effect on screen within {worst:.0f} ms (target 100 ms)")


if __name__ == "__main__":
    main()
