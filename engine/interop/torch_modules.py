"""The few ``torch.nn`` modules that ``to_torch`` needs beyond PyTorch's own.

Each subclasses the PyTorch module that holds the same tensors, so a state dict keeps PyTorch's
usual names (``weight_ih_l0``, ``in_proj_weight`` …), and only changes how it is called: one
tensor in, one tensor out, as ``nn.Sequential`` passes them on. Importing this module imports
PyTorch; ``engine.interop.torch`` does so only when a conversion is asked for.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Residual(nn.Sequential):
    """y = x + f(x), f the modules inside (numbered as in ``nn.Sequential``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


class Step(nn.Module):
    """The perceptron's step H(z) = 1 if z > 0 else 0; PyTorch has no module for it.

    Forward only, as in the engine: its gradient is zero wherever it exists.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)


class Embedding(nn.Embedding):
    """``nn.Embedding`` that also takes token ids in a float tensor (as data sets hold them)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.long())


class _Recurrent:
    """Output of every step (n, T, H), or with ``return_sequences`` False only the last (n, H)."""

    return_sequences = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)[0]  # type: ignore[misc]
        return out if self.return_sequences else out[:, -1]


class RNN(_Recurrent, nn.RNN):  # type: ignore[misc]
    """``nn.RNN(batch_first=True)`` (tanh) that returns its output alone."""


class LSTM(_Recurrent, nn.LSTM):  # type: ignore[misc]
    """``nn.LSTM(batch_first=True)`` that returns its output alone."""


class GRU(_Recurrent, nn.GRU):  # type: ignore[misc]
    """``nn.GRU(batch_first=True)`` that returns its output alone."""


class PositionalEncoding(nn.Module):
    """Adds a position code: row t of ``table`` (max_len, d; any array) to step t of each sequence.

    ``to_torch`` passes the engine layer's own sinusoidal table, so both add the same numbers.
    It is a buffer left out of the state dict: it is computed, not learnt.
    """

    table: torch.Tensor

    def __init__(self, table: Any) -> None:
        super().__init__()
        code = torch.as_tensor(table, dtype=torch.float64).clone()
        self.max_len, self.d = int(code.shape[0]), int(code.shape[1])
        self.register_buffer("table", code, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[1]].to(x.dtype)


class SelfAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention(batch_first=True)`` called as self-attention on one input.

    ``causal``: position t attends to positions ≤ t only (a boolean upper-triangular mask).
    """

    def __init__(self, d: int, heads: int, causal: bool = False) -> None:
        super().__init__(d, heads, batch_first=True)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        T = x.shape[1]
        mask = None
        if self.causal:
            mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), 1)
        return super().forward(x, x, x, need_weights=False, attn_mask=mask)[0]
