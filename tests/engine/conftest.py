"""Shared oracle for the engine's gradient tests: central finite differences in float64."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engine import Sequential


def gradient_error(
    net: Sequential, x, y, loss: str, l1: float = 0.0, l2: float = 0.0, eps: float = 1e-6
) -> float:
    """Largest |backward − finite difference| over all parameters, relative to the largest entry."""
    net.loss_and_grad(x, y, loss, l1, l2)
    analytic = net.grad.copy()
    numeric = np.zeros_like(net.data)
    for i in range(net.n_params):
        old = net.data[i]
        net.data[i] = old + eps
        plus = net.loss_and_grad(x, y, loss, l1, l2)
        net.data[i] = old - eps
        minus = net.loss_and_grad(x, y, loss, l1, l2)
        net.data[i] = old
        numeric[i] = (plus - minus) / (2 * eps)
    scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-12)
    return float(np.abs(analytic - numeric).max() / scale)


@pytest.fixture(name="gradient_error")
def gradient_error_fixture() -> Callable[..., float]:
    return gradient_error
