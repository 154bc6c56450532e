"""Measurements for the course's closer looks: each hidden unit's map, activation statistics,
the loss against ŷ, a two-parameter loss surface, augmented images and the test images missed.

Like :mod:`tui.session.probes`, everything that touches the network runs on the training thread
between two steps and returns a small record the widget draws. Forward passes here are at
inference (dropout off) and never cache, so they leave training's state alone. Activations come
from their one definition (``engine.activations``); losses against ŷ are written out in NumPy
here and checked against the engine's kernels by the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from engine.activations import ACTIVATIONS, ActivationDef
from engine.augment import Augment
from engine.layers import Activation, Dense, Dropout, Layer
from engine.layers.blocks import Residual
from engine.network import Sequential
from engine.trainer import Trainer
from tui.session import probes_nets
from tui.session.probes import (
    EVAL_ROWS,
    PLANE,
    class_one_probability,
    grid_points,
    plane_extent,
)
from tui.session.records import FloatArray, Scene, View
from tui.session.views import Probe, walk

MAP_SIZE = 32  # pixels a side of each unit's map
MAX_UNITS = 16  # unit maps drawn at most
SATURATED = 0.01  # |σ′(z)| below this: the unit passes (almost) no gradient back
LOSS_SAMPLES = 40  # training samples marked on the loss curves
SURFACE_SIZE = 41  # grid points a side of the loss surface
MAX_SURFACE = 240  # grid points a side at most
FAR = 1e4  # parameter values beyond this (a diverging run) are left off the path
AUGMENTED = 6  # training images shown beside their augmented copies
MISTAKES = 12  # misclassified test images shown at most


def measured_by(probe: Callable[[Probe], object]) -> Callable[[Probe], View]:
    """A probe of this module as a view's ``probe``: the records here are views too, kept
    beside their probes rather than in ``tui.session.records`` (which they would import)."""
    return cast(Callable[[Probe], View], probe)


def _host(net: Sequential, x: object) -> FloatArray:
    return np.array(net.backend.to_host(x), dtype=np.float64)


def _input_rows(net: Sequential, X: np.ndarray) -> Any:
    return net.as_input(np.asarray(X, dtype=np.float64))


# ---------------------------------------------------------------------- each hidden unit's map
@dataclass(frozen=True, slots=True, eq=False)
class UnitMaps:
    """What each hidden unit computes over the input plane, and the output's map.

    Attributes:
        names: each map's unit, ``"0.3"`` for unit 3 of the Dense layer at position 0 (its
            weights are row 3 of ``0.W``), after that layer's activation.
        maps: (units, rows, cols) outputs of those units over the grid, row 0 at the top.
        scaled: the same maps scaled to [-1, 1] for colouring (the activation's range, or the
            map's largest size for an unbounded one).
        output: the output's map (probability of class 1, or the predicted value), scaled to
            [-1, 1] as the decision map colours it.
        hidden: how many hidden units the network has (``len(names)`` may be fewer).
        extent: (x1 low, x1 high, x2 low, x2 high) of the grid.
        activations: the activation after each map's layer (``"tanh"``, ``"identity"``).
    """

    names: tuple[str, ...]
    maps: FloatArray
    scaled: FloatArray
    output: FloatArray
    hidden: int
    extent: tuple[float, float, float, float]
    activations: tuple[str, ...]


def hidden_dense(net: Sequential) -> list[int]:
    """Positions of the Dense layers before the last one (the hidden layers)."""
    dense = [i for i, layer in enumerate(net.layers) if isinstance(layer, Dense)]
    return dense[:-1]


def units_apply(net: Sequential, n_features: int, plane: bool, image: bool) -> bool:
    """A plain Dense stack with hidden layers on points of a plane (or two raw inputs)."""
    two_inputs = n_features == 2 and not image
    return probes_nets.is_mlp(net) and bool(hidden_dense(net)) and (plane or two_inputs)


def _grid_inputs(scene: Scene, size: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    from engine import datasets

    extent = plane_extent(scene)
    unit = grid_points(size, size) / (2 * PLANE) + 0.5  # [0, 1]², row 0 at the top
    x0, x1, y0, y1 = extent
    points = np.stack([x0 + unit[:, 0] * (x1 - x0), y0 + unit[:, 1] * (y1 - y0)], axis=1)
    if scene.plane is not None:
        return datasets.expand_features(points, scene.data.feature_names), extent
    return points, extent


def _activation_range(defn: ActivationDef) -> tuple[float, float] | None:
    """The bounded range of an activation's output, or None where it is unbounded."""
    return {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "step": (0.0, 1.0)}.get(defn.name)


def _scale(values: np.ndarray, span: tuple[float, float] | None) -> np.ndarray:
    if span is not None:
        lo, hi = span
        return np.clip(2.0 * (values - lo) / (hi - lo) - 1.0, -1.0, 1.0)
    top = float(np.max(np.abs(values))) if values.size else 0.0
    return values / top if top > 0 else np.zeros_like(values)


def unit_maps(scene: Scene, net: Sequential, trainer: Trainer, size: int = MAP_SIZE) -> UnitMaps:
    """Each hidden unit's output over the plane (after its activation), and the output's map."""
    X, extent = _grid_inputs(scene, size)
    hidden = set(hidden_dense(net))
    names: list[str] = []
    maps: list[np.ndarray] = []
    scaled: list[np.ndarray] = []
    kinds: list[str] = []
    x = _input_rows(net, X)
    layers = net.layers
    for i, layer in enumerate(layers):
        x = layer.forward(x, False, False)
        if i not in hidden:
            continue
        out, defn = x, ACTIVATIONS["identity"]
        for after in layers[i + 1 :]:  # the activation after the Dense (dropout in between)
            if isinstance(after, Activation):
                out, defn = after.forward(out, False, False), after.definition
                break
            if not isinstance(after, Dropout):
                break
        values = _host(net, out)
        for j in range(values.shape[1]):
            names.append(f"{i}.{j}")
            kinds.append(defn.name)
            grid = values[:, j].reshape(size, size)
            maps.append(grid)
            scaled.append(_scale(grid, _activation_range(defn)))
    out = _host(net, net._forward(_input_rows(net, X), False, cache=False))
    if scene.data.task == "regression":
        value = out[:, 0]
        top = float(np.max(np.abs(np.asarray(scene.data.y_train, np.float64)))) or 1.0
        output = np.clip(value / top, -1.0, 1.0)
    else:
        output = 2.0 * class_one_probability(trainer, out) - 1.0
    shown = slice(0, MAX_UNITS)
    return UnitMaps(
        names=tuple(names[shown]),
        maps=np.array(maps[shown]),
        scaled=np.array(scaled[shown]),
        output=output.reshape(size, size),
        hidden=len(names),
        extent=extent,
        activations=tuple(kinds[shown]),
    )


# ---------------------------------------------------------------------- activations at work
@dataclass(frozen=True, slots=True)
class LayerActivity:
    """How one activation layer's units fare on the training set.

    Attributes:
        layer: its path, as parameter names start (``"1"``, ``"2.1"`` inside a block).
        name: the activation's config name (``"relu"``).
        units: how many units it has (values per sample).
        dead: for ReLU, the share of units never active (z ≤ 0 on every sample, so no gradient
            reaches their weights); 0 for leaky ReLU, whose units cannot die; else None.
        saturated: the share of (sample, unit) pairs where |σ′(z)| < ``SATURATED``.
    """

    layer: str
    name: str
    units: int
    dead: float | None
    saturated: float


@dataclass(frozen=True, slots=True, eq=False)
class Activity:
    """Every activation layer's dead and saturated shares, measured on training rows."""

    layers: tuple[LayerActivity, ...]
    rows: int


DEAD_ALWAYS_ZERO = ("leaky_relu",)
"""Activations whose units can never die: their slope below zero is α > 0 (as
``engine.inspect.dead_units`` counts them)."""


def activity(net: Sequential, X: np.ndarray, threshold: float = SATURATED) -> Activity:
    """Dead and saturated shares of each activation layer on the rows ``X`` (inference)."""
    X = np.asarray(X)[:EVAL_ROWS]
    found: list[LayerActivity] = []

    def visit(layers: list[Layer], x: Any, prefix: str) -> Any:
        for i, layer in enumerate(layers):
            if isinstance(layer, Residual):
                visit(layer.inner, x, f"{prefix}{i}.")
            out = layer.forward(x, False, False)
            if isinstance(layer, Activation) and layer.definition.name != "identity":
                z = _host(net, x).reshape(len(X), -1)
                a = _host(net, out).reshape(len(X), -1)
                defn = layer.definition
                slope = np.abs(defn.derivative(z, a, layer.alpha))
                dead = None
                if defn.name == "relu":
                    dead = float(np.mean(np.all(z <= 0, axis=0)))
                elif defn.name in DEAD_ALWAYS_ZERO:
                    dead = 0.0
                found.append(
                    LayerActivity(
                        f"{prefix}{i}",
                        defn.name,
                        z.shape[1],
                        dead,
                        float(np.mean(slope < threshold)),
                    )
                )
            x = out
        return x

    visit(net.layers, net.as_input(X), "")
    return Activity(tuple(found), len(X))


def curves(name: str, z: np.ndarray, alpha: float | None = None) -> tuple[FloatArray, FloatArray]:
    """σ(z) and σ′(z) of the activation called ``name``, from its one definition."""
    defn = ACTIVATIONS[name]
    al = defn.alpha if alpha is None else alpha
    a = defn.forward(z, al or 0.0)
    return np.asarray(a, np.float64), np.asarray(defn.derivative(z, a, al or 0.0), np.float64)


def saturated_ranges(
    z: np.ndarray, slope: np.ndarray, threshold: float = SATURATED
) -> list[tuple[float, float]]:
    """The runs of ``z`` where |σ′| < ``threshold``: (from, to) of each, in order."""
    flat = np.abs(slope) < threshold
    runs: list[tuple[float, float]] = []
    start = None
    for k, f in enumerate(flat.tolist()):
        if f and start is None:
            start = k
        if not f and start is not None:
            runs.append((float(z[start]), float(z[k - 1])))
            start = None
    if start is not None:
        runs.append((float(z[start]), float(z[-1])))
    return runs


def has_activation(net: Sequential) -> bool:
    """Whether any layer (inside blocks too) is an activation other than the identity."""
    return any(
        isinstance(lay, Activation) and lay.definition.name != "identity"
        for lay in walk(net.layers)
    )


# ---------------------------------------------------------------------- the loss against ŷ
def loss_of(name: str, yhat: np.ndarray, y: np.ndarray, delta: float = 1.0) -> FloatArray:
    """The per-sample loss ``name`` at prediction ŷ and target y (ŷ a probability for the
    cross-entropies, whatever the network's last layer gives)."""
    yhat, y = np.asarray(yhat, np.float64), np.asarray(y, np.float64)
    if name in ("bce", "bce_logits"):
        p = np.clip(yhat, 1e-12, 1.0 - 1e-12)
        return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    if name == "mse":
        return (yhat - y) ** 2
    if name == "perceptron":
        return (yhat != y).astype(np.float64)  # ŷ = H(z), 0 or 1
    if name == "huber":
        r = np.abs(yhat - y)
        return np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))
    raise KeyError(name)


