"""The course's closer looks: where each view applies, its numbers against independent
computations, and the app showing each one (``v`` until its title) without errors."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import ContentSwitcher

from engine import inspect
from engine.activations import ACTIVATIONS
from engine.experiment.presets import get_preset
from tui.session import probes_learn as pl
from tui.session.probes import make_scene
from tui.session.views import views_for
from tui.widgets.activation_view import NAMES, ActivationView
from tui.widgets.canvas import Canvas
from tui.widgets.landscape_view import LandscapeView

LINE: dict = {"model": {"hidden": []}}  # one input, one Dense unit: w and b
PERCEPTRON: dict = {"model": {"hidden": [], "output": "step"}, "train": {"loss": "auto"}}
AUGMENTED: dict = {"train": {"augment_shift": 1, "augment_noise": 0.1}}


def build(preset: str, **changes):
    experiment = get_preset(preset)
    if changes:
        experiment = experiment.replace(**changes)
    run = experiment.build()
    return run, make_scene(1, run.experiment, run.data, run.net)


def shown_for(preset: str, **changes) -> tuple[str, ...]:
    run, _ = build(preset, **changes)
    return views_for(run.experiment, run.data, run.net)


# ---------------------------------------------------------------------- where each view applies
@pytest.mark.parametrize(
    ("preset", "changes", "present", "absent"),
    [
        ("quadrants", {}, {"units", "activations", "lossfn"}, {"landscape", "augment", "mistakes"}),
        ("xor", {}, {"units", "lossfn"}, {"landscape"}),
        ("xor", LINE, {"lossfn"}, {"units", "landscape"}),  # three parameters: w1, w2, b
        ("sine", LINE, {"landscape", "lossfn"}, {"units", "activations"}),
        ("sine", {}, {"activations", "lossfn"}, {"units", "landscape"}),
        ("digits", {}, {"activations", "mistakes"}, {"augment", "lossfn", "units"}),
        ("digits", AUGMENTED, {"augment", "mistakes"}, {"landscape"}),
        ("iris", {}, {"activations"}, {"mistakes", "lossfn", "units", "augment"}),
        ("plane", {}, {"lossfn"}, {"activations", "units", "landscape"}),
        ("gaussians", PERCEPTRON, {"lossfn", "activations"}, {"units", "landscape"}),
    ],
)
def test_each_view_applies_where_intended(preset, changes, present, absent) -> None:
    names = set(shown_for(preset, **changes))
    assert present <= names and not (absent & names)


@pytest.mark.parametrize(
    ("preset", "first"), [("spiral", "boundary"), ("digits", "images"), ("sine", "curve")]
)
def test_a_network_still_opens_on_its_prediction_view(preset, first) -> None:
    names = shown_for(preset)
    assert names[0] == first
    assert names.index("activations") > names.index(first)


# ---------------------------------------------------------------------- units
def test_a_unit_map_is_the_units_activation_over_the_plane() -> None:
    run, scene = build("quadrants")
    maps = pl.unit_maps(scene, run.net, run.trainer, size=16)
    W = np.asarray(run.net.params["0.W"], np.float64)
    b = np.asarray(run.net.params["0.b"], np.float64)
    x0, x1, y0, y1 = maps.extent
    r, c = 3, 11  # a grid cell: column c from the left, row r from the top
    x = np.array([x0 + (c + 0.5) / 16 * (x1 - x0), y1 - (r + 0.5) / 16 * (y1 - y0)])
    expected = np.tanh(W @ x + b)
    assert maps.names[:8] == tuple(f"0.{j}" for j in range(8))
    assert maps.hidden == 12 and maps.maps.shape == (12, 16, 16)
    np.testing.assert_allclose(maps.maps[:8, r, c], expected, atol=1e-5)
    z = run.net.forward(x[None, :])[0, 0]
    np.testing.assert_allclose(maps.output[r, c], 2.0 / (1.0 + np.exp(-z)) - 1.0, atol=1e-5)


def test_units_beyond_sixteen_are_counted_not_drawn() -> None:
    run, scene = build("plain-deep")
    maps = pl.unit_maps(scene, run.net, run.trainer, size=8)
    assert len(maps.names) == pl.MAX_UNITS and maps.hidden == 16 * 17


# ---------------------------------------------------------------------- activations
def test_sigmoid_derivative_peaks_at_a_quarter_and_saturates_past_about_4_6() -> None:
    z = np.linspace(-6.0, 6.0, 1201)
    a, slope = pl.curves("sigmoid", z)
    assert slope.max() == pytest.approx(0.25, abs=1e-9)
    assert z[np.argmax(slope)] == pytest.approx(0.0, abs=0.01)
    np.testing.assert_allclose(a, 1.0 / (1.0 + np.exp(-z)), atol=1e-12)
    (lo, hi), *_ = pl.saturated_ranges(z, slope)
    edge = np.log((1 + np.sqrt(1 - 0.04)) / (1 - np.sqrt(1 - 0.04)))  # σ′(z) = 0.01
    assert lo == -6.0 and hi == pytest.approx(-edge, abs=0.02)
    assert pl.saturated_ranges(z, pl.curves("relu", z)[1]) == [(-6.0, 0.0)]
    assert pl.curves("tanh", z)[1].max() == pytest.approx(1.0)


def test_dead_relu_units_are_counted_on_a_hand_built_network() -> None:
    run, _ = build("quadrants", model={"hidden": [4], "activation": "relu"})
    net = run.net
    W, b = net.params["0.W"], net.params["0.b"]
    W[...] = 0.0
    W[2, 0] = 1.0  # unit 2 is active where x1 > 0, about half the points
    b[...] = np.array([-1.0, -0.5, 0.0, 2.0])  # units 0 and 1 never fire; unit 3 always
    measured = pl.activity(net, run.data.X_train)
    (layer,) = measured.layers
    x1 = run.data.X_train[:, 0]
    assert layer.name == "relu" and layer.units == 4 and layer.dead == 0.5
    flat = (2 * len(x1) + np.sum(x1 <= 0)) / (4 * len(x1))  # σ′ = 0 wherever z ≤ 0
    assert layer.saturated == pytest.approx(flat)


def test_dead_shares_agree_with_the_engine_after_training() -> None:
    run, _ = build("moons", train={"lr": 0.3, "optimizer": "sgd"})
    run.trainer.fit(run.data.X_train, run.data.y_train, epochs=3)
    ours = pl.activity(run.net, run.data.X_train)
    assert tuple(layer.dead for layer in ours.layers) == inspect.dead_units(
        run.net, run.data.X_train
    )


def test_saturated_tanh_units_are_counted() -> None:
    run, _ = build("quadrants", model={"hidden": [2], "activation": "tanh"})
    net = run.net
    net.params["0.W"][...] = 0.0
    net.params["0.b"][...] = np.array([10.0, 0.0])  # tanh′(10) ≈ 8e-9; tanh′(0) = 1
    (layer,) = pl.activity(net, run.data.X_train).layers
    assert layer.dead is None and layer.saturated == 0.5


# ---------------------------------------------------------------------- the loss against ŷ
@pytest.mark.parametrize("preset", ["quadrants", "xor", "sine"])
def test_loss_at_samples_agrees_with_the_trainer(preset) -> None:
    run, scene = build(preset)
    s = pl.loss_at_samples(scene, run.net, run.trainer)
    assert s.loss == run.trainer.loss
    ours = pl.loss_of(s.loss, s.yhat, s.y, s.delta).mean()
    assert ours == pytest.approx(s.mean, rel=1e-4, abs=1e-6)


def test_the_perceptrons_loss_is_the_share_wrong_and_its_z_feeds_the_step() -> None:
    run, scene = build(
        "gaussians", model={"hidden": [], "output": "step"}, train={"loss": "auto", "lr": 1.0}
    )
    s = pl.loss_at_samples(scene, run.net, run.trainer)
    assert s.loss == "perceptron" and s.z is not None
    X = run.data.X_train[: len(s.y)]
    z = X @ np.asarray(run.net.params["0.W"], np.float64)[0] + float(run.net.params["0.b"][0])
    np.testing.assert_allclose(s.z, z, atol=1e-5)
    np.testing.assert_array_equal(s.yhat, (z > 0).astype(float))
    assert s.mean == pytest.approx(np.mean(s.yhat != s.y))


@pytest.mark.parametrize("loss", ["bce", "mse", "huber"])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_the_gradient_through_a_sigmoid_matches_finite_differences(loss, y) -> None:
    z = np.linspace(-5.0, 5.0, 41)
    h = 1e-6

    def at(zz: np.ndarray) -> np.ndarray:
        return pl.loss_of(loss, 1.0 / (1.0 + np.exp(-zz)), np.full_like(zz, y))

    numeric = (at(z + h) - at(z - h)) / (2 * h)
    analytic = pl.grad_z(loss, 1.0 / (1.0 + np.exp(-z)), np.full_like(z, y), sigmoid=True)
    np.testing.assert_allclose(analytic, numeric, atol=1e-6)


def test_cross_entropy_keeps_pushing_when_confidently_wrong_and_squared_error_does_not() -> None:
    wrong = np.array([1e-3])  # target 1, ŷ near 0
    assert abs(pl.grad_z("bce", wrong, np.ones(1), True)[0]) > 0.99
    assert abs(pl.grad_z("mse", wrong, np.ones(1), True)[0]) < 0.002


# ---------------------------------------------------------------------- the loss surface
def test_the_surface_at_the_current_point_is_the_trainers_loss() -> None:
    run, scene = build("sine", **LINE)
    assert pl.two_params(run.net) == ("0.W[0,0]", "0.b[0]")
    book = pl.PathBook()
    s = pl.surface(scene, run.net, run.trainer, book, size=11)
    data = run.data
    expected, _ = run.trainer.evaluate(data.X_train, data.y_train)
    assert s.current == pytest.approx(expected, rel=1e-5)
    # a grid point: set the parameters there and ask the trainer again
    r, c = 2, 7
    run.net.params["0.W"][0, 0] = s.xs[c]
    run.net.params["0.b"][0] = s.ys[r]
    there, _ = run.trainer.evaluate(data.X_train, data.y_train)
    assert s.loss[r, c] == pytest.approx(there, rel=1e-5)


def test_the_whole_surface_agrees_with_the_engines() -> None:
    run, scene = build("sine", **LINE)
    s = pl.surface(scene, run.net, run.trainer, pl.PathBook(), size=9)
    centre = (0.5 * (s.xs[0] + s.xs[-1]), 0.5 * (s.ys[0] + s.ys[-1]))
    span = (0.5 * (s.xs[-1] - s.xs[0]), 0.5 * (s.ys[-1] - s.ys[0]))
    data = run.data
    a, b, Z = inspect.loss_surface(
        run.net, "mse", data.X_train, data.y_train, s.names, centre, span, n=9
    )
    np.testing.assert_allclose(a, s.xs)
    np.testing.assert_allclose(b, s.ys)
    np.testing.assert_allclose(s.loss, Z, rtol=1e-5)


def test_the_first_window_holds_the_start_and_the_lowest_loss() -> None:
    run, scene = build("sine", **LINE)
    run.net.params["0.W"][0, 0] = -2.0
    run.net.params["0.b"][0] = 1.5
    s = pl.surface(scene, run.net, run.trainer, pl.PathBook(), size=41)
    r, c = np.unravel_index(int(np.argmin(s.loss)), s.loss.shape)
    assert 0 < r < 40 and 0 < c < 40  # the lowest loss lies inside, not on the edge
    assert s.xs[0] < -2.0 < s.xs[-1] and s.ys[0] < 1.5 < s.ys[-1]


def test_the_path_follows_training_and_the_window_keeps_it() -> None:
    run, scene = build("sine", model={"hidden": []}, train={"lr": 0.05, "epochs": 1})
    book = pl.PathBook()
    for _ in range(5):
        pl.surface(scene, run.net, run.trainer, book, size=5)
        run.trainer.fit(run.data.X_train, run.data.y_train, epochs=1)
    s = pl.surface(scene, run.net, run.trainer, book, size=5)
    assert len(s.path) == 6 and s.steps == tuple(sorted(set(s.steps)))
    now = [float(run.net.params["0.W"][0, 0]), float(run.net.params["0.b"][0])]
    np.testing.assert_allclose(s.path[-1], now)
    assert s.xs[0] <= s.path[:, 0].min() and s.path[:, 0].max() <= s.xs[-1]
    assert s.ys[0] <= s.path[:, 1].min() and s.path[:, 1].max() <= s.ys[-1]
    assert s.current < s.loss.max()


def test_a_diverged_run_leaves_the_window_and_the_path_alone() -> None:
    run, scene = build("sine", **LINE)
    book = pl.PathBook()
    before = pl.surface(scene, run.net, run.trainer, book, size=5)
    run.net.params["0.W"][0, 0] = np.nan
    run.trainer.step += 1
    after = pl.surface(scene, run.net, run.trainer, book, size=5)
    np.testing.assert_array_equal(after.xs, before.xs)
    assert len(after.path) == 1 and np.isnan(after.current)
    _, fresh = build("sine", **LINE)  # a new run that starts diverged: an empty path
    empty = pl.surface(fresh, run.net, run.trainer, pl.PathBook(), size=5)
    assert empty.path.shape == (0, 2)


async def test_the_surface_widget_draws_an_empty_path(drive) -> None:
    run, scene = build("sine", **LINE)
    run.net.params["0.b"][0] = np.inf
    record = pl.surface(scene, run.net, run.trainer, pl.PathBook(), size=(20, 8))
    view = LandscapeView(id="landscape")
    from textual.app import App

    class One(App[None]):
        def compose(self):
            yield view

    async with One().run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        view.show(scene, record)
        await drive.wait_for(pilot, lambda: "loss" in drawn_text(view))


# ---------------------------------------------------------------------- augmented images
def test_augmented_copies_leave_the_data_and_trainings_draws_alone() -> None:
    run, scene = build("digits", **AUGMENTED)
    data = run.data
    before = data.X_train.copy()
    rng = run.trainer.augment.rng.bit_generator.state
    shown = pl.augmented(scene, run.trainer, sample=3)
    assert shown.first == 3 and shown.settings == "shift ≤ 1 px · noise 0.1"
    np.testing.assert_array_equal(shown.originals.reshape(len(shown.originals), -1), before[3:9])
    assert not np.allclose(shown.augmented, shown.originals)
    assert shown.augmented.min() >= 0.0 and shown.augmented.max() <= 1.0
    np.testing.assert_array_equal(data.X_train, before)
    assert run.trainer.augment.rng.bit_generator.state == rng


# ---------------------------------------------------------------------- mistakes
def test_mistakes_are_the_misclassified_test_images() -> None:
    run, scene = build("digits")
    run.trainer.fit(run.data.X_train, run.data.y_train, epochs=1)
    m = pl.mistakes(scene, run.net, run.trainer, sample=0)
    X, y = run.data.X_test, run.data.y_test.reshape(-1).astype(int)
    predicted = run.net.forward(X).argmax(axis=1)
    assert m.wrong == int(np.sum(predicted != y)) and m.checked == len(y)
    assert 0 < len(m.index) <= pl.MISTAKES
    for i, t, p in zip(m.index, m.true, m.predicted):
        assert t == y[i] and p == predicted[i] and t != p
    np.testing.assert_array_equal(m.images[0].ravel(), X[m.index[0]])


# ---------------------------------------------------------------------- in the app
async def open_view(drive, pilot, name: str) -> None:
    """Presses ``v`` until the view called ``name`` is shown and measured."""
    main = pilot.app.main
    await drive.ready(pilot)
    await drive.step(pilot, 2)
    for _ in range(len(main.snapshot.scene.views)):
        if main.snapshot.shown == name:
            break
        await pilot.press("v")
        await drive.wait_for(pilot, lambda: main.snapshot.shown != "")
        await pilot.pause(0.05)
    await drive.step(pilot, 1)
    await drive.wait_for(pilot, lambda: main.snapshot.shown == name)


def drawn_text(widget) -> str:
    canvases = [widget] if isinstance(widget, Canvas) else list(widget.query(Canvas))
    return "\n".join("".join(seg.text for seg in strip) for c in canvases for strip in c._strips)


@pytest.mark.parametrize(
    ("preset", "changes", "name", "title", "words", "size"),
    [
        ("quadrants", {}, "units", "each hidden unit's map", "0.0", (120, 40)),
        ("quadrants", {}, "units", "each hidden unit's map", "out", (80, 24)),
        ("quadrants", {}, "activations", "activation σ(z)", "1 tanh×8 sat", (120, 40)),
        ("plain-deep", {}, "activations", "activation σ(z)", "more", (80, 24)),
        ("xor", {}, "lossfn", "loss against ŷ", "CE y=1", (120, 40)),
        ("sine", {}, "lossfn", "loss against ŷ", "Huber", (80, 24)),
        ("gaussians", PERCEPTRON, "lossfn", "loss against ŷ", "only mistakes teach", (120, 40)),
        ("sine", LINE, "landscape", "loss surface", "0.W[0,0]", (120, 40)),
        ("sine", LINE, "landscape", "loss surface", "(now)", (80, 24)),
        ("digits", AUGMENTED, "augment", "augmented training images", "aug", (120, 40)),
        ("digits", {}, "mistakes", "misclassified test images", "wrong (", (80, 24)),
        ("digits", {}, "mistakes", "misclassified test images", "test images wrong", (120, 40)),
        ("digits", AUGMENTED, "augment", "augmented training images", "#0       aug", (80, 24)),
    ],
)
async def test_the_app_shows_the_view(drive, preset, changes, name, title, words, size) -> None:
    app = drive.app(preset, **changes)
    async with app.run_test(size=size) as pilot:
        await open_view(drive, pilot, name)
        switcher = app.main.query_one("#view-panel", ContentSwitcher)
        assert switcher.border_title.startswith(title)
        widget = switcher.query_one(f"#{switcher.current}")
        await drive.wait_for(pilot, lambda: words in drawn_text(widget))


async def test_z_steps_through_every_activation(drive) -> None:
    app = drive.app("quadrants")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(drive, pilot, "activations")
        view = app.main.query_one(ActivationView)
        await drive.wait_for(pilot, lambda: view.function == "tanh")
        seen = []
        for _ in range(len(NAMES)):
            await pilot.press("z")
            seen.append(view.function)
        assert sorted(seen) == sorted(ACTIVATIONS) and seen[-1] == "tanh"
        await pilot.press("Z")
        assert view.function == NAMES[NAMES.index("tanh") - 1]
        assert "sigmoid" in ACTIVATIONS and "step" in ACTIVATIONS


async def test_earlier_paths_stay_on_the_surface_after_a_rebuild(drive) -> None:
    app = drive.app("sine", **LINE)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_view(drive, pilot, "landscape")
        await drive.step(pilot, 3)
        view = app.main.query_one(LandscapeView)
        await drive.wait_for(pilot, lambda: view.surface is not None and len(view.surface.path) > 1)
        cols, rows = view._map_size(*view.size)  # one grid point per cell of the map
        await drive.step(pilot, 1)
        await drive.wait_for(pilot, lambda: view.surface.loss.shape == (rows, cols))
        experiment = app.session.run.experiment.replace(train={"optimizer": "sgd", "lr": 0.1})
        app.session.rebuild(experiment)
        await drive.wait_for(pilot, lambda: app.main.snapshot.scene.experiment is experiment)
        await drive.step(pilot, 2)
        await drive.wait_for(pilot, lambda: len(view.earlier) == 1)
        runs = app.main.snapshot.runs
        assert runs and view.earlier[0].label == runs[-1].label  # as the loss plot names it
        await drive.wait_for(pilot, lambda: f"◆ {runs[-1].label}" in drawn_text(view))
        shades = {seg.style.bgcolor for strip in view._strips for seg in strip if seg.style}
        assert len(shades) >= 6  # the loss in bands of shade
        app.session.clear_runs()
        await drive.step(pilot, 1)
        await drive.wait_for(pilot, lambda: not view.earlier)  # the comparison was cleared
