"""Measurements of deeper networks for the views: layers, filters, hidden states, attention.

Like :mod:`tui.session.probes`, everything here computes on the network and runs on the training
thread between two steps. A forward pass here overwrites what layers keep of their last forward
(the hidden states of a recurrent layer, the attention weights): that is what is read, and
training never needs them across a step.
"""

from __future__ import annotations

import inspect
import math
import re

import numpy as np

from engine.datasets import DataSplit
from engine.layers import Activation, Dense, Dropout, Layer
from engine.layers.blocks import Residual
from engine.layers.image import Conv2D
from engine.layers.sequence import GRU, LSTM, RNN, MultiHeadSelfAttention
from engine.network import Sequential
from tui.session.params import parse_entry
from tui.session.records import (
    AttentionMap,
    FeatureMaps,
    LayerRow,
    ParamNote,
    Reconstructions,
    SequenceFit,
)

RECURRENT = (RNN, LSTM, GRU)
SHORT_NAMES = {
    "MultiHeadSelfAttention": "Attention",
    "PositionalEncoding": "PosEnc",
    "MaxPool2D": "MaxPool",
    "AvgPool2D": "AvgPool",
}
RECONSTRUCTIONS = 8  # test images shown beside their reconstructions
GENERATED = 32  # characters generated after a test window


# ---------------------------------------------------------------------- the network's shape
def is_mlp(net: Sequential) -> bool:
    """Whether the network is a plain Dense/activation/dropout stack on flat inputs."""
    return len(net.input_shape) == 1 and all(
        isinstance(layer, Dense | Activation | Dropout) for layer in net.layers
    )


def _label(layer: Layer) -> str:
    if isinstance(layer, Residual):
        return "Res(" + "·".join(_label(inner) for inner in layer.inner) + ")"
    return SHORT_NAMES.get(layer.type_name, layer.type_name)


def layer_rows(net: Sequential) -> tuple[LayerRow, ...]:
    """The layer list: one row per layer with parameters, with the parameter-free layers after it.

    Parameter-free layers before the first one join its row in front.
    """
    rows: list[LayerRow] = []
    pending: list[str] = []  # labels of parameter-free layers with no row yet
    shape = net.input_shape
    for i, layer in enumerate(net.layers):
        shape = layer.out_shape(shape)
        names = tuple(n for n in net.params if n.split(".", 1)[0] == str(i))
        if names:
            size = sum(int(net.params[n].size) for n in names)
            label = "·".join([*pending, _label(layer)])
            rows.append(LayerRow(i, label, tuple(shape), names, size))
            pending = []
        elif rows:
            last = rows[-1]
            rows[-1] = LayerRow(
                last.index, f"{last.label}·{_label(layer)}", tuple(shape), last.params, last.size
            )
        else:
            pending.append(_label(layer))
    return tuple(rows)


def row_norms(net: Sequential, rows: tuple[LayerRow, ...]) -> tuple[float, ...]:
    """‖∂L/∂θ‖ over all parameters of each row, on the last mini-batch.

    A row's parameters lie next to each other in the flat gradient buffer, so each norm is one
    dot product over a slice.
    """
    grad = np.asarray(net.grad)
    out = []
    for row in rows:
        start = net.offsets[row.params[0]]
        part = grad[start : start + row.size].astype(np.float64)
        out.append(math.sqrt(float(np.dot(part, part))))
    return tuple(out)


def multiply_adds(layers: list[Layer], shape: tuple[int, ...]) -> int:
    """Multiply-adds of one sample's forward pass: a measure of what evaluating a row costs.

    Counted from the layer shapes alone (no timing), so the rows a view measures on are the
    same on every machine and every run.
    """
    total = 0
    for layer in layers:
        out = layer.out_shape(shape)
        positions = math.prod(shape[:-1]) if len(shape) > 1 else 1
        if isinstance(layer, Residual):
            total += multiply_adds(layer.inner, shape)
        elif isinstance(layer, Conv2D):
            total += layer.out_channels * layer.in_channels * layer.k * layer.k * math.prod(out[1:])
        elif isinstance(layer, RECURRENT):
            steps, width = shape
            total += layer.gates * layer.hidden * (width + layer.hidden) * steps
        elif isinstance(layer, MultiHeadSelfAttention):
            steps, d = shape
            total += 4 * d * d * steps + 2 * steps * steps * d
        elif layer.params:
            total += sum(int(p.size) for p in layer.params.values()) * positions
        total += math.prod(out)  # activations, pooling, norms: about one per output
        shape = out
    return total