def grad_z(
    name: str, yhat: np.ndarray, y: np.ndarray, sigmoid: bool, delta: float = 1.0
) -> FloatArray:
    """∂L/∂z, z the last layer's sum, where ŷ = σ(z) (``sigmoid``) or ŷ = z."""
    yhat, y = np.asarray(yhat, np.float64), np.asarray(y, np.float64)
    if name in ("bce", "bce_logits"):
        return yhat - y  # σ′ cancels the log's 1/(ŷ(1 − ŷ))
    if name == "perceptron":
        return yhat - y  # passed straight through the step (ŷ = H(z))
    if name == "mse":
        g = 2.0 * (yhat - y)
    elif name == "huber":
        g = np.clip(yhat - y, -delta, delta)
    else:
        raise KeyError(name)
    return g * yhat * (1.0 - yhat) if sigmoid else g


@dataclass(frozen=True, slots=True, eq=False)
class LossAtSamples:
    """Where training samples sit on the loss curve now.

    Attributes:
        loss: the run's loss (``"bce_logits"``, ``"mse"`` …).
        regression: whether targets are numbers (the curve is then drawn against ŷ − y).
        sigmoid: whether ŷ = σ(z) (the output passes through a sigmoid, in the loss or the net).
        yhat: ŷ of a few training samples (a probability for classes).
        y: their targets.
        mean: the mean loss over those rows (the trainer's measure).
        delta: Huber's δ.
        z: for the perceptron, each sample's z, the step unit's input (ŷ = H(z)); else None.
    """

    loss: str
    regression: bool
    sigmoid: bool
    yhat: FloatArray
    y: FloatArray
    mean: float
    delta: float = 1.0
    z: FloatArray | None = None


