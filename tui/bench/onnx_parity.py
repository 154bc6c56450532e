"""``python -m tui.bench.onnx_parity``: every preset's network exported to ONNX, run in
onnxruntime and in ``onnx.reference``, and compared with the engine's own forward pass.

Each preset's network is built at its seed and trained a few steps (so the weights are not the
initial ones), then a batch of the preset's test inputs goes through all three. The table gives
the largest |ONNX − engine| per preset. The sets that download (MNIST, Fashion-MNIST) are not
fetched: their networks are built and trained on random images of the same shape.

Needs the ``onnx`` and ``onnxruntime`` packages (``pip install -e ".[onnx]"``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from engine import datasets
from engine.datasets import DataSplit
from engine.datasets.mnist import IMAGE_SHAPE
from engine.experiment.config import Run
from engine.experiment.presets import PRESETS, get_preset
from engine.layers import Embedding
from engine.network import Sequential

STEPS = 4
"""Training steps before the comparison."""
BATCH = 16
"""Test samples compared per preset."""


@dataclass(frozen=True)
class Parity:
    """One preset's comparison: the largest |ONNX − engine| in each runtime."""

    preset: str
    layers: str
    onnxruntime: float
    reference: float
    seconds: float


def stand_in(name: str, n: int = 64, seed: int = 0) -> DataSplit:
    """Random images in place of a downloaded image set (MNIST's shape and ten classes)."""
    rng = np.random.default_rng(seed)
    pixels = int(np.prod(IMAGE_SHAPE))
    return DataSplit(
        X_train=rng.uniform(0.0, 1.0, (n, pixels)),
        y_train=rng.integers(0, 10, n),
        X_test=rng.uniform(0.0, 1.0, (n, pixels)),
        y_test=rng.integers(0, 10, n),
        name=name,
        task="multiclass",
        n_classes=10,
        feature_names=tuple(f"pixel_{i}" for i in range(pixels)),
        image_shape=IMAGE_SHAPE,
        sample_shape=(1, *IMAGE_SHAPE),
    )


def trained_preset(name: str, steps: int = STEPS) -> Run:
    """The preset built at its seed and trained ``steps`` mini-batches, without downloads."""
    exp = get_preset(name)
    record = datasets.lookup(exp.data.name)
    split = stand_in(exp.data.name) if record is not None and record.downloads else None
    run = exp.build(split)
    batch = len(run.data.X_train) if exp.train.batch_size == "full" else int(exp.train.batch_size)
    rows = min(len(run.data.X_train), steps * batch)
    run.trainer.fit(run.data.X_train[:rows], run.data.y_train[:rows], epochs=1)
    return run


def onnx_inputs(net: Sequential, X: np.ndarray) -> np.ndarray:
    """A batch as the exported graph takes it: float32 samples, or int64 token ids."""
    x = np.asarray(net.backend.to_host(net.as_input(X)))
    return x.astype(np.int64) if isinstance(net.layers[0], Embedding) else x.astype(np.float32)


def differences(net: Sequential, X: np.ndarray) -> tuple[float, float]:
    """The largest |ONNX − engine| over the batch ``X``: in onnxruntime, in onnx.reference."""
    import onnxruntime
    from onnx.reference import ReferenceEvaluator

    from engine.interop.onnx import to_onnx

    model = to_onnx(net)
    want = net.forward(X)
    feed = {"input": onnx_inputs(net, X)}
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    runtime = session.run(None, feed)[0]
    (reference,) = ReferenceEvaluator(model).run(None, feed)
    return float(np.abs(runtime - want).max()), float(np.abs(reference - want).max())


def measure(name: str) -> Parity:
    t0 = time.perf_counter()
    run = trained_preset(name)
    ort_diff, ref_diff = differences(run.net, run.data.X_test[:BATCH])
    kinds = dict.fromkeys(layer.type_name for layer in run.net.layers)
    return Parity(name, " ".join(kinds), ort_diff, ref_diff, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.bench.onnx_parity", description=__doc__)
    parser.add_argument("presets", nargs="*", help="the presets to compare (default: all)")
    args = parser.parse_args(argv)
    names = args.presets or list(PRESETS)
    print(f"{'preset':<20} {'onnxruntime':>12} {'reference':>12} {'s':>6}  layers")
    for name in names:
        p = measure(name)
        print(
            f"{p.preset:<20} {p.onnxruntime:12.2e} {p.reference:12.2e} {p.seconds:6.1f}  {p.layers}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
