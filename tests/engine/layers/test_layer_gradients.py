"""Every registered layer type's backward pass against central finite differences (float64).

Generated from the registry: a new layer type is checked here once ``layer_cases`` has a network
for it (a type without one fails), a new activation without anything added. A layer that has no
gradient (the step) must refuse backpropagation with a UserError instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from layer_cases import case_for, layer_types, walk

from engine import Sequential
from engine.errors import UserError
from engine.layers import ACTIVATION_LAYERS, LAYER_TYPES
from engine.layers.activations import Activation


def has_gradient(type_name: str) -> bool:
    cls = LAYER_TYPES[type_name]
    return not issubclass(cls, Activation) or cls(None).definition.differentiable


def same_draws(net: Sequential) -> None:
    """Makes every ``loss_and_grad`` of ``net`` start from the same random state, so that
    dropout draws the same mask in each of the finite-difference passes."""
    rng = net.layers[0].rng
    start = rng.bit_generator.state
    run = net.loss_and_grad

    def repeat(*args: Any, **kw: Any) -> float:
        rng.bit_generator.state = start
        return run(*args, **kw)

    net.loss_and_grad = repeat  # type: ignore[method-assign]


@pytest.mark.parametrize("type_name", [t for t in layer_types() if has_gradient(t)])
def test_backward_matches_finite_differences(
    type_name: str, gradient_error: Callable[..., float]
) -> None:
    case = case_for(type_name)
    net = Sequential(case.layers(), seed=1, dtype="float64", input_shape=case.input_shape)
    assert type_name in {layer.type_name for layer in walk(net.layers)}
    rng = np.random.default_rng(0)
    x = case.inputs(rng)
    same_draws(net)
    y = rng.normal(size=(x.shape[0], *net.output_shape))
    assert gradient_error(net, x, y, "mse") < 1e-6


@pytest.mark.parametrize("type_name", [t for t in layer_types() if not has_gradient(t)])
def test_a_layer_without_a_gradient_refuses_backpropagation(type_name: str) -> None:
    case = case_for(type_name)
    net = Sequential(case.layers(), seed=1, dtype="float64", input_shape=case.input_shape)
    x = case.inputs(np.random.default_rng(0))
    assert np.isfinite(net.forward(x)).all()  # it still runs forward
    with pytest.raises(UserError, match=type_name):
        net.loss_and_grad(x, np.zeros((x.shape[0], *net.output_shape)), "mse")


def test_every_activation_is_a_registered_layer_and_the_step_has_no_gradient() -> None:
    """So the tests generated from the registry cover every activation of the config."""
    for name, cls in ACTIVATION_LAYERS.items():
        assert LAYER_TYPES[cls.type_name] is cls, name
    assert not has_gradient(ACTIVATION_LAYERS["step"].type_name)
    assert sum(has_gradient(cls.type_name) for cls in ACTIVATION_LAYERS.values()) >= 6