LOSS_CURVES = ("bce", "bce_logits", "mse", "huber", "perceptron")


def lossfn_applies(loss: str, out_features: int, task: str, outputs: int) -> bool:
    """One output per sample, classes 0/1 or a number, and a loss the curve knows."""
    return out_features == 1 and outputs == 1 and loss in LOSS_CURVES and task != "multiclass"


def _ends_in_sigmoid(net: Sequential) -> bool:
    last = net.layers[-1]
    return isinstance(last, Activation) and last.definition.name == "sigmoid"


def loss_at_samples(scene: Scene, net: Sequential, trainer: Trainer) -> LossAtSamples:
    """ŷ and targets of the first training samples, and the loss they give."""
    data = scene.data
    count = min(len(data.X_train), LOSS_SAMPLES)
    X, y = data.X_train[:count], np.asarray(data.y_train[:count], np.float64).reshape(count)
    x = net.as_input(X)
    for layer in net.layers[:-1]:
        x = layer.forward(x, False, False)
    z = _host(net, x).reshape(count, -1)[:, 0]
    out = _host(net, net.layers[-1].forward(x, False, False)).reshape(count, -1)[:, 0]
    regression = data.task == "regression"
    logits = trainer.info.output == "logits"
    yhat = class_one_probability(trainer, out[:, None]) if logits else out
    sigmoid = logits or _ends_in_sigmoid(net)
    mean, _ = trainer.evaluate(X, data.y_train[:count])
    perceptron = trainer.loss == "perceptron"
    return LossAtSamples(
        trainer.loss,
        regression,
        sigmoid,
        yhat,
        y,
        float(mean),
        float(trainer.info.delta),
        z if perceptron else None,
    )


