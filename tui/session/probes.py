"""Measurements of a network for the views: decision grid, fitted curve, confusion, chain rule.

Everything here computes on the network and therefore runs on the training thread, between two
steps (``tui.session.worker``); the interface only draws the records it returns. Nothing here
imports Textual. The chain rule takes each activation's NumPy form and derivative from its one
definition (``engine.activations``, through the layer's ``definition``).
"""

from __future__ import annotations

import numpy as np

from engine import datasets, optim
from engine.experiment.config import Experiment, Run
from engine.layers import Activation, Dense, Dropout, Layer
from engine.naming import parse_param_name
from engine.network import Sequential
from engine.trainer import Trainer
from tui.session import probes_nets
from tui.session.records import ChainRule, Classes, Curve, FloatArray, Grid, NetCopy, Scatter, Scene
from tui.session.views import views_for

PLANE = 6.0  # the 2-D sets lie in [-PLANE, PLANE]²
PLANE_EXTENT = (-PLANE, PLANE, -PLANE, PLANE)  # (x1 low, x1 high, x2 low, x2 high)
MARGIN = 0.5  # beyond the playground, a map spans the data's range and half of it on each side
EVAL_ROWS = 2000  # loss, accuracy and confusion are measured on at most this many rows
MIN_EVAL_ROWS = 32  # losses are measured on at least this many rows of each set
EVAL_BUDGET = 40_000_000  # multiply-adds per set for one loss measurement (~20 ms)
IMAGES = 8  # test images shown with their predicted labels


def parse_param(name: str) -> tuple[int, str, int, int]:
    """Splits ``"2.W[0,1]"`` into ``(2, "W", 0, 1)`` and ``"0.b[3]"`` into ``(0, "b", 3, 0)``.

    Raises:
        ValueError: when the name is not of either form.
    """
    entry = parse_param_name(name)
    if len(entry.path) != 1 or entry.array not in ("W", "b") or len(entry.index) > 2:
        raise ValueError(f"not a Dense layer's entry: {name!r} (expected e.g. 2.W[0,1] or 0.b[3])")
    return entry.layer, entry.array, entry.index[0], entry.index[1] if len(entry.index) > 1 else 0


def plane_points(
    experiment: Experiment, data: datasets.DataSplit
) -> tuple[FloatArray, FloatArray] | None:
    """Training and test points as (x1, x2), whatever input features the network sees.

    With features such as ``x1^2`` alone the coordinates are not in ``X``; the set is then drawn
    again with the same seed and options, which gives the same points and the same split.
    """
    if not datasets.on_plane(data.name):
        return None
    names = data.feature_names
    if "x1" in names and "x2" in names:
        cols = [names.index("x1"), names.index("x2")]
        return data.X_train[:, cols], data.X_test[:, cols]
    options = {**experiment.data.options, "features": ("x1", "x2")}
    raw = datasets.load(experiment.data.name, **options)
    return raw.X_train, raw.X_test


def make_scene(
    generation: int, experiment: Experiment, data: datasets.DataSplit, net: Sequential
) -> Scene:
    """The fixed part of what the views draw, for one network."""
    dense = tuple(i for i, layer in enumerate(net.layers) if isinstance(layer, Dense))
    views = views_for(experiment, data, net)
    return Scene(
        generation=generation,
        experiment=experiment,
        data=data,
        widths=tuple(net.widths()),
        param_names=tuple(net.params),
        dense_layers=dense,
        plane=plane_points(experiment, data),
        view=views[0],
        views=views,
        mlp=probes_nets.is_mlp(net),
        param_shapes=tuple(tuple(p.shape) for p in net.params.values()),
        rows=probes_nets.layer_rows(net),
    )


def class_one_probability(trainer: Trainer, out: np.ndarray) -> np.ndarray:
    """The probability of class 1 from one-output predictions, following what the loss expects."""
    column = out[:, 0].astype(np.float64)
    if trainer.info.output == "logits":
        return 1.0 / (1.0 + np.exp(-np.clip(column, -60.0, 60.0)))
    return np.clip(column, 0.0, 1.0)


