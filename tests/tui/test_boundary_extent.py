"""The decision map beyond the playground: any two-class set with two inputs, over the data's
range. On XOR's four points a trained 2-2-1 network's map agrees with its predictions at the
points, and the points sit in the cells that hold them."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest
from textual.app import App, ComposeResult

from engine.datasets import DataSplit
from engine.experiment.config import Run
from engine.experiment.presets import get_preset
from tui.session import probes
from tui.session.records import Grid, Scene
from tui.widgets.decision_map import DecisionMap

# 42 × 30 cells over -0.5 … 1.5: x = 0 and x = 1 are the centres of columns 10 and 31, and of
# rows 22 and 7 (x2 = 1 near the top), so the map is measured at the points themselves.
COLS, ROWS = 42, 30


@cache
def trained_xor() -> tuple[Run, Scene]:
    """The xor preset (2-2-1 sigmoid, seed 1) trained for its 1000 epochs: 100 % right."""
    exp = get_preset("xor")
    run = exp.build()
    d = run.data
    run.trainer.fit(d.X_train, d.y_train, epochs=exp.train.epochs)
    return run, probes.make_scene(1, exp, run.data, run.net)


def scene_of(preset: str, **changes: dict) -> tuple[Run, Scene]:
    exp = get_preset(preset).replace(**changes) if changes else get_preset(preset)
    run = exp.build()
    return run, probes.make_scene(1, exp, run.data, run.net)


def cells(X: np.ndarray, extent: tuple[float, float, float, float], cols: int, rows: int):
    """Row and column of the cell holding each point, for a rows × cols map of ``extent``."""
    x0, x1, y0, y1 = extent
    c = np.floor((X[:, 0] - x0) / (x1 - x0) * cols).astype(int)
    r = np.floor((y1 - X[:, 1]) / (y1 - y0) * rows).astype(int)
    return r, c


def predicted(run: Run, X: np.ndarray) -> np.ndarray:
    return probes.class_one_probability(run.trainer, np.asarray(run.net.forward(X)))


# ---------------------------------------------------------------------- where it applies, what area
def test_xor_opens_on_the_boundary_and_keeps_its_confusion_matrix() -> None:
    _, scene = scene_of("xor")
    assert scene.views[0] == "boundary" and "confusion" in scene.views


@pytest.mark.parametrize(
    ("preset", "changes"),
    [("xor", {"model": {"hidden": []}}), ("spiral", {}), ("circle", {})],
)
def test_the_boundary_is_first_for_two_classes_on_two_inputs(preset, changes) -> None:
    _, scene = scene_of(preset, **changes)
    assert scene.views[0] == "boundary"


@pytest.mark.parametrize("preset", ["iris", "sine", "digits", "plane"])
def test_no_boundary_for_more_classes_more_inputs_or_numbers(preset) -> None:
    _, scene = scene_of(preset)
    assert "boundary" not in scene.views


def test_the_playgrounds_sets_keep_the_plane() -> None:
    run, scene = scene_of("spiral")
    assert probes.plane_extent(scene) == (-6.0, 6.0, -6.0, 6.0)
    grid = probes.grid_view(scene, run.net, run.trainer, 24, 16)
    assert grid.extent == (-6.0, 6.0, -6.0, 6.0) and grid.values.shape == (16, 24)
    xs = probes.grid_points(24, 16)[:24, 0]
    assert xs[0] == pytest.approx(-6.0 + 0.25) and xs[-1] == pytest.approx(6.0 - 0.25)


def test_other_sets_span_their_range_and_half_of_it_on_each_side() -> None:
    _, scene = scene_of("xor")
    assert probes.plane_extent(scene) == pytest.approx((-0.5, 1.5, -0.5, 1.5))
    X = np.array([[2.0, 5.0], [4.0, 5.0], [3.0, 5.0]])  # x2 never varies: ± 1 around it
    y = np.array([[0.0], [1.0], [0.0]])
    data = DataSplit(X, y, X[:1], y[:1], name="line", task="binary", n_classes=2,
                     feature_names=("a", "b"))  # fmt: skip
    flat = dataclasses.replace(scene, data=data)
    assert probes.plane_extent(flat) == pytest.approx((1.0, 5.0, 4.0, 6.0))


# ---------------------------------------------------------------------- the trained 2-2-1 on XOR
def test_the_map_at_the_points_is_the_networks_prediction_of_them() -> None:
    run, scene = trained_xor()
    X, y = run.data.X_train, run.data.y_train[:, 0]
    p = predicted(run, X)
    assert np.array_equal(p > 0.5, y == 1)  # trained to 100 %
    grid = probes.grid_view(scene, run.net, run.trainer, COLS, ROWS)
    assert grid.values.shape == (ROWS, COLS)
    r, c = cells(X, grid.extent, COLS, ROWS)
    assert list(zip(r.tolist(), c.tolist())) == [(22, 10), (7, 10), (22, 31), (7, 31)]
    np.testing.assert_allclose(grid.values[r, c], p, atol=1e-5)


@pytest.mark.parametrize(("cols", "rows"), [(40, 30), (17, 11), (96, 54)])
def test_the_cells_holding_the_points_are_on_their_side(cols, rows) -> None:
    run, scene = trained_xor()
    X, y = run.data.X_train, run.data.y_train[:, 0]
    grid = probes.grid_view(scene, run.net, run.trainer, cols, rows)
    r, c = cells(X, grid.extent, cols, rows)
    assert np.array_equal(grid.values[r, c] > 0.5, y == 1)


def test_one_neuron_draws_a_line_and_gets_a_point_wrong() -> None:
    """A single sigmoid unit's map is σ(w·x + b), split by a straight line: whatever it learns,
    one of the four points lies on the wrong side (its cell's colour and its label disagree)."""
    exp = get_preset("xor").replace(model={"hidden": []})
    run = exp.build()
    run.trainer.fit(run.data.X_train, run.data.y_train, epochs=200)
    scene = probes.make_scene(1, exp, run.data, run.net)
    grid = probes.grid_view(scene, run.net, run.trainer, COLS, ROWS)
    X, y = run.data.X_train, run.data.y_train[:, 0]
    r, c = cells(X, grid.extent, COLS, ROWS)
    np.testing.assert_allclose(grid.values[r, c], predicted(run, X), atol=1e-5)
    assert not np.array_equal(grid.values[r, c] > 0.5, y == 1)
    w = np.asarray(run.net.params["0.W"], np.float64)[0]
    b = float(run.net.params["0.b"][0])
    pts = probes.grid_points(COLS, ROWS, grid.extent)
    line = 1.0 / (1.0 + np.exp(-(pts @ w + b)))  # σ(w·x + b): one side of the line w·x + b = 0
    np.testing.assert_allclose(grid.values.ravel(), line, atol=1e-6)


# ---------------------------------------------------------------------- the widget's points
class OneMap(App[None]):
    def compose(self) -> ComposeResult:
        yield DecisionMap(id="boundary")


async def test_the_widget_draws_each_point_in_its_cell_in_its_labels_colour() -> None:
    run, scene = trained_xor()
    width, height = COLS, ROWS // 2
    grid = probes.grid_view(scene, run.net, run.trainer, width, height * 2)
    assert isinstance(grid, Grid)
    async with OneMap().run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        widget = pilot.app.query_one(DecisionMap)
        widget.scene, widget.grid = scene, grid
        strips = widget.draw(width, height)
        marks = {}
        for row, strip in enumerate(strips):
            col = 0
            for seg in strip:
                for ch in seg.text:
                    if ch == "●":
                        colour = seg.style.color if seg.style else None
                        assert colour is not None and colour.triplet is not None
                        marks[(row, col)] = colour.triplet.hex
                    col += 1
        X, y = run.data.X_train, run.data.y_train[:, 0]
        r, c = cells(X, grid.extent, width, height)
        p0 = widget.get_component_styles("decision-map--point0").color.hex.lower()
        p1 = widget.get_component_styles("decision-map--point1").color.hex.lower()
        expected = {(int(a), int(b)): p1 if v == 1 else p0 for a, b, v in zip(r, c, y)}
        assert marks == expected
        for (row, col), hex_colour in expected.items():  # the map under a point: its own class
            top, bottom = grid.values[2 * row, col], grid.values[2 * row + 1, col]
            assert (top > 0.5) == (bottom > 0.5) == (hex_colour == p1)


async def test_a_line_is_drawn_again_when_only_the_colour_under_a_point_changes() -> None:
    """Lines whose colours and points are as last time are the last lines themselves; one whose
    only change is the map under a point is new, the point on its new background."""
    run, scene = trained_xor()
    width, height = COLS, ROWS // 2
    grid = probes.grid_view(scene, run.net, run.trainer, width, height * 2)
    assert isinstance(grid, Grid)
    r, c = cells(run.data.X_train, grid.extent, width, height)
    row, col = int(r[0]), int(c[0])
    async with OneMap().run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        widget = pilot.app.query_one(DecisionMap)
        widget.scene, widget.grid = scene, grid
        first = widget.draw(width, height)
        assert all(a is b for a, b in zip(widget.draw(width, height), first, strict=True))
        values = grid.values.copy()
        values[2 * row, col] = 1.0 - values[2 * row, col]  # the upper pixel under the point
        widget.grid = dataclasses.replace(grid, values=values)
        second = widget.draw(width, height)

    def background_of_point(strip) -> object:
        at = 0
        for seg in strip:
            if at == col:
                assert seg.text == "●"
                return seg.style.bgcolor
            at += len(seg.text)
        raise AssertionError("no point at its column")

    assert [y for y in range(height) if second[y] is not first[y]] == [row]
    assert background_of_point(second[row]) != background_of_point(first[row])