# ---------------------------------------------------------------------- a two-parameter surface
@dataclass(frozen=True, slots=True, eq=False)
class Surface:
    """The data loss over a grid of the network's two parameters, and the path trained so far.

    Attributes:
        names: the two parameters (``"0.W[0,0]"``, ``"0.b[0]"``): horizontal, then vertical.
        xs, ys: the grid's values of each, increasing; ``loss[r, c]`` is at (xs[c], ys[r]).
        loss: the data loss at every grid point, (len(ys), len(xs)).
        path: (points, 2) parameter values at each measurement of this run, the last now.
        steps: the step of each path point.
        current: the data loss at the current point.
        optimizer: the run's optimiser (``"adam"``), to label its path.
    """

    names: tuple[str, str]
    xs: FloatArray
    ys: FloatArray
    loss: FloatArray
    path: FloatArray
    steps: tuple[int, ...]
    current: float
    optimizer: str


def two_params(net: Sequential) -> tuple[str, str] | None:
    """The names of a network's two scalar parameters, when it has exactly two numbers to train
    (one input, one Dense unit and no hidden layer: w and b), else None."""
    if not probes_nets.is_mlp(net):
        return None
    names = [n for n, p in net.params.items() for _ in range(int(p.size))]
    if len(names) != 2 or len(set(names)) != 2:
        return None
    return (f"{names[0]}[0,0]" if names[0].endswith(".W") else f"{names[0]}[0]", f"{names[1]}[0]")


def surface_losses(
    net: Sequential,
    loss: str,
    X: np.ndarray,
    y: np.ndarray,
    ws: np.ndarray,
    bs: np.ndarray,
    delta: float = 1.0,
) -> FloatArray:
    """The data loss at every (w, b) of the grid ``ws`` × ``bs`` for a one-unit network
    ŷ = f(w·x + b) (f its activations in order), in float64: (len(bs), len(ws))."""
    x = np.asarray(X, np.float64).reshape(-1)
    t = np.asarray(y, np.float64).reshape(-1)
    out = np.empty((len(bs), len(ws)))
    for row, b in enumerate(bs):  # a row at a time: (len(ws), samples) numbers
        z = ws[:, None] * x[None, :] + b
        for layer in net.layers:
            if isinstance(layer, Activation):
                z = layer.definition.forward(z, layer.alpha)
        if loss == "bce_logits":
            z = 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))
        out[row] = loss_of(loss, z, t[None, :], delta).mean(axis=1)
    return out


