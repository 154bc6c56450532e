"""Networks and data the derive tests share (a module of its own: ``conftest`` is ambiguous)."""

from __future__ import annotations

import numpy as np

from engine import Dense, Sequential, Sigmoid

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def xor_net(seed: int = 3) -> Sequential:
    """The 2-2-1 sigmoid network of the XOR preset, in float64."""
    return Sequential([Dense(2, 2), Sigmoid(), Dense(2, 1), Sigmoid()], seed=seed, dtype="float64")


def target_for(loss: str, rng: np.random.Generator, n: int, out: int) -> np.ndarray:
    """Targets of the form each loss reads."""
    if loss == "cross_entropy":
        return rng.integers(0, out, n)
    if loss in ("bce", "bce_logits"):
        return rng.integers(0, 2, (n, out)).astype(float)
    return rng.normal(size=(n, out))


def entries(net: Sequential) -> list[str]:
    """Every scalar parameter's name: ``"0.W[0,0]"``, ``"0.W[0,1]"`` …"""
    out = []
    for name, view in net.params.items():
        for index in np.ndindex(view.shape):
            out.append(f"{name}[{','.join(str(i) for i in index)}]")
    return out


def engine_grad(net: Sequential, entry: str) -> float:
    """``net.grads`` at an entry named like ``"2.W[0,1]"``."""
    name, index = entry.split("[")
    idx = tuple(int(i) for i in index.rstrip("]").split(","))
    return float(net.grads[name][idx])
