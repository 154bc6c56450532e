"""Dense/activation networks: the engine against the same step in NumPy and in PyTorch.

An :class:`MLP` is the network and how it trains; it builds each implementation's step from the
engine's initial weights, so all three train the same numbers. ``WORKLOADS`` registers the ones
the suite times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import Dense, Sequential
from engine.layers.activations import ReLU, Tanh
from engine.layers.core import Layer
from tui.bench import impl_engine, impl_torch
from tui.bench.impl_numpy import NumpyMLP
from tui.bench.workloads import Step, StepWorkload

ACTIVATIONS = {"relu": ReLU, "tanh": Tanh}  # the ones NumPy's and PyTorch's steps also have


@dataclass(frozen=True)
class MLP:
    """A Dense stack with one activation between its layers, trained on one random batch.

    Attributes:
        widths: units per layer, input first (``(2, 8, 8, 1)``).
        activation: ``"tanh"`` or ``"relu"`` after every hidden layer.
        loss: an engine loss name (``"bce_logits"`` or ``"cross_entropy"``).
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: the learning rate.
        batch: rows per step.
    """

    widths: tuple[int, ...]
    activation: str
    loss: str
    optimizer: str
    lr: float
    batch: int

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

    def engine_net(self, device: str = "cpu", seed: int = 0) -> Sequential:
        """Dense layers with the activation between them (PyTorch's initialisation)."""
        layers: list[Layer] = []
        for i, (fan_in, fan_out) in enumerate(self.layer_pairs()):
            layers.append(Dense(fan_in, fan_out))
            if i < len(self.widths) - 2:
                layers.append(ACTIVATIONS[self.activation]())
        return Sequential(layers, seed=seed, device=device)

    def engine_step(self, device: str = "cpu", net: Sequential | None = None) -> Step:
        net = self.engine_net(device) if net is None else net
        x, y = self.batch_data()
        return impl_engine.make_step(net, x, y, self.loss, self.optimizer, self.lr)

    def initial_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The engine's initial (W, b) per layer."""
        return impl_engine.dense_weights(self.engine_net())

    def numpy_model(self) -> NumpyMLP:
        return NumpyMLP(self.initial_weights(), self.activation, self.loss, self.optimizer, self.lr)

    def numpy_step(self, device: str = "cpu") -> Step:
        """NumPy's step, always on the CPU (``device`` is the engine's)."""
        model = self.numpy_model()
        x, y = self.batch_data()
        return lambda: model.step(x, y)

    def torch_step(self, device: str = "cpu") -> impl_torch.TorchStep:
        model = impl_torch.build_mlp(self.initial_weights(), self.activation, device)
        x, y = self.batch_data()
        return impl_torch.TorchStep(model, x, y, self.loss, self.optimizer, self.lr, device)

    def workload(self, name: str, **targets: object) -> StepWorkload:
        """The suite's record of this network: all three implementations, the product count."""
        return StepWorkload(
            name, self.label, self.engine_step, self.numpy_step, self.torch_step, spec=self,
            matmul_flops=self.matmul_flops(), allocation_free=True, **targets,  # type: ignore[arg-type]
        )  # fmt: skip


WORKLOADS = (
    MLP((2, 8, 8, 1), "tanh", "bce_logits", "sgd", 0.1, 32).workload("toy", torch_target=0.10),
    MLP((784, 256, 128, 10), "relu", "cross_entropy", "adam", 1e-3, 128).workload(
        "mnist-mlp", torch_target=0.50, thread_scaling=True
    ),
    MLP((1024, 1024, 1024, 10), "relu", "cross_entropy", "sgd", 0.01, 256).workload(
        "wide", gemm_target=0.80
    ),
)