# ---------------------------------------------------------------------- one parameter
def find_layer(net: Sequential, name: str) -> tuple[Layer, str]:
    """The layer that holds parameter ``name`` and where it sits (``"Dense in Residual 2"``)."""
    parts = name.split(".")[:-1]
    layer: Layer = net.layers[int(parts[0])]
    where = f"{layer.type_name}, layer {parts[0]}"
    for part in parts[1:]:
        if not isinstance(layer, Residual):
            break
        layer = layer.inner[int(part)]
        where = f"{layer.type_name} inside Residual, layer {parts[0]}"
    return layer, where


def param_note(net: Sequential, entry: str) -> ParamNote:
    """The selected entry's value and last batch gradient, and what its layer computes.

    Raises:
        ValueError: when ``entry`` is not an entry of this network.
    """
    name, index = parse_entry(entry)
    if name not in net.params:
        raise ValueError(f"{entry} is not an entry of this network")
    values, grads = net.params[name], net.grads[name]
    if len(index) != values.ndim or any(i >= s for i, s in zip(index, values.shape)):
        raise ValueError(f"{entry} lies outside {name} of shape {values.shape}")
    layer, where = find_layer(net, name)
    if isinstance(layer, MultiHeadSelfAttention) and name.endswith("_in"):
        where += f"; {_attention_row(layer, index[0])}"
    return ParamNote(
        param=entry,
        value=float(values[index]),
        batch_grad=float(grads[index]),
        shape=tuple(values.shape),
        layer=where,
        formula=layer_formula(layer),
    )


def layer_formula(layer: Layer) -> str:
    """The first paragraph of the layer's docstring, in one line, its ``names`` filled in.

    A name that is one of the layer's whole-number settings becomes its value ("with ``heads``
    heads" reads "with 2 heads"); any other loses its quotes.
    """
    doc = (inspect.getdoc(type(layer)) or "").split("\n\n")[0].replace("\n", " ")

    def fill(match: re.Match[str]) -> str:
        value = getattr(layer, match.group(1), None)
        is_count = isinstance(value, int) and not isinstance(value, bool)
        return str(value) if is_count else match.group(1)

    return re.sub(r"``([^`]+)``", fill, doc)


