"""The reference workloads: networks, losses, optimisers and batches, with their targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Workload:
    """A network trained on one fixed batch of random data, step after step.

    Attributes:
        name: the name the table and ``--only`` use.
        widths: units per layer, input first (``(2, 8, 8, 1)``).
        activation: ``"tanh"`` or ``"relu"`` after every hidden layer.
        loss: an engine loss name (``"bce_logits"`` or ``"cross_entropy"``).
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: the learning rate.
        batch: rows per step.
        target: what the issue asks for, as printed under the table.
    """

    name: str
    widths: tuple[int, ...]
    activation: str
    loss: str
    optimizer: str
    lr: float
    batch: int
    target: str = ""

    @property
    def label(self) -> str:
        shape = "-".join(str(w) for w in self.widths)
        return f"{shape} {self.activation}, {self.loss}, batch {self.batch}, {self.optimizer}"

    def layer_pairs(self) -> list[tuple[int, int]]:
        return list(zip(self.widths[:-1], self.widths[1:]))

    def matmul_flops(self) -> float:
        """Floating-point operations of the matrix products in one step (2 per multiply-add).

        Forward ``x Wᵀ`` and backward ``δᵀ x`` for every layer, ``δ W`` for all but the first.
        """
        pairs = self.layer_pairs()
        macs = sum(i * o for i, o in pairs)
        return 2.0 * self.batch * (2 * macs + macs - pairs[0][0] * pairs[0][1])

    def batch_data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A float32 input batch and its targets (class labels, or 0/1 columns for BCE)."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.batch, self.widths[0])).astype(np.float32)
        if self.loss == "cross_entropy":
            y = rng.integers(0, self.widths[-1], self.batch).astype(np.int64)
        else:
            y = (rng.random((self.batch, self.widths[-1])) < 0.5).astype(np.float32)
        return x, y


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("toy", (2, 8, 8, 1), "tanh", "bce_logits", "sgd", 0.1, 32, "≤ 0.10 × PyTorch"),
        Workload(
            "mnist-mlp",
            (784, 256, 128, 10),
            "relu",
            "cross_entropy",
            "adam",
            1e-3,
            128,
            "≤ 0.50 × PyTorch",
        ),
        Workload(
            "wide",
            (1024, 1024, 1024, 10),
            "relu",
            "cross_entropy",
            "sgd",
            0.01,
            256,
            "≥ 70 % of NumPy's GEMM FLOP/s",
        ),
    )
}
GEMM_SIZE = 2048  # NumPy's "large matrix product": float32, square


def gemm_step() -> Callable[[], object]:
    """One float32 GEMM of GEMM_SIZE² matrices with NumPy (2·GEMM_SIZE³ FLOP)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32)
    B = rng.standard_normal((GEMM_SIZE, GEMM_SIZE)).astype(np.float32)
    C = np.empty_like(A)
    return lambda: np.dot(A, B, out=C)


DIGITS = "digits-fit"
DEEP = ("lenet", "lstm")  # a CNN and an LSTM: tui.bench.deep
NAMES = (*WORKLOADS, *DEEP, DIGITS)
