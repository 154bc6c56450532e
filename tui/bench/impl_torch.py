"""The same training step in PyTorch (eager), when it is installed (the ``bench`` extra).

PyTorch is imported inside the functions only: the suite runs without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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


def build_mlp(weights: list[tuple[np.ndarray, np.ndarray]], activation: str, device: str) -> Any:
    """``nn.Sequential`` of Linear layers (starting from ``weights``) and the activation."""
    import torch
    from torch import nn

    modules = {"relu": nn.ReLU, "tanh": nn.Tanh}
    if activation not in modules:
        raise ValueError(f"no PyTorch module for {activation!r}; known: {', '.join(modules)}")
    layers: list[Any] = []
    for i, (W, b) in enumerate(weights):
        lin = nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W, dtype=np.float32)))
            lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(modules[activation]())
    return nn.Sequential(*layers).to(device)


def make_optimizer(model: Any, name: str, lr: float) -> Any:
    """``torch.optim.Adam`` or plain ``SGD`` over the model's parameters."""
    import torch

    optimizers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    if name not in optimizers:
        raise ValueError(f"no PyTorch optimiser for {name!r}; known: {', '.join(optimizers)}")
    return optimizers[name](model.parameters(), lr=lr)


def loss_function(name: str) -> Any:
    """PyTorch's loss module for an engine loss name (mean reduction, as the engine's)."""
    from torch import nn

    losses = {"cross_entropy": nn.CrossEntropyLoss, "bce_logits": nn.BCEWithLogitsLoss}
    if name not in losses:
        raise ValueError(f"no PyTorch loss for {name!r}; known: {', '.join(losses)}")
    return losses[name]()


class TorchStep:
    """One training step on a fixed batch, called as ``step()``; returns the loss.

    zero_grad, forward, loss, backward, ``opt.step()``, and ``loss.item()`` — the loss back on
    the host, as the engine's step returns it (on a GPU this also waits for the step to end).
    """

    def __init__(
        self,
        model: Any,
        x: np.ndarray,
        y: np.ndarray,
        loss: str,
        optimizer: str,
        lr: float,
        device: str = "cpu",
    ) -> None:
        import torch

        self.model = model
        self.opt = make_optimizer(self.model, optimizer, lr)
        self.loss_fn = loss_function(loss)
        self.x = torch.from_numpy(np.ascontiguousarray(x)).to(device)
        self.y = torch.from_numpy(y).to(device)

    def __call__(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return float(loss.item())
