"""Wide layers on a weight's paths: one unit written out, then every unit in one step.

The oracles: the engine's float64 backward (the gradient), the unit-by-unit derivation of
before (each unit's value by SymPy, for every entry of a wide step), and a wide step whose array
disagrees with the unit written out above it stops the derivation.
"""

from __future__ import annotations

import numpy as np
import pytest
from derive_helpers import engine_grad, target_for

from derive import derive, verify_report
from derive import steps as steps_module
from derive.activations import differentiable
from derive.notation import sym
from derive.rules import rule
from derive.stack import wide
from derive.steps import StepSpec, evaluate
from engine import Dense, Dropout, ReLU, Sequential, Sigmoid, Tanh
from engine.activations import ACTIVATIONS
from engine.layers.activations import ACTIVATION_LAYERS, activation_layer

LOSSES = ["mse", "huber", "bce", "bce_logits", "cross_entropy"]


def _mnist_shaped() -> tuple[Sequential, np.ndarray, np.ndarray]:
    """784-256-128-10 with ReLU, as the mnist preset builds it, and one image-shaped sample."""
    layers = [Dense(784, 256), ReLU(), Dense(256, 128), ReLU(), Dense(128, 10)]
    net = Sequential(layers, seed=0, dtype="float64")
    rng = np.random.default_rng(0)
    return net, rng.random((1, 784)), np.array([3])


@pytest.fixture(scope="module")
def mnist() -> tuple[Sequential, np.ndarray, np.ndarray]:
    net, x, y = _mnist_shaped()
    net.loss_and_grad(x, y, "cross_entropy")
    return net, x, y


@pytest.mark.parametrize("entry", ["0.W[0,0]", "0.W[17,400]", "0.b[5]", "2.W[3,9]", "4.W[7,2]"])
def test_mnist_shaped_network_gives_the_engines_gradient(mnist, entry: str) -> None:
    net, x, y = mnist
    d = derive(net, x, y, "cross_entropy", entry)
    assert d.value == pytest.approx(engine_grad(net, entry), rel=1e-12, abs=1e-15)
    assert len(d.steps) < 40  # the 256- and 128-unit layers are one step each, not one per unit


def test_mnist_shaped_network_passes_verify(mnist) -> None:
    net, x, y = mnist
    assert verify_report(net, x, y, "cross_entropy").passed()


def test_mnist_shaped_derivation_reads_as_a_chain(mnist) -> None:
    net, x, y = mnist
    d = derive(net, x, y, "cross_entropy", "0.W[0,0]")
    text = d.to_text()
    labels = [s.label for s in d.steps]
    # the parameter's own unit is written out, and the chain ends in δ¹₀·x₀
    assert "z¹₀ = Σₖ W¹₀,ₖ·xₖ + b¹₀" in text
    assert "∂L/∂W¹₀,₀ = δ¹₀·x₀" in text
    # each wide layer: its first unit in full, then the formula for any unit i with all values
    for first, any_unit in [
        ("z²₀", "z²ᵢ"),
        ("a²₀", "a²ᵢ"),
        ("ŷ₃", "ŷᵢ"),  # the outputs: the label's unit (3), which the loss reads
        ("δ³₃", "δ³ᵢ"),
        ("∂L/∂a²₀", "∂L/∂a²ᵢ"),
        ("ReLU′(z²₀)", "ReLU′(z²ᵢ)"),
        ("δ²₀", "δ²ᵢ"),
    ]:
        assert labels.index(any_unit) == labels.index(first) + 1
    assert labels.index("L") == labels.index("ŷᵢ") + 1
    assert "δ³₃ = ŷ₃ - y₃" in text and next(s for s in d.steps if s.label == "δ³₃").value < 0
    assert "z²ᵢ = Σₖ W²ᵢ,ₖ·a¹ₖ + b²ᵢ" in text
    assert "δ²ᵢ = ∂L/∂a²ᵢ·ReLU′(z²ᵢ)" in text
    assert "∂L/∂a²ᵢ = Σᵣ W³ᵣ,ᵢ·δ³ᵣ" in text
    assert "(128 values)" in text and "(10 values)" in text
    assert "here for all 128 units i at once" in text
    # the one unit of layer 1 on the paths reads the 128 δ² of the wide step
    back = next(s for s in d.steps if s.label == "∂L/∂a¹₀")
    assert "Σᵣ W²ᵣ,₀·δ²ᵣ" in d.to_text().split("∂L/∂a¹₀ = ")[1]
    delta2 = next(s for s in d.steps if s.label == "δ²ᵢ").value
    assert back.value == pytest.approx(float(net.params["2.W"][:, 0] @ delta2), rel=1e-12)
    for fmt in ("unicode", "latex", "markdown"):
        assert "128" in d.render(fmt)


def _unit_by_unit(monkeypatch: pytest.MonkeyPatch, *args, **kwargs):
    """The derivation as it was before wide layers: every unit its own step, summed by SymPy."""
    with monkeypatch.context() as m:
        m.setattr(wide, "WIDE", 10**9)
        m.setattr(steps_module, "_long", lambda expr: False)
        return derive(*args, **kwargs)


