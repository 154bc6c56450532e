"""A long run of tiny epochs, watched for memory: ``python -m tui.bench.soak [--epochs N]``.

Runs ``dltui train --preset xor`` (four samples an epoch, so epochs go by in microseconds and
whatever a run keeps per epoch adds up fast) in a child process and samples its resident memory
from ``/proc`` as it trains. Prints the RSS at the first sample past the first tenth of
the run (start-up and first saves behind it) and at the last, and the growth per thousand
epochs: a run that keeps its history bounded grows by next to nothing. A measurement to
read, not a test: the machine's noise does not touch bytes, but the epoch counts at each sample
depend on its speed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mib(pid: int) -> float | None:
    """The resident memory of process ``pid`` in MiB (None once it has ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else None


def epochs_done(run: Path) -> int:
    """Epochs written to the run's metrics.csv so far (its lines less the header)."""
    try:
        with (run / "metrics.csv").open("rb") as fh:
            return max(sum(1 for _ in fh) - 1, 0)
    except OSError:
        return 0


def soak(epochs: int, every: float) -> list[tuple[float, int, float]]:
    """(seconds, epochs done, RSS MiB) samples of one run of ``epochs`` epochs."""
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "soak"
        cmd = [sys.executable, "-m", "tui.cli", "train", "--preset", "xor"]
        child = subprocess.Popen(
            [*cmd, "--epochs", str(epochs), "--out", str(run), "--save-every", "1"],
            stdout=subprocess.DEVNULL,
        )
        start = time.perf_counter()
        while child.poll() is None:
            rss = rss_mib(child.pid)
            if rss is not None:
                samples.append((time.perf_counter() - start, epochs_done(run), rss))
            time.sleep(every)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.bench.soak", description=__doc__)
    parser.add_argument("--epochs", type=int, default=200_000, help="epochs to run (200,000)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    args = parser.parse_args(argv)
    warm = args.epochs // 10  # the first tenth: start-up, kernels, first saves
    samples = [s for s in soak(args.epochs, args.every) if s[1] > warm]
    if len(samples) < 2:
        print("the run ended before two samples could be taken; ask for more --epochs")
        return 1
    (t0, e0, r0), (t1, e1, r1) = samples[0], samples[-1]
    print(f"epochs {e0:,} → {e1:,} in {t1 - t0:.1f} s; RSS {r0:.1f} → {r1:.1f} MiB")
    print(f"growth: {(r1 - r0) * 1024 / max(e1 - e0, 1) * 1000:.1f} KiB per 1,000 epochs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
