"""What a preset compiles the first time it opens, on an empty kernel cache, and how long it takes.

The app compiles a preset's first training step and its first epoch's measurement before it
trains (``engine.warmup.warm_first_step``, the "compiling kernels…" screen). This times that call
for each preset, each in a fresh process with a cache folder of its own, so nothing compiled for
one preset is loaded by the next, and lists the kernels that took longest (Numba's compile events:
a kernel's time includes the kernels it compiles on the way, one level deeper).

Run: ``python -m tui.bench.first_open [--preset lenet-digits ...] [--top 5]``; ``--deep`` measures
the presets with convolution, recurrent and attention layers. Compile times vary less than step
times with a neighbour's load, but run it on a quiet machine all the same.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

DEEP = ("lenet-digits", "lstm-sine", "gru-adding", "transformer-text")


@dataclass(frozen=True)
class Compile:
    """One kernel compiled: its name, seconds, and how many compiles enclosed it."""

    kernel: str
    seconds: float
    depth: int


@dataclass(frozen=True)
class FirstOpen:
    """A preset's first opening: the whole ``warm_first_step``, and every compile in it."""

    preset: str
    seconds: float
    compiles: list[Compile]

    def top(self, n: int) -> list[Compile]:
        """The ``n`` longest compiles, longest first."""
        return sorted(self.compiles, key=lambda c: -c.seconds)[:n]


def _first_open_here(preset: str) -> dict[str, Any]:
    """Times ``warm_first_step`` for ``preset`` in this process (whose cache must be empty)."""
    from numba.core import event

    from engine import warmup
    from engine.experiment.presets import get_preset

    run = get_preset(preset).build()
    compiles: list[dict[str, Any]] = []
    open_: list[tuple[str, float]] = []

    class Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            open_.append((ev.data["dispatcher"].py_func.__qualname__, time.perf_counter()))

        def on_end(self, ev: Any) -> None:
            name, start = open_.pop()
            seconds = time.perf_counter() - start
            compiles.append({"kernel": name, "seconds": seconds, "depth": len(open_)})

    start = time.perf_counter()
    with event.install_listener("numba:compile", Listener()):
        warmup.warm_first_step(run)
    return {"preset": preset, "seconds": time.perf_counter() - start, "compiles": compiles}


def first_open(preset: str) -> FirstOpen:
    """``preset``'s first opening, measured in a fresh process on an empty cache of its own."""
    with tempfile.TemporaryDirectory(prefix="dltui-first-open-") as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        env.pop("NUMBA_CACHE_DIR", None)  # the user's own cache folder would not be empty
        done = subprocess.run(
            [sys.executable, "-m", "tui.bench.first_open", "--child", preset],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"measuring {preset} failed:\n{done.stderr.strip()}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    compiles = [Compile(**c) for c in found["compiles"]]
    return FirstOpen(found["preset"], found["seconds"], compiles)


def main(argv: list[str] | None = None) -> None:
    """Measures each preset asked for and prints its time and its longest compiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", action="append", help="a preset to measure (repeatable)")
    parser.add_argument("--deep", action="store_true", help="measure " + ", ".join(DEEP))
    parser.add_argument("--top", type=int, default=5, help="compiles to list for each preset")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the measuring process
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_first_open_here(args.child)))
        return
    from engine.errors import UserError
    from engine.experiment.presets import DEFAULT, get_preset

    presets = [*(args.preset or ()), *(DEEP if args.deep else ())] or [DEFAULT]
    for preset in presets:
        try:
            get_preset(preset)
        except UserError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            print(f"first_open: {exc.message}{hint}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
    for preset in presets:
        found = first_open(preset)
        print(f"{preset}: {found.seconds:.1f} s on an empty cache", flush=True)
        for c in found.top(args.top):
            print(f"  {c.seconds:6.2f} s  {'  ' * c.depth}{c.kernel}", flush=True)


if __name__ == "__main__":
    main()