@pytest.mark.parametrize("loss", LOSSES)
def test_every_entry_of_a_wide_step_is_its_units_sympy_value(
    monkeypatch: pytest.MonkeyPatch, loss: str
) -> None:
    out = 10  # wide outputs: ŷ (softmax, σ) and ∂L/∂ŷ in one step each
    layers = [Dense(11, 9), Tanh(), Dense(9, 12), Sigmoid(), Dropout(0.3), Dense(12, out)]
    if loss == "bce":
        layers.append(Sigmoid())
    net = Sequential(layers, seed=1, dtype="float64")
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 11)), target_for(loss, rng, 3, out)
    net.loss_and_grad(x, y, loss)  # a dropout mask for this batch
    for entry in ("0.W[2,5]", "2.b[4]"):
        d = derive(net, x, y, loss, entry, sample=1)
        old = _unit_by_unit(monkeypatch, net, x, y, loss, entry, sample=1)
        assert d.value == pytest.approx(engine_grad(net, entry), rel=1e-12, abs=1e-15)
        assert d.value == pytest.approx(old.value, rel=1e-12, abs=1e-15)
        units = {s.label: float(s.value) for s in old.steps if np.ndim(s.value) == 0}
        wide_steps = [s for s in d.steps if "ᵢ" in s.label]
        assert wide_steps
        for step in wide_steps:
            values = np.ravel(step.value)
            for m, v in enumerate(values):
                label = step.label.replace(
                    "ᵢ", str(m).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))
                )
                assert v == pytest.approx(units[label], rel=1e-12, abs=1e-15), label


@pytest.mark.parametrize("name", [n for n in ACTIVATION_LAYERS if differentiable(n)])
def test_every_activation_in_a_wide_layer(name: str) -> None:
    alpha = 0.2 if ACTIVATIONS[name].alpha is not None else None
    layers = [
        Dense(4, 10),
        activation_layer(name, alpha),
        Dense(10, 9),
        activation_layer(name, alpha),
    ]
    net = Sequential([*layers, Dense(9, 2)], seed=3, dtype="float64")
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2, 4)), rng.normal(size=(2, 2))
    net.loss_and_grad(x, y, "mse")
    for entry in ("0.W[0,1]", "2.W[4,3]"):  # the 9-unit layer: wide below it, not above
        d = derive(net, x, y, "mse", entry)
        assert d.value == pytest.approx(engine_grad(net, entry), rel=1e-10, abs=1e-14), entry
        assert any("ᵢ" in s.label for s in d.steps) == (entry == "0.W[0,1]")


def test_narrow_layers_with_long_sums_print_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sums of many inputs are added in floats now, in SymPy before: the same text, digit for
    digit, in every format (narrow layers are still one step per unit)."""
    net = Sequential([Dense(30, 4), Tanh(), Dense(4, 3)], seed=5, dtype="float64")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(12, 30)), rng.normal(size=(12, 3))
    new = derive(net, x, y, "mse", "0.W[1,7]", sample=4, l2=0.01)
    old = _unit_by_unit(monkeypatch, net, x, y, "mse", "0.W[1,7]", sample=4, l2=0.01)
    assert not any("ᵢ" in s.label for s in new.steps)
    for fmt in ("text", "unicode", "latex", "markdown"):
        assert new.render(fmt) == old.render(fmt)


def test_a_wide_step_that_disagrees_with_its_unit_stops() -> None:
    z = [sym("z", 1, m) for m in range(10)]
    example = StepSpec("forward", sym("a", 1, 0), rule("vec_act"), z[0])
    any_unit = StepSpec("forward", sym("a", 1, wide.LETTER), rule("vec_act"), sym("z", 1, "i"))
    env = {s: float(m) + 0.5 for m, s in enumerate(z)}
    units = list(range(10))
    right = wide.collapse(example, any_unit, units, wide.elementwise(any_unit.general, units))
    steps = evaluate(right, dict(env))
    assert list(steps[1].value) == [m + 0.5 for m in units]
    wrong = wide.collapse(example, any_unit, units, lambda env: np.arange(10.0) + 0.25)
    with pytest.raises(ArithmeticError, match="a¹₀"):
        evaluate(wrong, dict(env))


def test_dropout_off_passes_a_wide_layer_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """No mask fits the batch: dropout passes values and gradients as they are, wide or not."""
    layers = [Dense(5, 3), ReLU(), Dense(3, 10), Tanh(), Dropout(0.5), Dense(10, 2)]
    net = Sequential(layers, seed=7, dtype="float64")
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(2, 5)), rng.normal(size=(2, 2))
    d = derive(net, x, y, "mse", "0.W[1,3]")
    old = _unit_by_unit(monkeypatch, net, x, y, "mse", "0.W[1,3]")
    assert "is off" in d.to_text()
    assert any("ᵢ" in s.label for s in d.steps)
    assert d.value == pytest.approx(old.value, rel=1e-12, abs=1e-15)
