"""The truth table of XOR: four points, the problem that needs a hidden layer.

A single layer cannot separate (0,1),(1,0) from (0,0),(1,1) — the result that stalled
perceptrons in 1969 — while a 2-2-1 network can. With four points there is nothing to hold out,
so the test part is the same table.
"""

from __future__ import annotations

import numpy as np

from engine.datasets.registry import DataSet, register
from engine.datasets.split import DataSplit

TABLE = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def load_xor_gate() -> DataSplit:
    """The four rows of XOR's truth table, as both the training and the test part."""
    y = np.logical_xor(TABLE[:, 0], TABLE[:, 1]).astype(np.float64).reshape(-1, 1)
    return DataSplit(
        X_train=TABLE.copy(),
        y_train=y.copy(),
        X_test=TABLE.copy(),
        y_test=y.copy(),
        name="xor-gate",
        task="binary",
        n_classes=2,
        feature_names=("x1", "x2"),
        class_names=("0", "1"),
    )


register(
    DataSet(
        "xor-gate",
        load_xor_gate,
        task="binary",
        description="XOR's truth table: four points, the classic that needs a hidden layer",
    )
)
