"""ONNX export: a ``Sequential`` as an ONNX graph of standard operators (opset 17).

::

    from engine.interop.onnx import to_onnx
    model = to_onnx(net, "model.onnx")     # or net.to_onnx("model.onnx")

The graph computes what ``net.forward`` computes at inference: dropout is the identity, batch
normalisation uses its running statistics, and the output is the last layer's — logits for a
network trained with cross-entropy or ``bce_logits`` (apply softmax or a sigmoid to read
probabilities), the sigmoid's or the step's values where the network ends in one. The input is
named ``input`` and takes a batch of samples of ``net.input_shape`` with any batch size: images
``(n, c, h, w)``, sequences ``(n, T, d)``, token ids ``(n, T)`` as int64 for a network that starts
with an embedding. The output is named ``output``. Weights are written as float32, whatever the
network trains in.

Each layer family maps to the operators that compute it (``onnx_layers``); the recurrent layers'
gates are reordered from PyTorch's order, which the engine keeps, to ONNX's. A layer with no
mapping raises :class:`UnsupportedExport`, naming it. The model passes ``onnx.checker`` (with
shape inference) before it is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UserError

if TYPE_CHECKING:
    from engine.network import Sequential

OPSET = 17
"""The operator set the graph uses: 17 brings LayerNormalization."""
INPUT, OUTPUT = "input", "output"
INSTALL = 'pip install -e ".[onnx]"'


class UnsupportedExport(UserError):
    """A network holds a layer that the export cannot write as ONNX operators."""


def require_onnx() -> Any:
    """The ``onnx`` package, or a UserError naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise UserError(
            "ONNX export needs the onnx package, which is not installed",
            f"install it with: {INSTALL}",
        ) from None
    return onnx


def to_onnx(net: Sequential, path: str | Path | None = None) -> Any:
    """The network as a checked ``onnx.ModelProto``; written to ``path`` when one is given.

    Raises:
        UnsupportedExport: for a layer the export cannot express, naming it and why.
        UserError: when the ``onnx`` package is missing, or the file cannot be written.
    """
    onnx = require_onnx()
    from engine.interop.onnx_layers import Graph, embeds_tokens

    graph = Graph(net)
    tokens = embeds_tokens(net)
    elem = onnx.TensorProto.INT64 if tokens else onnx.TensorProto.FLOAT
    x = graph.run_layers(net.layers, INPUT, tuple(net.input_shape), prefix="")
    graph.node("Identity", [x], OUTPUT)
    helper = onnx.helper
    inputs = [helper.make_tensor_value_info(INPUT, elem, ["batch", *net.input_shape])]
    outputs = [
        helper.make_tensor_value_info(OUTPUT, onnx.TensorProto.FLOAT, ["batch", *net.output_shape])
    ]
    body = helper.make_graph(graph.nodes, "dltui", inputs, outputs, initializer=graph.initializers)
    model = helper.make_model(
        body,
        producer_name="dltui",
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=f"dltui network: {net.describe()}",
    )
    model.ir_version = 8  # what every onnxruntime from 1.14 on reads
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        _write(onnx, model, Path(path))
    return model


def _write(onnx: Any, model: Any, path: Path) -> None:
    if path.is_dir():
        raise UserError(f"{path} is a folder", "give a file name, e.g. model.onnx")
    if not path.parent.exists():
        raise UserError(
            f"cannot write {path}: the folder {path.parent} does not exist",
            "create the folder first, or write the file elsewhere",
        )
    try:
        onnx.save_model(model, str(path))
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror})", "write it elsewhere") from None


def as_float32(array: Any) -> np.ndarray:
    """A host array of the network's weights, as float32."""
    return np.ascontiguousarray(np.asarray(array), dtype=np.float32)
