"""ONNX export: every preset's network and every layer family, run in onnxruntime and in
``onnx.reference`` and compared with the engine's forward pass to 1e-5 (float32)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

from onnx.reference import ReferenceEvaluator  # noqa: E402

from engine.errors import UserError  # noqa: E402
from engine.experiment.presets import PRESETS  # noqa: E402
from engine.interop.onnx import INSTALL, UnsupportedExport, to_onnx  # noqa: E402
from engine.interop.onnx_layers import CONVERTERS  # noqa: E402
from engine.layers import (  # noqa: E402
    ELU,
    GELU,
    GRU,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Heaviside,
    Layer,
    LayerNorm,
    LeakyReLU,
    MaxPool2D,
    MultiHeadSelfAttention,
    PositionalEncoding,
    ReLU,
    Residual,
    Sigmoid,
    Tanh,
    transformer_block,
)
from engine.network import Sequential  # noqa: E402
from tui.bench.onnx_parity import differences, onnx_inputs, trained_preset  # noqa: E402

TOL = 1e-5


def outputs(net: Sequential, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The engine's output for ``X``, and the exported model's in onnxruntime and the reference."""
    model = to_onnx(net)
    feed = {"input": onnx_inputs(net, X)}
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (runtime,) = session.run(None, feed)
    (reference,) = ReferenceEvaluator(model).run(None, feed)
    return net.forward(X), runtime, reference


