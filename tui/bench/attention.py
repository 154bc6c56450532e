"""Multi-head self-attention: the engine's layer against ``torch.nn.MultiheadAttention``.

Run: ``python -m tui.bench.attention [--rounds 7] [--seconds 0.3] [--one-thread]``.

Per shape (batch n, length T, width d, heads; causal, float32) it prints the time of one
forward + backward call of ``engine.layers.sequence.MultiHeadSelfAttention`` and of PyTorch's module
(when PyTorch is installed) given the same causal mask, and their ratio. PyTorch is timed twice:
``need_weights=False`` (its fused scaled-dot-product path, what a PyTorch training loop runs) and
``need_weights=True`` (it also returns every head's weights, as the engine always keeps ``A``);
the ratio is against the faster of the two. Last, the training steps per second of the
``transformer-text`` preset's model through ``Trainer.run()``.

The engine and PyTorch run in processes of their own that take turns, one round each, the first
one rotating, with a pause between turns: each library's thread pool spins for a while after a
call and would steal the cores from the other one in the same process (see
``tui/bench/workers.py``). Each figure is the median over the rounds. ``--one-thread`` limits
both to one thread, the comparison a busy machine disturbs least.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tui.bench.workers import THREAD_VARIABLES

SHAPES = ((32, 32, 32, 2), (32, 64, 64, 4), (8, 128, 128, 8))  # n, T, d, heads
PRESET = "transformer-text"


# ------------------------------------------------------------------------------- the steps


def engine_call(n: int, T: int, d: int, heads: int) -> Callable[[], object]:
    """One forward and backward call of the engine's layer on a fixed random batch."""
    from engine.layers.sequence import MultiHeadSelfAttention
    from engine.network import Sequential

    net = Sequential([MultiHeadSelfAttention(d, heads, causal=True)], input_shape=(T, d))
    layer = net.layers[0]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, T, d)).astype(np.float32)
    g = rng.normal(size=(n, T, d)).astype(np.float32)

    def call() -> object:
        layer.forward(x, True)
        return layer.backward(g, True)

    return call


def torch_call(n: int, T: int, d: int, heads: int, weights: bool) -> Callable[[], object]:
    """The same call of ``nn.MultiheadAttention`` (batch first), gradients to x and weights."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.MultiheadAttention(d, heads, batch_first=True)
    x = torch.randn(n, T, d, requires_grad=True)
    g = torch.randn(n, T, d)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T)

    def call() -> object:
        module.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = module(
            x, x, x, attn_mask=mask, is_causal=True, need_weights=weights,
            average_attn_weights=False,
        )  # fmt: skip
        out.backward(g)
        return out

    return call


def preset_step() -> Callable[[], object]:
    """One training step (a mini-batch through ``Trainer.run()``) of the preset's model."""
    from engine.experiment.presets import get_preset

    run = get_preset(PRESET).build()
    data = run.data
    events = run.trainer.run(data.X_train, data.y_train, None, val=(data.X_test, data.y_test))
    step_before = [run.trainer.step]

    def call() -> object:
        while run.trainer.step == step_before[0]:  # epoch ends and evaluations pass through
            next(events)
        step_before[0] = run.trainer.step
        return None

    return call


def calls_for(call: Callable[[], object], seconds: float) -> int:
    """How many calls take about ``seconds`` (at least one)."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds / 8 or n >= 1 << 16:
            return max(1, round(n * seconds / max(elapsed, 1e-9)))
        n *= 4


def seconds_per_call(call: Callable[[], object], count: int) -> float:
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(count):
            call()
        return (time.perf_counter() - t0) / count
    finally:
        gc.enable()


# ------------------------------------------------------------------------------- the worker


def serve(impl: str, seconds: float) -> None:
    """Answers ``round`` lines on stdin with one JSON line of seconds per call per case."""
    if impl == "torch":
        cases = {
            f"{s}/{label}": torch_call(*s, weights=w)
            for s in SHAPES
            for label, w in (("torch", False), ("torch+weights", True))
        }
    else:
        cases = {f"{s}/engine": engine_call(*s) for s in SHAPES}
        cases["preset"] = preset_step()
    counts = {}
    for key, call in cases.items():
        call()  # compile and warm
        counts[key] = calls_for(call, seconds)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() != "round":
            return
        reply = {key: seconds_per_call(call, counts[key]) for key, call in cases.items()}
        print(json.dumps(reply), flush=True)


class Worker:
    """A child process running ``serve`` for one implementation."""

    def __init__(self, impl: str, seconds: float, one_thread: bool) -> None:
        env = dict(os.environ)
        if one_thread:
            env.update({v: "1" for v in THREAD_VARIABLES})
        cmd = [sys.executable, "-m", "tui.bench.attention", "--serve", impl, "--seconds"]
        self.proc = subprocess.Popen(
            [*cmd, str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.read()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.proc.args!r} ended early")
        return json.loads(line)

    def round(self) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------- the parent


def measure(rounds: int, seconds: float, one_thread: bool) -> dict[str, float]:
    """Median seconds per call of every case, the workers taking turns."""
    impls = ["engine", "torch"] if torch_available() else ["engine"]
    workers = [Worker(impl, seconds, one_thread) for impl in impls]
    samples: dict[str, list[float]] = {}
    try:
        for r in range(rounds):
            for w in workers[r % len(workers) :] + workers[: r % len(workers)]:
                time.sleep(0.2)  # idle BLAS/OpenMP threads of the last turn go to sleep
                for key, value in w.round().items():
                    samples.setdefault(key, []).append(value)
    finally:
        for w in workers:
            w.close()
    return {key: statistics.median(values) for key, values in samples.items()}


def report(medians: dict[str, float]) -> str:
    head = f"{'n, T, d, heads':>18} {'engine ms':>10} {'torch ms':>9} {'+weights':>9} {'ratio':>7}"
    lines = ["MHSA forward + backward per call, causal, float32 (ratio: engine / torch)", head]
    for s in SHAPES:
        e = medians[f"{s}/engine"] * 1e3
        row = f"{str(s)[1:-1]:>18} {e:10.3f}"
        if f"{s}/torch" in medians:
            t, tw = medians[f"{s}/torch"] * 1e3, medians[f"{s}/torch+weights"] * 1e3
            row += f" {t:9.3f} {tw:9.3f} {e / min(t, tw):7.2f}"
        lines.append(row)
    lines.append(f"{PRESET} training: {1.0 / medians['preset']:.1f} steps/s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="length of a case's round")
    parser.add_argument("--one-thread", action="store_true", help="limit both to one thread")
    parser.add_argument("--serve", choices=("engine", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.seconds)
        return
    print(report(measure(args.rounds, args.seconds, args.one_thread)))


if __name__ == "__main__":
    main()