class PathBook:
    """The parameter path of the run shown, and a window that holds every path of these data.

    The window only grows while the data and the network's parameters stay the same, so earlier
    runs' paths (kept by the widget) stay on the map.
    """

    def __init__(self) -> None:
        self.scene: Scene | None = None
        self.key: tuple | None = None
        self.points: list[tuple[float, float]] = []
        self.steps: list[int] = []
        self.window: tuple[float, float, float, float] | None = None

    def add(
        self,
        scene: Scene,
        names: tuple[str, str],
        point: tuple[float, float],
        step: int,
        loss: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> None:
        """Adds the point of ``step``; ``loss(ws, bs)`` (a grid of losses) places a new window
        around both the point and the lowest loss near it, so the path has room to go there."""
        key = (scene.experiment.data, names, scene.experiment.train.loss)
        if key != self.key:
            self.key, self.window = key, None
        if scene is not self.scene:
            self.scene, self.points, self.steps = scene, [], []
        if self.steps and self.steps[-1] == step:
            return
        if not all(math.isfinite(v) and abs(v) <= FAR for v in point):
            return  # a diverged run: its map keeps the window it had
        self.points.append(point)
        self.steps.append(step)
        if self.window is None:
            self.window = first_window(point, loss)
        self._grow(point)

    def _grow(self, point: tuple[float, float]) -> None:
        """Widens the window by half again wherever a point lies outside its middle part."""
        x, y = point
        assert self.window is not None
        x0, x1, y0, y1 = self.window
        mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        if x < x0 + mx:
            x0 -= 0.5 * (x1 - x0)
        if x > x1 - mx:
            x1 += 0.5 * (x1 - x0)
        if y < y0 + my:
            y0 -= 0.5 * (y1 - y0)
        if y > y1 - my:
            y1 += 0.5 * (y1 - y0)
        self.window = (x0, x1, y0, y1)


def first_window(
    point: tuple[float, float], loss: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> tuple[float, float, float, float]:
    """A window holding ``point`` and the lowest loss of a coarse grid around it, with a margin."""
    x, y = point
    reach = 3.0 * max(1.0, abs(x), abs(y))
    ws, bs = np.linspace(x - reach, x + reach, 25), np.linspace(y - reach, y + reach, 25)
    grid = np.nan_to_num(loss(ws, bs), nan=np.inf)
    r, c = np.unravel_index(int(np.argmin(grid)), grid.shape)
    lo_x, hi_x = sorted((x, float(ws[c])))
    lo_y, hi_y = sorted((y, float(bs[r])))
    px, py = max(0.5, 0.4 * (hi_x - lo_x)), max(0.5, 0.4 * (hi_y - lo_y))
    return (lo_x - px, hi_x + px, lo_y - py, hi_y + py)


PATHS = PathBook()
"""The training thread's one path book (the view is measured there only)."""


def surface(
    scene: Scene,
    net: Sequential,
    trainer: Trainer,
    book: PathBook | None = None,
    size: int | tuple[int, int] = SURFACE_SIZE,
) -> Surface:
    """The loss surface around this run's path, with the path so far (the current point added).

    ``size`` is the grid's points a side, or (along w, along b): the widget asks for one point
    per cell of its map.
    """
    cols, rows = (size, size) if isinstance(size, int) else size
    cols, rows = min(max(cols, 2), MAX_SURFACE), min(max(rows, 2), MAX_SURFACE)
    book = PATHS if book is None else book
    names = two_params(net)
    assert names is not None
    flat = [float(v) for p in net.params.values() for v in np.asarray(p, np.float64).ravel()]
    point = (flat[0], flat[1])
    data = scene.data
    X, y = data.X_train[:EVAL_ROWS], data.y_train[:EVAL_ROWS]

    def losses(ws: np.ndarray, bs: np.ndarray) -> np.ndarray:
        return surface_losses(net, trainer.loss, X, y, ws, bs, trainer.info.delta)

    book.add(scene, names, point, trainer.step, losses)
    x0, x1, y0, y1 = book.window or (-1.0, 1.0, -1.0, 1.0)
    xs, ys = np.linspace(x0, x1, cols), np.linspace(y0, y1, rows)
    loss = losses(xs, ys)
    here = losses(np.array([point[0]]), np.array([point[1]]))
    return Surface(
        names=names,
        xs=xs,
        ys=ys,
        loss=loss,
        path=np.array(book.points, dtype=np.float64).reshape(-1, 2),
        steps=tuple(book.steps),
        current=float(here[0, 0]),
        optimizer=scene.experiment.train.optimizer,
    )


# ---------------------------------------------------------------------- augmented images
@dataclass(frozen=True, slots=True, eq=False)
class Augmented:
    """A few training images and what augmentation makes of them this time.

    Attributes:
        first: the index of the first training image shown.
        originals, augmented: (k, rows, cols) the images and their augmented copies.
        settings: what augmentation does, e.g. ``"shift ≤ 2 px · flip · noise 0.05"``.
    """

    first: int
    originals: FloatArray
    augmented: FloatArray
    settings: str


def augment_settings(shift: int, flip: bool, noise: float) -> str:
    """What augmentation does, in a few words: ``"shift ≤ 2 px · flip · noise 0.05"``."""
    parts = [f"shift ≤ {shift} px" if shift else "", "flip" if flip else ""]
    parts.append(f"noise {noise:g}" if noise else "")
    return " · ".join(p for p in parts if p) or "none"


def augmented(scene: Scene, trainer: Trainer, sample: int, count: int = AUGMENTED) -> Augmented:
    """Copies of a few training images, augmented as training does (a twin of the run's
    augmentation, seeded by the step, so training's own random draws are left alone)."""
    data, t = scene.data, scene.experiment.train
    rows, cols = data.image_shape or (1, data.n_features)
    n = len(data.X_train)
    first = sample % n
    index = (first + np.arange(min(count, n))) % n
    originals = np.array(data.X_train[index], dtype=np.float64)
    shape = data.sample_shape or (rows, cols)
    run_aug = trainer.augment
    shift = int(getattr(run_aug, "shift", t.augment_shift))
    flip = bool(getattr(run_aug, "flip", t.augment_flip))
    noise = float(getattr(run_aug, "noise", t.augment_noise))
    twin = Augment(shape, shift, flip, noise, seed=trainer.step)
    copies = np.ascontiguousarray(originals.copy())
    twin(copies)
    first_channel = rows * cols
    return Augmented(
        first=first,
        originals=originals[:, :first_channel].reshape(-1, rows, cols),
        augmented=copies[:, :first_channel].reshape(-1, rows, cols),
        settings=augment_settings(shift, flip, noise),
    )


# ---------------------------------------------------------------------- the test images missed
@dataclass(frozen=True, slots=True, eq=False)
class Mistakes:
    """Misclassified test images, from the chosen one on.

    Attributes:
        index: each image's row in the test set.
        images: (k, rows, cols) the images.
        true, predicted: their classes.
        wrong: how many of the ``checked`` test images are misclassified.
        checked: how many test images were checked.
    """

    index: tuple[int, ...]
    images: FloatArray
    true: tuple[int, ...]
    predicted: tuple[int, ...]
    wrong: int
    checked: int


def mistakes(scene: Scene, net: Sequential, trainer: Trainer, sample: int) -> Mistakes:
    """Up to ``MISTAKES`` misclassified test images, the first from test row ``sample`` on."""
    data = scene.data
    rows, cols = data.image_shape or (1, data.n_features)
    X = data.X_test[:EVAL_ROWS]
    y = np.asarray(data.y_test[:EVAL_ROWS]).reshape(-1).astype(np.int64)
    out = _host(net, net._forward(net.as_input(X), False, cache=False)).reshape(len(X), -1)
    predicted = trainer.predict_classes(out)
    wrong = np.flatnonzero(predicted != y)
    start = sample % len(X)
    order = np.concatenate([wrong[wrong >= start], wrong[wrong < start]])[:MISTAKES]
    return Mistakes(
        index=tuple(int(i) for i in order),
        images=np.array(X[order], dtype=np.float64)[:, : rows * cols].reshape(-1, rows, cols),
        true=tuple(int(v) for v in y[order]),
        predicted=tuple(int(v) for v in predicted[order]),
        wrong=len(wrong),
        checked=len(X),
    )
