"""Workloads beyond the MLP: a LeNet-style CNN and an LSTM, against PyTorch.

Each builds the engine's network and the same network in PyTorch from the engine's initial
weights (the engine's layers keep PyTorch's parameter layouts, so the weights copy one for one),
and one fixed batch of random data of the workload's shape. There is no NumPy column: writing a
convolution or an LSTM by hand in NumPy would time that code, not a reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import Dense, ReLU, Sequential
from engine.layers.image import Conv2D, Flatten, MaxPool2D
from engine.layers.sequence import LSTM


@dataclass(frozen=True)
class DeepWorkload:
    """A network trained on one fixed batch of random data, step after step.

    Attributes:
        name: the name the table and ``--only`` use.
        label: what the network is, for the notes under the table.
        kind: ``"lenet"`` or ``"lstm"``.
        batch: samples per step.
        loss, optimizer, lr: how it trains.
        target: what the issue asks for, as printed under the table.
    """

    name: str
    label: str
    kind: str
    batch: int
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    lr: float = 1e-3
    target: str = ""
    has_numpy = False

    def engine_net(self, device: str = "cpu", seed: int = 0) -> Sequential:
        """The engine's network (PyTorch's default initialisation, from ``seed``)."""
        if self.kind == "lenet":
            layers = [
                Conv2D(1, 16, 3, padding=1),
                ReLU(),
                MaxPool2D(2),
                Conv2D(16, 32, 3, padding=1),
                ReLU(),
                MaxPool2D(2),
                Flatten(),
                Dense(32 * 7 * 7, 128),
                ReLU(),
                Dense(128, 10),
            ]
            return Sequential(layers, input_shape=(1, 28, 28), seed=seed, device=device)
        layers = [LSTM(SEQ_FEATURES, 128, return_sequences=False), Dense(128, 10)]
        return Sequential(layers, input_shape=(SEQ_LEN, SEQ_FEATURES), seed=seed, device=device)

    def batch_data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Random float32 inputs of the workload's shape (one row per sample) and class labels."""
        rng = np.random.default_rng(seed)
        features = 28 * 28 if self.kind == "lenet" else SEQ_LEN * SEQ_FEATURES
        x = rng.standard_normal((self.batch, features)).astype(np.float32)
        return x, rng.integers(0, 10, self.batch).astype(np.int64)

    def torch_model(self, net: Sequential, device: str = "cpu") -> Any:
        """The same network in PyTorch, holding ``net``'s current weights."""
        import torch
        from torch import nn

        if self.kind == "lenet":
            model: Any = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(32 * 7 * 7, 128),
                nn.ReLU(),
                nn.Linear(128, 10),
            )
        else:
            model = _lstm_module()
        model.load_state_dict(
            {
                theirs: torch.from_numpy(np.array(net.params[ours]))
                for ours, theirs in self.torch_names().items()
            }
        )
        return model.to(device)

    def torch_names(self) -> dict[str, str]:
        """The engine's parameter names → PyTorch's, for the same tensors."""
        if self.kind == "lenet":
            return {
                f"{i}.{p}": f"{i}.{t}"
                for i in (0, 3, 7, 9)
                for p, t in (("W", "weight"), ("b", "bias"))
            }
        return {
            "0.W_ih": "lstm.weight_ih_l0",
            "0.W_hh": "lstm.weight_hh_l0",
            "0.b_ih": "lstm.bias_ih_l0",
            "0.b_hh": "lstm.bias_hh_l0",
            "1.W": "head.weight",
            "1.b": "head.bias",
        }

    def torch_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` shaped as PyTorch's layers want it: images (n, 1, 28, 28), sequences (n, T, d)."""
        if self.kind == "lenet":
            return x.reshape(-1, 1, 28, 28)
        return x.reshape(-1, SEQ_LEN, SEQ_FEATURES)


SEQ_LEN, SEQ_FEATURES = 32, 32


def _lstm_module() -> Any:
    """An LSTM over the sequence, its last hidden state, a linear read-out (torch is optional,
    so the class is made on first use)."""
    from torch import nn

    class LastStateLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(SEQ_FEATURES, 128, batch_first=True)
            self.head = nn.Linear(128, 10)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return LastStateLSTM()


DEEP_WORKLOADS: dict[str, DeepWorkload] = {
    w.name: w
    for w in (
        DeepWorkload(
            "lenet",
            "LeNet-style CNN on 28×28 images: conv 3×3 16, pool, conv 3×3 32, pool, "
            "dense 128, 10; cross-entropy, Adam, batch 64",
            "lenet",
            64,
            target="≤ 1.00 × PyTorch",
        ),
        DeepWorkload(
            "lstm",
            f"LSTM, {SEQ_LEN} steps of {SEQ_FEATURES} features, hidden 128, last state → "
            "dense 10; cross-entropy, Adam, batch 64",
            "lstm",
            64,
            target="≤ 1.00 × PyTorch",
        ),
    )
}