def two_input_classes(data: datasets.DataSplit) -> bool:
    """Two classes told apart from two raw inputs (no image, no sequence): a set whose inputs
    make a plane the decision map can cover, as it covers the playground's sets."""
    plain = data.image_shape is None and data.sample_shape is None and data.target_shape is None
    return plain and data.task == "binary" and data.n_features == 2


def plane_extent(scene: Scene) -> tuple[float, float, float, float]:
    """The area a map covers, (x1 low, x1 high, x2 low, x2 high): the playground's plane
    [-6, 6]², or else the range of the data's two inputs (training and test rows) with a margin
    of ``MARGIN`` times that range on each side (XOR's 0 and 1 give -0.5 … 1.5)."""
    if scene.plane is not None:
        return (-PLANE, PLANE, -PLANE, PLANE)
    X = np.concatenate([scene.data.X_train[:, :2], scene.data.X_test[:, :2]]).astype(np.float64)
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = hi - lo
    pad = MARGIN * np.where(span > 0, span, 1.0 / MARGIN)  # one input that never varies: ± 1
    return (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


def grid_points(
    width: int, height: int, extent: tuple[float, float, float, float] = PLANE_EXTENT
) -> FloatArray:
    """Centres of a ``height`` × ``width`` grid of cells over ``extent`` (the plane unless told),
    row by row from the top."""
    x0, x1, y0, y1 = extent
    xs = x0 + (np.arange(width) + 0.5) / width * (x1 - x0)
    ys = y1 - (np.arange(height) + 0.5) / height * (y1 - y0)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def grid_view(scene: Scene, net: Sequential, trainer: Trainer, width: int, height: int) -> Grid:
    """Predictions of the network at every cell of the map (probability or value): over the
    plane for the playground's sets (through the input features the network sees), over the
    data's range for other two-input sets."""
    extent = plane_extent(scene)
    X = grid_points(width, height, extent)
    if scene.plane is not None:
        X = datasets.expand_features(X, scene.data.feature_names)
    out = net.forward(X)
    regression = scene.data.task == "regression"
    values = out[:, 0] if regression else class_one_probability(trainer, out)
    return Grid(np.asarray(values, dtype=np.float32).reshape(height, width), regression, extent)


def curve_view(scene: Scene, net: Sequential, points: int = 160) -> Curve:
    """The fitted function along the one input, a little beyond the data on both sides."""
    X = np.concatenate([scene.data.X_train[:, 0], scene.data.X_test[:, 0]])
    lo, hi = float(X.min()), float(X.max())
    pad = 0.05 * (hi - lo or 1.0)
    x = np.linspace(lo - pad, hi + pad, points)
    return Curve(x, net.forward(x[:, None])[:, 0].astype(np.float64))


def classes_view(scene: Scene, net: Sequential, trainer: Trainer) -> Classes:
    """Confusion matrix on (at most ``EVAL_ROWS``) test rows; predictions of the first images."""
    data = scene.data
    X, y = data.X_test[:EVAL_ROWS], data.y_test[:EVAL_ROWS].reshape(-1).astype(np.int64)
    predicted = trainer.predict_classes(net.forward(X))
    k = max(data.n_classes, 2)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    return Classes(confusion, predicted[:IMAGES].astype(np.int64))


def scatter_view(scene: Scene, net: Sequential) -> Scatter:
    """Predicted against true values on (at most ``EVAL_ROWS``) test rows, first output.

    Where the network predicts a value per time step, every step counts (up to ``EVAL_ROWS``).
    """
    data = scene.data
    X = data.X_test[:EVAL_ROWS]
    predicted = net.forward(X).reshape(len(X), -1).astype(np.float64)
    true = np.asarray(data.y_test[:EVAL_ROWS], dtype=np.float64).reshape(len(X), -1)
    if true.shape[1] != predicted.shape[1]:
        return Scatter(true[:, 0], predicted[:, 0])
    return Scatter(true.ravel()[:EVAL_ROWS], predicted.ravel()[:EVAL_ROWS])


Rows = slice | np.ndarray


def loss_rows(net: Sequential, data: datasets.DataSplit) -> tuple[Rows, Rows]:
    """The rows of the training and test sets that losses are measured on.

    At most ``EVAL_ROWS`` of each; a network whose forward pass costs more than
    ``EVAL_BUDGET`` multiply-adds for them (a transformer, an LSTM) gets fewer, spread evenly
    over each set, so measuring does not eat the time it trains in.
    """
    cost = max(probes_nets.multiply_adds(net.layers, net.input_shape), 1)
    count = min(EVAL_ROWS, max(MIN_EVAL_ROWS, EVAL_BUDGET // cost))
    return _spread(len(data.X_train), count), _spread(len(data.X_test), count)


def _spread(size: int, count: int) -> Rows:
    """The first rows of a set while ``count`` covers them (or ``EVAL_ROWS``), else spread."""
    if count >= size or count >= EVAL_ROWS:
        return slice(0, min(size, EVAL_ROWS))
    return np.linspace(0, size - 1, count).astype(np.intp)


def host_copy(net: Sequential) -> Sequential:
    """An independent copy of ``net`` on the CPU (the network itself is not touched)."""
    twin = Sequential.from_spec(net.spec(), dtype=net.dtype.name, device="cpu",
                                input_shape=net.input_shape,
                                init_scale=net.init_scale)  # fmt: skip
    twin.fuse = net.fuse  # the same path: a copy computes the very same numbers
    refresh(twin, net)
    return twin


def refresh(host: Sequential, net: Sequential) -> None:
    """Copies ``net``'s weights, gradients and state into ``host``, a CPU twin of it."""
    backend = net.backend
    host.data[...] = backend.to_host(net.data)
    host.grad[...] = backend.to_host(net.grad)
    if net.state.size:
        host.state[...] = backend.to_host(net.state)


class HostMirror:
    """The network as the views read it, on the host.

    A network on the CPU is read as it is. One on a GPU keeps a CPU twin that :meth:`of` fills
    from the device once a snapshot, never once a step: the probes then compute on host arrays
    (on the CPU, between two steps), and the device's buffers are only read, never written.
    """

    def __init__(self) -> None:
        self._twin: Sequential | None = None
        self._of: Sequential | None = None

    def of(self, net: Sequential) -> Sequential:
        """``net`` itself on the CPU; else its twin, refreshed from the device now."""
        if net.device == "cpu":
            return net
        if self._twin is None or self._of is not net:
            self._twin, self._of = host_copy(net), net
        else:
            refresh(self._twin, net)
        return self._twin


def net_copy(run: Run, sample: int) -> NetCopy:
    """The network and its optimiser (with its state) copied, one training sample, next batch;
    the copy is on the CPU whatever device the run trains on."""
    net = host_copy(run.net)
    opt = run.trainer.optimizer
    twin = optim.create(opt.name, net, **opt.hyper())
    twin.load_state_dict(opt.state_dict(), opt.t)
    X, y = run.data.X_train, run.data.y_train
    i = sample % len(X)
    x_i, y_i = X[i : i + 1].copy(), y[i : i + 1].copy()
    rows = run.trainer.next_batch_rows(len(X))
    return NetCopy(net, twin, run.experiment, x_i, y_i, i, run.trainer.step, X[rows], y[rows], rows)


def grad_norms(net: Sequential, dense_layers: tuple[int, ...]) -> tuple[float, ...]:
    """‖∂L/∂W‖ of each Dense layer on the last mini-batch: small means vanishing, huge exploding."""
    return tuple(float(np.linalg.norm(net.grads[f"{i}.W"])) for i in dense_layers)


def weight_copies(net: Sequential, dense_layers: tuple[int, ...]) -> tuple[FloatArray, ...]:
    """A copy of each Dense layer's W, safe to read while training goes on."""
    return tuple(np.array(net.params[f"{i}.W"], dtype=np.float64) for i in dense_layers)


# ---------------------------------------------------------------------- the chain rule, in numbers
def _no_rule(layer: Layer) -> TypeError:
    return TypeError(
        f"the chain-rule probe has no rule for {layer.type_name}: it follows Dense, Dropout and "
        "the activation layers (engine.activations) only"
    )


def _layer_forward(layer: Layer, x: np.ndarray) -> np.ndarray:
    """The layer's output in float64, at inference (dropout is the identity then)."""
    if isinstance(layer, Dense):
        return x @ np.asarray(layer.params["W"], np.float64).T + np.asarray(layer.params["b"])
    if isinstance(layer, Activation):
        return layer.definition.forward(x, layer.alpha)
    if isinstance(layer, Dropout):
        return x
    raise _no_rule(layer)


def _layer_backward(layer: Layer, x: np.ndarray, out: np.ndarray, g: np.ndarray) -> np.ndarray:
    """∂L/∂(layer input) from ∂L/∂(layer output) ``g``; ``x`` and ``out`` from the forward pass."""
    if isinstance(layer, Dense):
        return g @ np.asarray(layer.params["W"], np.float64)
    if isinstance(layer, Activation):
        return g * layer.definition.derivative(x, out, layer.alpha)
    if isinstance(layer, Dropout):
        return g
    raise _no_rule(layer)


def _loss_and_grad(
    net: Sequential, trainer: Trainer, out: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """The loss of one sample and ∂L/∂ŷ, computed by the engine's own loss kernel in float64."""
    out = np.ascontiguousarray(out, dtype=np.float64)
    grad = np.empty_like(out)
    if trainer.loss == "cross_entropy":
        target = np.ascontiguousarray(y.reshape(-1), dtype=np.int64)
    else:
        target = np.ascontiguousarray(y.reshape(out.shape), dtype=np.float64)
    value = net.backend.loss(trainer.loss, out, target, grad, trainer.info.delta)
    return float(value), grad


def _spell_target(y: np.ndarray) -> str:
    flat = np.asarray(y).reshape(-1)
    if flat.size == 1:
        v = flat[0]
        return str(int(v)) if float(v).is_integer() else f"{float(v):.4g}"
    return "(" + ", ".join(f"{float(v):.3g}" for v in flat) + ")"


SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SUBSCRIPTS = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉,")


def _unit_name(net: Sequential, index: int, kind: str, j: int, k: int) -> str:
    """The entry as the derivation names it: Dense layers counted from 1 (``W¹₀,₂``), with
    the engine's layer index beside it where the two differ (activations count there)."""
    layer = sum(isinstance(lay, Dense) for lay in net.layers[: index + 1])
    symbol = "W" if kind == "W" else "b"
    sub = f"{j},{k}" if kind == "W" else str(j)
    name = f"{symbol}{str(layer).translate(SUPERSCRIPTS)}{sub.translate(SUBSCRIPTS)}"
    engine = f" (the engine's layer {index})" if index != layer else ""
    bias = "" if kind == "W" else "bias of "
    return f"{name}: {bias}unit {j} of layer {layer}{engine}"


def chain_rule(
    net: Sequential, trainer: Trainer, X: np.ndarray, y: np.ndarray, param: str, sample: int
) -> ChainRule:
    """``∂L/∂w = δ_j · a_k`` for one parameter entry and one training sample, in float64.

    Raises:
        ValueError: when ``param`` does not name an entry of this network.
    """
    index, kind, j, k = parse_param(param)
    layer = net.layers[index] if index < len(net.layers) else None
    if not isinstance(layer, Dense) or j >= layer.units or (kind == "W" and k >= layer.in_features):
        raise ValueError(f"{param} is not an entry of this network")
    sample = sample % len(X)
    inputs, a = [], np.asarray(X[sample : sample + 1], dtype=np.float64)
    for lay in net.layers:
        inputs.append(a)
        a = _layer_forward(lay, a)
    loss, g = _loss_and_grad(net, trainer, a, np.asarray(y[sample : sample + 1]))
    outputs = [*inputs[1:], a]
    for i in range(len(net.layers) - 1, index, -1):
        g = _layer_backward(net.layers[i], inputs[i], outputs[i], g)
    delta = float(g[0, j])
    source = float(inputs[index][0, k]) if kind == "W" else 1.0
    name = f"{index}.{kind}"
    value = net.params[name][j, k] if kind == "W" else net.params[name][j]
    batch = net.grads[name][j, k] if kind == "W" else net.grads[name][j]
    return ChainRule(
        param=param,
        value=float(value),
        sample=sample,
        x=tuple(float(v) for v in X[sample][:4]),
        y=_spell_target(y[sample]),
        loss=loss,
        delta=delta,
        a=source,
        grad=delta * source,
        batch_grad=float(batch),
        unit=_unit_name(net, index, kind, j, k),
        source=f"input {k}" if kind == "W" else "bias",
    )