def _attention_row(layer: MultiHeadSelfAttention, row: int) -> str:
    """``key column 8 of head 1 of 2``: what a row of W_in (or b_in) makes; heads from 1."""
    d, dh = layer.d, layer.d // layer.heads
    part = ("query", "key", "value")[row // d]
    return f"{part} column {(row % d) % dh} of head {(row % d) // dh + 1} of {layer.heads}"


# ---------------------------------------------------------------------- the views
def _class_name(data: DataSplit, k: int) -> str:
    names = data.class_names
    return names[k] if names is not None and 0 <= k < len(names) else str(k)


def feature_maps(net: Sequential, data: DataSplit, sample: int) -> FeatureMaps:
    """The first convolution's filters and its maps (after the activation) of one test image."""
    i = sample % len(data.X_test)
    x = net.as_input(data.X_test[i : i + 1])
    image = np.asarray(x[0, 0], dtype=np.float64)
    conv = next(k for k, layer in enumerate(net.layers) if isinstance(layer, Conv2D))
    maps, activation = None, ""
    for k, layer in enumerate(net.layers):
        x = layer.forward(x, False, False)
        if k == conv:
            maps = x
        elif k == conv + 1 and isinstance(layer, Activation):
            maps, activation = x, layer.type_name
    assert maps is not None
    out = np.asarray(x)
    predicted = int(out.reshape(1, -1).argmax()) if out.shape[-1] > 1 else int(out.ravel()[0] > 0)
    label = int(np.asarray(data.y_test).reshape(len(data.y_test), -1)[i, 0])
    return FeatureMaps(
        layer=conv,
        activation=activation,
        filters=np.array(net.params[f"{conv}.W"], dtype=np.float64),
        image=image,
        maps=np.array(maps[0], dtype=np.float64),
        sample=i,
        label=_class_name(data, label),
        predicted=_class_name(data, predicted),
    )


def sequence_fit(net: Sequential, data: DataSplit, sample: int) -> SequenceFit:
    """Prediction and target at every step of one test sequence, and the last hidden states."""
    i = sample % len(data.X_test)
    x = net.as_input(data.X_test[i : i + 1])
    last = max(k for k, layer in enumerate(net.layers) if isinstance(layer, RECURRENT))
    out = np.asarray(net._forward(x, False, cache=False))
    recurrent = net.layers[last]
    assert isinstance(recurrent, RECURRENT)
    hidden = np.asarray(recurrent.hidden_states(0), dtype=np.float64)  # (T, H)
    steps = hidden.shape[0]
    per_step = out.ndim == 3
    y = np.asarray(data.y_test[i], dtype=np.float64).reshape(-1)
    if per_step:
        predicted = out[0, :, 0].astype(np.float64)
        target = y.reshape(steps, -1)[:, 0]
    else:
        h = hidden.astype(net.dtype)
        for layer in net.layers[last + 1 :]:  # the read-out of every h_t
            h = layer.forward(h, False, False)
        predicted = np.asarray(h, dtype=np.float64).reshape(steps, -1)[:, 0]
        target = np.full(steps, y[0])
    marks = _marks(data, np.asarray(x[0], dtype=np.float64))
    return SequenceFit(
        sample=i,
        target=target,
        predicted=predicted,
        per_step=per_step,
        marks=marks,
        hidden=hidden.T.copy(),
        layer=f"{recurrent.type_name}, layer {last}",
    )


def _marks(data: DataSplit, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values a marker channel points at (the adding problem), else nothing."""
    if "marker" in data.feature_names and x.ndim == 2:
        channel = data.feature_names.index("marker")
        value = 1 - channel if x.shape[1] == 2 else 0
        at = np.flatnonzero(x[:, channel] > 0.5)
        return at.astype(np.float64), x[at, value]
    return np.zeros(0), np.zeros(0)


def attention_map(net: Sequential, data: DataSplit, sample: int, head: int) -> AttentionMap:
    """One test window: the chosen head's attention, and the text read, expected and written."""
    i = sample % len(data.X_test)
    ids = np.asarray(data.X_test[i], dtype=np.int64)
    out = net.forward(ids[None, :])
    attention = _attention_layers(net.layers)
    weights, block, h, heads, path = None, 0, 0, 1, ""
    if attention:
        heads = attention[0][1].heads
        k = head % (len(attention) * heads)
        block, h = divmod(k, heads)
        path, layer = attention[block]
        weights = np.array(layer.attention_weights[0, h], dtype=np.float64)
    predicted = out.reshape(len(ids), -1).argmax(axis=1)
    target = np.asarray(data.y_test[i], dtype=np.int64).reshape(-1)
    return AttentionMap(
        sample=i,
        weights=weights,
        block=block,
        head=h,
        blocks=len(attention),
        heads=heads,
        layer=path,
        text=_spell(data, ids),
        target=_spell(data, target),
        predicted=_spell(data, predicted),
        generated=_spell(data, _generate(net, ids, GENERATED)),
    )


def _attention_layers(
    layers: list[Layer], prefix: str = ""
) -> list[tuple[str, MultiHeadSelfAttention]]:
    """Every attention layer with its path (``"2.1"``: inside the residual block 2)."""
    found: list[tuple[str, MultiHeadSelfAttention]] = []
    for i, layer in enumerate(layers):
        if isinstance(layer, MultiHeadSelfAttention):
            found.append((f"{prefix}{i}", layer))
        elif isinstance(layer, Residual):
            found += _attention_layers(layer.inner, f"{prefix}{i}.")
    return found


def _spell(data: DataSplit, ids: np.ndarray) -> str:
    return "".join(_class_name(data, int(k)) for k in ids)


def _generate(net: Sequential, ids: np.ndarray, count: int) -> np.ndarray:
    """``count`` tokens after ``ids``, each the most likely given the window before it."""
    window, out = ids.copy(), []
    for _ in range(count):
        logits = net.forward(window[None, :])
        token = int(logits.reshape(len(window), -1)[-1].argmax())
        out.append(token)
        window = np.concatenate([window[1:], [token]])
    return np.array(out, dtype=np.int64)


def reconstructions(net: Sequential, data: DataSplit, sample: int) -> Reconstructions:
    """A few test images from ``sample`` on, and the network's reconstructions of them."""
    rows, cols = data.image_shape or (1, data.n_features)
    n = len(data.X_test)
    first = sample % n
    index = (first + np.arange(min(RECONSTRUCTIONS, n))) % n
    X = data.X_test[index]
    out = net.forward(X).reshape(len(index), -1).astype(np.float64)
    errors = ((out - X) ** 2).mean(axis=1)
    return Reconstructions(
        first=first,
        inputs=X.reshape(-1, rows, cols).astype(np.float64),
        outputs=out.reshape(-1, rows, cols),
        errors=errors,
    )
