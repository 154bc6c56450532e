"""Workloads beyond the MLP: a LeNet-style CNN, an LSTM and a small transformer, against PyTorch.

Each is a :class:`DeepNet`: the engine's layers, the same network as a PyTorch module, and the map
between their parameter names (the engine's layers keep PyTorch's parameter layouts, so the
weights copy one for one). Both train from the engine's initial weights on one fixed batch of
random data of the network's input shape. There is no NumPy column: writing a convolution or an
LSTM by hand in NumPy would time that code, not a reference. ``WORKLOADS`` registers them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import Dense, Sequential
from engine.layers.activations import ReLU
from engine.layers.blocks import transformer_block
from engine.layers.image import Conv2D, Flatten, LayerNorm, MaxPool2D
from engine.layers.sequence import LSTM, Embedding, PositionalEncoding
from tui.bench import impl_engine, impl_torch
from tui.bench.workloads import Step, StepWorkload


@dataclass(frozen=True)
class DeepNet:
    """A network both the engine and PyTorch build, trained on one random batch.

    Attributes:
        input_shape: one sample's shape, as both networks take it (images (1, 28, 28),
            sequences (T, d)); the batch holds one flat row per sample.
        engine_layers: makes the engine's layers.
        torch_module: makes the same network as an ``nn.Module`` (PyTorch imported inside).
        torch_names: the engine's parameter names → PyTorch's, for the same tensors.
        classes: output classes (the targets are random labels).
        tokens: with a vocabulary of this size, the inputs are random token ids (n, T) and the
            target at every position is the next token of the same random text (classes is
            then the vocabulary too); 0: float inputs, one label per sample.
        batch: samples per step.
        loss, optimizer, lr: how it trains.
    """

    input_shape: tuple[int, ...]
    engine_layers: Callable[[], list[Any]]
    torch_module: Callable[[], Any]
    torch_names: dict[str, str]
    classes: int = 10
    batch: int = 64
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    lr: float = 1e-3
    tokens: int = 0

    def engine_net(self, device: str = "cpu", seed: int = 0) -> Sequential:
        """The engine's network (PyTorch's default initialisation, from ``seed``)."""
        layers = self.engine_layers()
        return Sequential(layers, input_shape=self.input_shape, seed=seed, device=device)

    def batch_data(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Random float32 inputs (one flat row per sample) and class labels; with ``tokens``,
        token ids (as float32, what the engine's input holds) and the next token at each place."""
        rng = np.random.default_rng(seed)
        if self.tokens:
            text = rng.integers(0, self.tokens, (self.batch, self.input_shape[0] + 1))
            return text[:, :-1].astype(np.float32), text[:, 1:].reshape(-1).astype(np.int64)
        features = math.prod(self.input_shape)
        x = rng.standard_normal((self.batch, features)).astype(np.float32)
        return x, rng.integers(0, self.classes, self.batch).astype(np.int64)

    def engine_step(self, device: str = "cpu", net: Sequential | None = None) -> Step:
        net = self.engine_net(device) if net is None else net
        x, y = self.batch_data()
        return impl_engine.make_step(net, x, y, self.loss, self.optimizer, self.lr)

    def torch_model(self, net: Sequential, device: str = "cpu") -> Any:
        """The same network in PyTorch, holding ``net``'s current weights."""
        import torch

        model = self.torch_module()
        model.load_state_dict(
            {
                theirs: torch.from_numpy(np.array(net.params[ours]))
                for ours, theirs in self.torch_names.items()
            }
        )
        return model.to(device)

    def torch_step(self, device: str = "cpu") -> impl_torch.TorchStep:
        """A ``TorchStep`` from the engine's initial weights; ``x`` shaped as its layers want."""
        model = self.torch_model(self.engine_net(), device)
        x, y = self.batch_data()
        x = x.reshape(-1, *self.input_shape)
        if self.tokens:
            x = x.astype(np.int64)
        return impl_torch.TorchStep(model, x, y, self.loss, self.optimizer, self.lr, device)

    def workload(self, name: str, label: str, torch_target: float) -> StepWorkload:
        """The suite's record: the engine and PyTorch (its layers' caches make memory noisier,
        so the probe watches fewer steps)."""
        return StepWorkload(
            name, label, self.engine_step, pytorch=self.torch_step, spec=self,
            torch_target=torch_target, memory_steps=10,
        )  # fmt: skip


# ------------------------------------------------------------------------------- LeNet


