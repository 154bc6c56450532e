"""The update step: the derivation's new θ is what the engine's optimiser writes."""

from __future__ import annotations

import numpy as np
import pytest
from derive_helpers import XOR_X, XOR_Y, xor_net

from derive import derive
from engine import optim

VARIANTS = {
    "sgd_wd": lambda net: optim.SGD(net, lr=0.5, weight_decay=0.01),
    "momentum": lambda net: optim.SGD(net, lr=0.5, momentum=0.9),
    "dampening": lambda net: optim.SGD(net, lr=0.5, momentum=0.9, dampening=0.3),
    "nesterov": lambda net: optim.SGD(net, lr=0.5, momentum=0.9, nesterov=True),
    "adam_wd": lambda net: optim.Adam(net, lr=0.05, weight_decay=0.1),
    "adamw": lambda net: optim.AdamW(net, lr=0.05, weight_decay=0.1),
    "rmsprop_centred": lambda net: optim.RMSprop(net, lr=0.01, centered=True, momentum=0.5),
    "adagrad": lambda net: optim.Adagrad(net, lr=0.1, lr_decay=0.01, weight_decay=0.01),
    "nadam_wd": lambda net: optim.NAdam(net, lr=0.05, weight_decay=0.01),
}
"""The branches of the rules (momentum, decay, centring …); every registered optimiser is also
derived with its defaults, below."""
OPTIMISERS = {
    **{
        name: (lambda net, name=name: optim.create(name, net, lr=0.05)) for name in optim.OPTIMIZERS
    },
    **VARIANTS,
}


def test_an_optimiser_that_cannot_write_its_rule_is_refused() -> None:
    class Silent(optim.SGD):
        def derivation(self, S: object) -> None:
            raise NotImplementedError

    net = xor_net()
    with pytest.raises(NotImplementedError):
        derive(net, XOR_X, XOR_Y, "mse", "0.W[0,0]", optimizer=Silent(net, lr=0.1))


@pytest.mark.parametrize("name", list(OPTIMISERS))
@pytest.mark.parametrize("steps_before", [0, 3])
def test_new_value_is_the_engines(name: str, steps_before: int) -> None:
    net = xor_net()
    opt = OPTIMISERS[name](net)
    for _ in range(steps_before):
        net.loss_and_grad(XOR_X, XOR_Y, "mse", 0.0, 0.01)
        opt.step()
    d = derive(net, XOR_X, XOR_Y, "mse", "0.W[1,0]", l2=0.01, optimizer=opt)
    update = d.part("update")
    assert update[0].label == "θₜ₋₁" and update[-1].label == "θₜ"
    net.loss_and_grad(XOR_X, XOR_Y, "mse", 0.0, 0.01)
    opt.step()
    assert update[-1].value == pytest.approx(float(net.params["0.W"][1, 0]), abs=1e-14)


def test_adam_shows_its_state_and_bias_corrections() -> None:
    net = xor_net()
    opt = optim.Adam(net, lr=0.05)
    for _ in range(2):
        net.loss_and_grad(XOR_X, XOR_Y, "mse")
        opt.step()
    d = derive(net, XOR_X, XOR_Y, "mse", "2.b[0]", optimizer=opt)
    labels = [s.label for s in d.part("update")]
    assert labels == ["θₜ₋₁", "gₜ", "mₜ", "vₜ", "m̂ₜ", "v̂ₜ", "θₜ"]
    m_prev = float(opt.state["exp_avg"][net.n_params - 1])
    assert f"{m_prev:.4g}" in str(d.to_text()) and "t = 3" in d.part("update")[1].rule.text


def test_without_an_optimiser_plain_gradient_descent_is_shown() -> None:
    net = xor_net()
    d = derive(net, XOR_X[3], XOR_Y[3], "mse", "0.W[0,0]", lr=0.1)
    theta = float(net.params["0.W"][0, 0])
    assert d.part("update")[-1].value == pytest.approx(theta - 0.1 * d.value, abs=1e-15)
    assert "η = 0.1" in d.part("update")[1].rule.text


def test_the_momentum_buffer_starts_from_the_gradient() -> None:
    net = xor_net()
    opt = optim.SGD(net, lr=0.5, momentum=0.9)
    d = derive(net, XOR_X, XOR_Y, "mse", "0.W[0,0]", optimizer=opt)
    buffer = next(s for s in d.part("update") if s.label == "bₜ")
    assert buffer.value == pytest.approx(d.value, abs=1e-15)
    assert np.all(opt.state["momentum_buffer"] == 0)  # nothing was changed
