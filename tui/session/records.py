"""What the training thread tells the interface: small, frozen records, free of any UI.

The training session (``tui.session.worker``) never touches a widget. About ten times a second it
hands a :class:`Snapshot` to a ``post`` callback; the main screen wraps it in a Textual message
(``tui.messages``) and posts it (``post_message`` is thread-safe). Widgets draw only what
snapshots bring.

The records hold copies (never views into the network's buffers), so the interface can read them
while training goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.datasets import DataSplit
from engine.experiment.config import Experiment
from engine.network import Sequential
from engine.optim import Optimizer

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LayerRow:
    """One row of the layer list: a layer with parameters and the parameter-free layers after it.

    Attributes:
        index: the layer's position in ``net.layers`` (the ``2`` of ``"2.W"``).
        label: what the row computes, e.g. ``"Conv2D·ReLU·MaxPool2D"`` or
            ``"Res(Dense·Tanh)"`` (a residual block around Dense and Tanh).
        shape: one sample's shape after the row's last layer.
        params: the names of the row's parameters (``"2.0.W"``, ``"2.0.b"`` …).
        size: how many numbers they hold.
    """

    index: int
    label: str
    shape: tuple[int, ...]
    params: tuple[str, ...]
    size: int


@dataclass(frozen=True, slots=True, eq=False)
class Scene:
    """What stays fixed for one network: the experiment, the data and the network's shape.

    A new ``Scene`` (a new ``generation``) comes with every reset and rebuild; widgets that keep
    a history (the loss plot) start it again then.

    Attributes:
        generation: counts resets and rebuilds, from 1.
        experiment: the experiment being trained.
        data: the train/test split.
        widths: units per Dense layer, input first (``[2, 8, 8, 1]``).
        param_names: the network's parameter names in order (``"0.W"``, ``"0.b"`` …).
        dense_layers: the index in ``net.layers`` of each Dense layer.
        plane: for 2-D sets, the training and test points in the plane (x1, x2), else None.
        view: the picture shown first: ``views[0]``.
        views: every view that suits this network and data (``tui.session.views``: those of
            the network's insides, such as "filters", before the one of its predictions, such
            as "boundary"), the first shown first.
        mlp: whether the network is a plain stack of Dense, activation and dropout layers, the
            one kind the diagram and the per-weight chain rule ``δ·a`` draw.
        param_shapes: the shape of each parameter, in the order of ``param_names``.
        rows: the layer list: a row per layer with parameters.
    """

    generation: int
    experiment: Experiment
    data: DataSplit
    widths: tuple[int, ...]
    param_names: tuple[str, ...]
    dense_layers: tuple[int, ...]
    plane: tuple[FloatArray, FloatArray] | None
    view: str
    views: tuple[str, ...] = ()
    mlp: bool = True
    param_shapes: tuple[tuple[int, ...], ...] = ()
    rows: tuple[LayerRow, ...] = ()


@dataclass(frozen=True, slots=True)
class LossPoint:
    """Loss and accuracy on the training and test sets at one step (no accuracy for regression)."""

    step: int
    train_loss: float
    test_loss: float
    train_acc: float | None
    test_acc: float | None


@dataclass(frozen=True, slots=True, eq=False)
class StepCurve:
    """The loss of each mini-batch, thinned to a bounded number of points.

    Attributes:
        steps: the step of each point (1 after the first mini-batch).
        losses: that mini-batch's data loss, before its update.
    """

    steps: FloatArray
    losses: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class RunRecord:
    """One run of a session, kept to compare it with the runs after it.

    A session's run ends when a reset or a changed experiment starts a new one; the loss plot
    draws the earlier runs beside the current one and the runs table gives their numbers.

    Attributes:
        label: what the run changed from the one before (``"lr 0.03 → 3"``), or its name.
        experiment: the experiment as it ended (with the learning rate then in use).
        points: the loss plot's measured points (step, train/test loss, accuracy), thinned.
        step_curve: the loss of each mini-batch, thinned.
        per_epoch: mini-batches per epoch (to draw the run against epochs).
        epochs: whole epochs trained.
        final: the last epoch's figures (train loss and accuracy are the epoch's means over its
            mini-batches; test, the test set's at the epoch's end), None before the first epoch.
        best_test_loss: the lowest test loss at an epoch's end (NaN before the first epoch).
        best_test_acc: the highest test accuracy at an epoch's end (None: no accuracy).
        state: how it ended: "training", "finished", "diverged" or "stopped".
    """

    label: str
    experiment: Experiment
    points: tuple[LossPoint, ...]
    step_curve: StepCurve
    per_epoch: int
    epochs: int
    final: LossPoint | None
    best_test_loss: float
    best_test_acc: float | None
    state: str = "training"


@dataclass(frozen=True, slots=True, eq=False)
class Grid:
    """Predictions on a grid over the area ``extent`` of the input plane, row 0 at the top.

    ``values`` holds the probability of class 1 for classification, the predicted value for
    regression. ``extent`` is (x1 low, x1 high, x2 low, x2 high): [-6, 6]² for the playground's
    sets, the data's range with a margin for other two-input sets. Cell (r, c) of a ``rows`` ×
    ``cols`` grid covers x1 in ``low + [c, c + 1] · (high − low) / cols``, and x2 likewise from
    the top.
    """

    values: npt.NDArray[np.float32]
    regression: bool
    extent: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True, eq=False)
class Curve:
    """A 1-D fit: the prediction along x, for drawing over the data points."""

    x: FloatArray
    y: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class Classes:
    """Confusion matrix on the test set, and the predicted class of the first test samples."""

    confusion: npt.NDArray[np.int64]
    predicted: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class Scatter:
    """Regression on any other data: predicted against true value on the test set."""

    true: FloatArray
    predicted: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class FeatureMaps:
    """A CNN's first convolution: its filters, and what they make of one test image.

    Attributes:
        layer: the convolution's index in ``net.layers``.
        activation: the activation applied after it ("" for none).
        filters: its weights W, (out channels, in channels, k, k).
        image: the test image, first channel, (rows, cols).
        maps: the feature maps after the convolution and activation, (out channels, h, w).
        sample: the test image's index.
        label: its true class; predicted: the class the network gives it.
    """

    layer: int
    activation: str
    filters: FloatArray
    image: FloatArray
    maps: FloatArray
    sample: int
    label: str
    predicted: str


@dataclass(frozen=True, slots=True, eq=False)
class SequenceFit:
    """One test sequence through a recurrent network: prediction, target and hidden state.

    Attributes:
        sample: the test sequence's index.
        target: the target at every step (one target per sequence: that value at every step).
        predicted: the prediction at every step; with one target per sequence, the read-out
            of each hidden state h_t, the answer the network would give if the sequence ended
            at t (only the last one is trained).
        per_step: whether the network is trained to predict at every step.
        marks: (steps, values) of inputs to point out (the adding problem's marked values).
        hidden: the last recurrent layer's hidden states, (units, steps).
        layer: that layer, e.g. ``"LSTM, layer 0"``.
    """

    sample: int
    target: FloatArray
    predicted: FloatArray
    per_step: bool
    marks: tuple[FloatArray, FloatArray]
    hidden: FloatArray
    layer: str


@dataclass(frozen=True, slots=True, eq=False)
class AttentionMap:
    """What a text model reads and writes for one test window.

    Attributes:
        sample: the test window's index.
        weights: one head's attention weights A[query, key] of the last forward, (T, T);
            None when the network has no attention layer.
        block: which attention layer (0-based) and head: which of ``blocks`` × ``heads``
            (the view and the derivation number both from 1).
        layer: that attention layer's path, as parameter names start (``"2.1"``).
        text: the window's characters; target: the true next character at each position.
        predicted: the most likely next character at each position (argmax).
        generated: a continuation of the window, one most likely character at a time.
    """

    sample: int
    weights: FloatArray | None
    block: int
    head: int
    blocks: int
    heads: int
    layer: str
    text: str
    target: str
    predicted: str
    generated: str


@dataclass(frozen=True, slots=True, eq=False)
class Reconstructions:
    """Test images beside what an autoencoder draws back from its narrow middle.

    Attributes:
        first: the index of the first test image.
        inputs: the images, (k, rows, cols); outputs: their reconstructions.
        errors: the mean squared error of each reconstruction.
    """

    first: int
    inputs: FloatArray
    outputs: FloatArray
    errors: FloatArray


View = Grid | Curve | Classes | Scatter | FeatureMaps | SequenceFit | AttentionMap | Reconstructions


@dataclass(frozen=True, slots=True)
class ChainRule:
    """The gradient of one parameter for one sample, factor by factor, in numbers.

    For ``w = l.W[j,k]``: ``∂L/∂w = ∂L/∂z_j · ∂z_j/∂w = δ_j · a_k``, with ``z_j`` the unit that
    ``w`` feeds and ``a_k`` the input it multiplies (1 for a bias).

    Attributes:
        param: the parameter, e.g. ``"2.W[0,1]"``.
        value: the parameter's current value.
        sample: index of the training sample used.
        x: that sample's inputs.
        y: its target.
        loss: its loss.
        delta: ``δ_j = ∂L/∂z_j``.
        a: the input ``a_k`` (1.0 for a bias).
        grad: ``δ_j · a_k``.
        batch_grad: the engine's gradient of the last mini-batch for this parameter.
        unit: the entry and the unit it feeds, named as the derivation names them (Dense
            layers counted from 1), e.g. ``"W¹₀,₁: unit 0 of layer 1 (the engine's layer 0)"``.
        source: the input it multiplies, e.g. ``"input 1"`` (``"bias"`` for a bias).
    """

    param: str
    value: float
    sample: int
    x: tuple[float, ...]
    y: str
    loss: float
    delta: float
    a: float
    grad: float
    batch_grad: float
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class ParamNote:
    """The selected parameter where the per-weight chain rule ``δ·a`` is not drawn.

    Attributes:
        param: the entry, e.g. ``"0.W[3,0,1,2]"`` or ``"2.1.W_in[5,7]"``.
        value: its current value.
        batch_grad: the engine's gradient of the last mini-batch for it.
        shape: the shape of the whole parameter it belongs to.
        layer: where it sits, e.g. ``"Conv2D, layer 0"`` or ``"Dense in Residual 2"``.
        formula: what that layer computes, in one line (its docstring's first).
    """

    param: str
    value: float
    batch_grad: float
    shape: tuple[int, ...]
    layer: str
    formula: str


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """The state of training at one moment, with everything the main screen draws.

    Attributes:
        scene: the fixed part (data, network shape); the same object until a reset or rebuild.
        step: mini-batches trained so far.
        epoch: the current epoch (1-based; 0 before the first step).
        epochs: the experiment's epochs, after which training pauses ("finished").
        lr: the learning rate in use.
        paused: whether training waits.
        speed: training speed in steps per second (0 while paused).
        losses: loss points measured since the previous snapshot (often none or one).
        grad_norms: the gradient norm of each Dense layer's weights on the last mini-batch.
        weights: a copy of each Dense layer's weight matrix W.
        view: the picture of the predictions, or None when not measured this time.
        chain: the chain rule of the selected parameter (a ``ParamNote`` where ``δ·a`` is not
            drawn), or None.
        state: "training", "paused", "finished" (the experiment's epochs are done),
            "diverged" or "stopped".
        note: a message to show (divergence, early stopping), or "".
        layer_norms: ‖∂L/∂θ‖ of each row of ``scene.rows`` (all its parameters) on the last
            mini-batch.
        shown: which of ``scene.views`` is shown ("" for ``scene.view``).
        pace: the steps per second training is held to (``inf``: full speed, no cap).
        runs: the session's earlier runs, oldest first (the same tuple until one is added).
        run_label: the current run's label (what it changed from the run before).
        plot: what the loss plot draws: "epochs" (measured loss against epochs), "steps"
            (each mini-batch's loss against steps) or "table" (every run's numbers).
        step_curve: the current run's mini-batch losses, with ``plot`` "steps" (else None).
        per_epoch: mini-batches per epoch of the current run.
        current: the current run's record as it stands, with ``plot`` "table" (else None).
    """

    scene: Scene
    step: int
    epoch: int
    epochs: int
    lr: float
    paused: bool
    speed: float
    losses: tuple[LossPoint, ...]
    grad_norms: tuple[float, ...]
    weights: tuple[FloatArray, ...]
    view: View | None
    chain: ChainRule | ParamNote | None
    state: str
    note: str = ""
    layer_norms: tuple[float, ...] = ()
    shown: str = ""
    pace: float = float("inf")
    runs: tuple[RunRecord, ...] = ()
    run_label: str = ""
    plot: str = "epochs"
    step_curve: StepCurve | None = None
    per_epoch: int = 1
    current: RunRecord | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user asked for finished: ``ok`` False means ``text`` says what went wrong."""

    text: str
    ok: bool = True


@dataclass(frozen=True)
class NetCopy:
    """An independent copy of the network and its optimiser, for a derivation off this thread.

    Attributes:
        net: the network's twin, same weights.
        optimizer: an optimiser on the twin with the same hyper-parameters and state.
        experiment: the experiment (loss, penalties).
        x: the chosen training sample's inputs, shape (1, d).
        y: its target, shape (1, …).
        sample: the sample's index in the training set.
        step: the step the copy was taken at.
        batch_x, batch_y: the mini-batch the trainer's next step trains on (its gradient is
            the one the optimiser's update uses); batch_rows: its rows in the training set.
    """

    net: Sequential
    optimizer: Optimizer
    experiment: Experiment
    x: np.ndarray
    y: np.ndarray
    sample: int
    step: int
    batch_x: np.ndarray | None = None
    batch_y: np.ndarray | None = None
    batch_rows: np.ndarray | None = None
