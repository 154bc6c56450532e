"""The same training step written in plain NumPy: the baseline every row is compared with.

Idiomatic array code, as one would write it by hand: ``x @ W.T + b``, the activation's derivative
as an expression, optimiser state updated in place. Each step allocates its temporaries, as such
code does; the engine's step allocates none.
"""

from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = ("relu", "tanh")
LOSSES = ("bce_logits", "cross_entropy")
OPTIMIZERS = ("sgd", "adam")


class NumpyMLP:
    """A Dense/activation stack trained with SGD or Adam, float32 throughout.

    Args:
        weights: (W, b) per layer, W of shape (out, in) — copied.
        activation: ``"relu"`` or ``"tanh"`` between layers.
        loss: ``"bce_logits"`` or ``"cross_entropy"`` (PyTorch's definitions, mean reduction).
        optimizer: ``"sgd"`` (plain) or ``"adam"`` (PyTorch's defaults).
        lr: the learning rate.
    """

    def __init__(
        self,
        weights: list[tuple[np.ndarray, np.ndarray]],
        activation: str,
        loss: str,
        optimizer: str,
        lr: float,
    ) -> None:
        for value, known in ((activation, ACTIVATIONS), (loss, LOSSES), (optimizer, OPTIMIZERS)):
            if value not in known:
                raise ValueError(f"NumpyMLP has no {value!r}; it knows {', '.join(known)}")
        self.params = [p.astype(np.float32) for pair in weights for p in pair]
        self.activation, self.loss, self.optimizer, self.lr = activation, loss, optimizer, lr
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Pre-activations and activations of every layer (activations[0] is x)."""
        zs, acts = [], [x]
        layers = len(self.params) // 2
        for l in range(layers):
            W, b = self.params[2 * l], self.params[2 * l + 1]
            z = acts[-1] @ W.T + b
            zs.append(z)
            if l < layers - 1:
                acts.append(np.maximum(z, 0.0) if self.activation == "relu" else np.tanh(z))
            else:
                acts.append(z)
        return zs, acts

    def loss_and_grad(self, out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The mean loss and ∂L/∂out."""
        n = out.shape[0]
        if self.loss == "cross_entropy":
            shifted = out - out.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            s = e.sum(axis=1, keepdims=True)
            loss = float(np.mean(np.log(s[:, 0]) - shifted[np.arange(n), y]))
            g = e / s
            g[np.arange(n), y] -= 1.0
            return loss, g / n
        loss = float(np.mean(np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out)))))
        return loss, (1.0 / (1.0 + np.exp(-out)) - y) / out.size

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One training step on a batch; returns the loss before the update."""
        zs, acts = self.forward(x)
        loss, g = self.loss_and_grad(acts[-1], y)
        layers = len(zs)
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        for l in range(layers - 1, -1, -1):
            if l < layers - 1:
                g = g * (zs[l] > 0) if self.activation == "relu" else g * (1.0 - acts[l + 1] ** 2)
            grads[2 * l] = g.T @ acts[l]
            grads[2 * l + 1] = g.sum(axis=0)
            if l > 0:
                g = g @ self.params[2 * l]
        self.update(grads)
        return loss

    def update(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        if self.optimizer == "sgd":
            for p, g in zip(self.params, grads):
                p -= self.lr * g
            return
        b1, b2, eps = 0.9, 0.999, 1e-8
        step_size = self.lr / (1 - b1**self.t)
        bc2_sqrt = math.sqrt(1 - b2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p -= step_size * m / (np.sqrt(v) / bc2_sqrt + eps)

    def accuracy(self, x: np.ndarray, labels: np.ndarray) -> float:
        out = self.forward(x)[1][-1]
        return float((out.argmax(axis=1) == labels).mean())