def _lenet_layers() -> list[Any]:
    return [
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


def _lenet_torch() -> Any:
    from torch import nn

    return nn.Sequential(
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


LENET = DeepNet(
    (1, 28, 28),
    _lenet_layers,
    _lenet_torch,
    {f"{i}.{p}": f"{i}.{t}" for i in (0, 3, 7, 9) for p, t in (("W", "weight"), ("b", "bias"))},
)


# ------------------------------------------------------------------------------- LSTM

SEQ_LEN, SEQ_FEATURES, HIDDEN = 32, 32, 128


def _lstm_layers() -> list[Any]:
    return [LSTM(SEQ_FEATURES, HIDDEN, return_sequences=False), Dense(HIDDEN, 10)]


def _lstm_torch() -> Any:
    """An LSTM over the sequence, its last hidden state, a linear read-out (torch is optional,
    so the class is made on first use)."""
    from torch import nn

    class LastStateLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(SEQ_FEATURES, HIDDEN, batch_first=True)
            self.head = nn.Linear(HIDDEN, 10)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return LastStateLSTM()


LSTM_NET = DeepNet(
    (SEQ_LEN, SEQ_FEATURES),
    _lstm_layers,
    _lstm_torch,
    {
        "0.W_ih": "lstm.weight_ih_l0",
        "0.W_hh": "lstm.weight_hh_l0",
        "0.b_ih": "lstm.bias_ih_l0",
        "0.b_hh": "lstm.bias_hh_l0",
        "1.W": "head.weight",
        "1.b": "head.bias",
    },
)


# ------------------------------------------------------------------------------- transformer

TEXT_LEN, VOCAB, D_MODEL, HEADS, FFN, BLOCKS = 64, 64, 64, 4, 256, 2


def _transformer_layers() -> list[Any]:
    layers: list[Any] = [Embedding(VOCAB, D_MODEL), PositionalEncoding(D_MODEL)]
    for _ in range(BLOCKS):
        layers += transformer_block(D_MODEL, HEADS, FFN, causal=True)
    return [*layers, LayerNorm(D_MODEL), Dense(D_MODEL, VOCAB)]


def _transformer_torch() -> Any:
    """The same network from PyTorch's modules: ``nn.TransformerEncoderLayer(norm_first=True)``
    blocks without dropout under a causal mask; the logits of every position in one row each,
    as the loss takes them."""
    import torch
    from torch import nn

    class TinyTransformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(VOCAB, D_MODEL)
            table = PositionalEncoding(D_MODEL).table[:TEXT_LEN]
            self.register_buffer("positions", torch.from_numpy(table.astype(np.float32)), False)
            self.register_buffer(
                "mask", nn.Transformer.generate_square_subsequent_mask(TEXT_LEN), False
            )
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(
                    D_MODEL, HEADS, FFN, dropout=0.0, batch_first=True, norm_first=True
                )
                for _ in range(BLOCKS)
            )
            self.norm = nn.LayerNorm(D_MODEL)
            self.head = nn.Linear(D_MODEL, VOCAB)

        def forward(self, x: Any) -> Any:
            h = self.embed(x) + self.positions
            for block in self.blocks:
                h = block(h, src_mask=self.mask, is_causal=True)
            return self.head(self.norm(h)).reshape(-1, VOCAB)

    return TinyTransformer()


def _transformer_names() -> dict[str, str]:
    names = {"0.W": "embed.weight"}
    block = {
        "0.gamma": "norm1.weight", "0.beta": "norm1.bias",
        "1.W_in": "self_attn.in_proj_weight", "1.b_in": "self_attn.in_proj_bias",
        "1.W_out": "self_attn.out_proj.weight", "1.b_out": "self_attn.out_proj.bias",
    }  # fmt: skip
    ffn = {
        "0.gamma": "norm2.weight", "0.beta": "norm2.bias",
        "1.W": "linear1.weight", "1.b": "linear1.bias",
        "3.W": "linear2.weight", "3.b": "linear2.bias",
    }  # fmt: skip
    for b in range(BLOCKS):
        for part, table in ((0, block), (1, ffn)):
            for ours, theirs in table.items():
                names[f"{2 + 2 * b + part}.{ours}"] = f"blocks.{b}.{theirs}"
    last = 2 + 2 * BLOCKS
    names.update({f"{last}.gamma": "norm.weight", f"{last}.beta": "norm.bias"})
    names.update({f"{last + 1}.W": "head.weight", f"{last + 1}.b": "head.bias"})
    return names


TRANSFORMER_NET = DeepNet(
    (TEXT_LEN,),
    _transformer_layers,
    _transformer_torch,
    _transformer_names(),
    classes=VOCAB,
    batch=32,
    tokens=VOCAB,
)


WORKLOADS = (
    LENET.workload(
        "lenet",
        "LeNet-style CNN on 28×28 images: conv 3×3 16, pool, conv 3×3 32, pool, "
        "dense 128, 10; cross-entropy, Adam, batch 64",
        torch_target=0.80,
    ),
    LSTM_NET.workload(
        "lstm",
        f"LSTM, {SEQ_LEN} steps of {SEQ_FEATURES} features, hidden {HIDDEN}, last state → "
        "dense 10; cross-entropy, Adam, batch 64",
        torch_target=0.80,
    ),
    TRANSFORMER_NET.workload(
        "transformer",
        f"causal transformer on {TEXT_LEN} tokens of {VOCAB}: embedding, positions, {BLOCKS} "
        f"pre-norm blocks (d {D_MODEL}, {HEADS} heads, FFN {FFN}), next token at every place; "
        "cross-entropy, Adam, batch 32",
        torch_target=1.0,
    ),
)
