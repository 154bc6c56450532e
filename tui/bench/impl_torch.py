"""The same training step in PyTorch (eager), when it is installed (the ``bench`` extra)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tui.bench.deep import DeepWorkload
from tui.bench.workloads import Workload


def available() -> str | None:
    """PyTorch's version, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.__version__)


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def build_model(weights: list[tuple[np.ndarray, np.ndarray]], activation: str, device: str) -> Any:
    """``nn.Sequential`` of Linear layers (starting from ``weights``) and the activation."""
    import torch
    from torch import nn

    layers: list[Any] = []
    for i, (W, b) in enumerate(weights):
        lin = nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W, dtype=np.float32)))
            lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(nn.ReLU() if activation == "relu" else nn.Tanh())
    return nn.Sequential(*layers).to(device)


def make_optimizer(model: Any, name: str, lr: float) -> Any:
    import torch

    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    return torch.optim.SGD(model.parameters(), lr=lr)


def loss_function(name: str) -> Any:
    from torch import nn

    return nn.CrossEntropyLoss() if name == "cross_entropy" else nn.BCEWithLogitsLoss()


class TorchStep:
    """One training step on a fixed batch, called as ``step()``; returns the loss.

    zero_grad, forward, loss, backward, ``opt.step()``, and ``loss.item()`` — the loss back on
    the host, as the engine's step returns it (on a GPU this also waits for the step to end).
    """

    def __init__(
        self, model: Any, w: Any, x: np.ndarray, y: np.ndarray, device: str = "cpu"
    ) -> None:
        import torch

        self.model = model
        self.opt = make_optimizer(self.model, w.optimizer, w.lr)
        self.loss_fn = loss_function(w.loss)
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        self.y = torch.from_numpy(y).to(device)

    def __call__(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return float(loss.item())


def make_step(
    w: Workload, weights: list[tuple[np.ndarray, np.ndarray]], device: str = "cpu"
) -> TorchStep:
    """A ``TorchStep`` for an MLP workload, starting from ``weights``."""
    x, y = w.batch_data()
    return TorchStep(build_model(weights, w.activation, device), w, x, y, device)


def deep_step(w: DeepWorkload, device: str = "cpu") -> TorchStep:
    """A ``TorchStep`` for a CNN or LSTM workload, from the engine's initial weights."""
    model = w.torch_model(w.engine_net(), device)
    x, y = w.batch_data()
    return TorchStep(model, w, w.torch_input(x), y, device)


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return str(torch.cuda.get_device_name(0))
    return "cpu"


def threads() -> int:
    import torch

    return int(torch.get_num_threads())