def assert_exported(net: Sequential, X: np.ndarray) -> None:
    want, runtime, reference = outputs(net, X)
    assert runtime.shape == reference.shape == want.shape
    np.testing.assert_allclose(runtime, want, rtol=0, atol=TOL)
    np.testing.assert_allclose(reference, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_exports_and_matches_the_engine(name: str) -> None:
    run = trained_preset(name)
    assert run.trainer.step > 0  # trained: the weights are not the initial ones
    runtime, reference = differences(run.net, run.data.X_test[:16])
    assert runtime < TOL and reference < TOL


def test_dense_stack_with_every_activation() -> None:
    layers: list[Layer] = [Dense(3, 6)]
    for act in (ReLU(), LeakyReLU(0.2), Sigmoid(), Tanh(), ELU(0.7), GELU()):
        layers += [act, Dense(6, 6)]
    net = Sequential([*layers, Dropout(0.5), Dense(6, 2)], seed=3)
    X = np.random.default_rng(0).normal(0.0, 2.0, (9, 3))
    assert_exported(net, X)


def test_gelu_is_the_exact_erf_form() -> None:
    net = Sequential([Dense(1, 1), GELU()], seed=0)
    net.set_params({"0.W": [[1.0]], "0.b": [0.0]})
    z = np.linspace(-4, 4, 81)[:, None]
    want, runtime, reference = outputs(net, z)
    # the tanh approximation differs from the erf form by up to ~5e-4 on this range
    np.testing.assert_allclose(runtime, want, atol=TOL)
    np.testing.assert_allclose(reference, want, atol=TOL)


def test_step_matches_the_engine_at_zero_and_either_side() -> None:
    net = Sequential([Dense(2, 3), Heaviside()], seed=0)
    net.set_params({"0.W": np.eye(3, 2), "0.b": [0.0, 0.0, -1.0]})
    X = np.array([[0.0, 0.0], [1e-7, -1e-7], [-2.0, 3.0], [1.0, 0.0]])
    want, runtime, reference = outputs(net, X)
    np.testing.assert_array_equal(want[0], [0.0, 0.0, 0.0])  # H(0) = 0
    np.testing.assert_array_equal(runtime, want)
    np.testing.assert_array_equal(reference, want)


def test_convolution_pooling_and_batch_norm_with_running_statistics() -> None:
    net = Sequential(
        [
            Conv2D(2, 4, 3, stride=2, padding=1),
            BatchNorm(4),
            ReLU(),
            MaxPool2D(2),
            Conv2D(4, 3, 2),
            AvgPool2D(2, 1),
            Flatten(),
            Dense(3, 5),
            BatchNorm(5),
        ],
        input_shape=(2, 13, 13),
        seed=2,
    )
    rng = np.random.default_rng(1)
    for name in ("1.running_mean", "1.running_var", "8.running_mean", "8.running_var"):
        net.buffers[name] = rng.uniform(0.5, 2.0, net.buffers[name].shape)
    assert_exported(net, rng.normal(size=(5, 2, 13, 13)))


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("every_step", [True, False])
def test_recurrent_layers_with_their_gate_orders(cls: type, every_step: bool) -> None:
    net = Sequential(
        [cls(3, 5, return_sequences=every_step), Dense(5, 2)], input_shape=(6, 3), seed=4
    )
    assert_exported(net, np.random.default_rng(2).normal(size=(4, 6, 3)))


@pytest.mark.parametrize("causal", [False, True])
def test_transformer_blocks_through_standard_operators(causal: bool) -> None:
    net = Sequential(
        [
            Embedding(13, 12),
            PositionalEncoding(12),
            *transformer_block(12, 3, ff=20, causal=causal),
            LayerNorm(12),
            Dense(12, 13),
        ],
        input_shape=(7,),
        seed=5,
    )
    ids = np.random.default_rng(3).integers(0, 13, (4, 7)).astype(float)
    assert_exported(net, ids)
    model = to_onnx(net)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    ops = {node.op_type for node in model.graph.node}
    assert {"Gather", "Softmax", "LayerNormalization", "Reshape", "Transpose"} <= ops


def test_causal_mask_hides_later_positions() -> None:
    """Changing the last token leaves every earlier position's output as it was."""
    net = Sequential([MultiHeadSelfAttention(4, 2, causal=True)], input_shape=(5, 4), seed=6)
    model = to_onnx(net)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    x = np.random.default_rng(4).normal(size=(1, 5, 4)).astype(np.float32)
    y = x.copy()
    y[0, -1] += 3.0
    (a,) = session.run(None, {"input": x})
    (b,) = session.run(None, {"input": y})
    np.testing.assert_allclose(a[0, :-1], b[0, :-1], atol=1e-6)
    assert np.abs(a[0, -1] - b[0, -1]).max() > 1e-3


def test_residual_blocks_nest() -> None:
    inner = Residual([Dense(4, 4), Tanh(), Residual([LayerNorm(4), Dense(4, 4)])])
    net = Sequential([Dense(2, 4), inner, Dense(4, 1)], seed=7)
    assert_exported(net, np.random.default_rng(5).normal(size=(6, 2)))
    names = {init.name for init in to_onnx(net).graph.initializer}
    assert {"1.0.W", "1.2.0.gamma", "1.2.1.W"} <= names  # named as the engine names them


def test_the_batch_axis_is_symbolic() -> None:
    net = Sequential([Dense(3, 2)], seed=8)
    session = onnxruntime.InferenceSession(
        to_onnx(net).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    for n in (1, 5, 33):
        X = np.random.default_rng(n).normal(size=(n, 3))
        (out,) = session.run(None, {"input": X.astype(np.float32)})
        np.testing.assert_allclose(out, net.forward(X), atol=TOL)


def test_a_float64_network_exports_in_float32() -> None:
    net = Sequential([Dense(3, 4), Tanh(), Dense(4, 2)], seed=9, dtype="float64")
    model = to_onnx(net)
    assert {init.data_type for init in model.graph.initializer} == {onnx.TensorProto.FLOAT}
    assert_exported(net, np.random.default_rng(6).normal(size=(5, 3)))


def test_to_onnx_writes_a_file_that_loads(tmp_path) -> None:
    net = Sequential([Dense(2, 3), ReLU(), Dense(3, 1)], seed=10)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    (out,) = session.run(None, {"input": X.astype(np.float32)})
    np.testing.assert_allclose(out, net.forward(X), atol=TOL)
    with pytest.raises(UserError, match="does not exist"):
        net.to_onnx(tmp_path / "missing" / "net.onnx")
    with pytest.raises(UserError, match="is a folder"):
        net.to_onnx(tmp_path)


class Swish(Layer, register=False):
    """A layer the export has no converter for."""

    type_name = "Swish"


def test_a_layer_without_an_onnx_form_is_named() -> None:
    net = Sequential([Dense(2, 2), Residual([Swish()]), Dense(2, 1)], seed=0)
    with pytest.raises(UnsupportedExport, match=r"layer 1\.0 \(Swish\) has no ONNX form") as err:
        to_onnx(net)
    assert isinstance(err.value, UserError) and err.value.exit_code == 2
    assert "Dense" in err.value.message  # lists what the export knows


def test_every_registered_layer_has_a_converter() -> None:
    from engine.layers import LAYER_TYPES

    assert set(LAYER_TYPES.values()) <= set(CONVERTERS)


def test_without_the_onnx_package_the_error_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(UserError) as err:
        to_onnx(Sequential([Dense(1, 1)]))
    assert INSTALL in err.value.hint
