"""``python -m engine.sweep.worker``: one local sweep worker, serving points over its pipes.

The asking process writes a ``PointTask`` to the worker's stdin and reads the ``PointResult``
from its stdout, each pickled and preceded by its length (8 bytes, little-endian); the worker
ends when its stdin closes. It starts with one thread for Numba, OpenMP and BLAS (set in its
environment by ``executors.LocalExecutor``, before NumPy and Numba load) and ignores Ctrl-C,
which is the asking process's to handle. Anything the engine prints goes to stderr, so the
results' pipe carries nothing else.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints go to stderr
    from engine.sweep.pipes import read_message, write_message
    from engine.sweep.point import run_point  # loads NumPy and Numba, one thread each

    while (body := read_message(sys.stdin.buffer)) is not None:
        result = run_point(pickle.loads(body))
        write_message(results, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
