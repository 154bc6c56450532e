"""The picture of the predictions follows the data: surface, curve, images, confusion."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import ContentSwitcher

from tui.session.records import Classes, Curve, Grid
from tui.widgets.class_view import ClassView
from tui.widgets.decision_map import DecisionMap
from tui.widgets.fit_plot import FitPlot

SIZES = [(80, 24), (140, 45)]


async def test_regression_plane_is_a_heat_map_of_values(drive) -> None:
    app = drive.app("plane")
    async with app.run_test(size=(100, 32)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 3)
        main = app.main
        assert main.query_one(ContentSwitcher).current == "boundary"
        grid = main.query_one(DecisionMap).grid
        assert isinstance(grid, Grid) and grid.regression
        assert "surface" in main.query_one(ContentSwitcher).border_title


async def test_xor_opens_on_the_decision_boundary_over_its_four_points(drive) -> None:
    app = drive.app("xor", pace=None)  # as ``dltui --preset xor`` opens
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 2)
        main = app.main
        switcher = main.query_one(ContentSwitcher)
        assert switcher.current == "boundary"
        assert "decision boundary" in str(switcher.border_title)
        grid = main.snapshot.view
        assert isinstance(grid, Grid) and not grid.regression
        assert grid.extent == pytest.approx((-0.5, 1.5, -0.5, 1.5))
        view = main.query_one(DecisionMap)
        await drive.wait_for(pilot, lambda: bool(view._strips))
        drawn = "".join(seg.text for line in view._strips for seg in line)
        assert drawn.count("●") == 4 and "▀" in drawn


async def test_sine_draws_the_fitted_curve(drive) -> None:
    app = drive.app("sine")
    async with app.run_test(size=(100, 32)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 2)
        main = app.main
        assert main.query_one(ContentSwitcher).current == "fit"
        curve = main.snapshot.view
        assert isinstance(curve, Curve) and np.all(np.diff(curve.x) > 0)
        plot = main.query_one(FitPlot)
        drawn = "".join(seg.text for line in plot._strips for seg in line)
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in drawn)  # braille dots: data and fit


async def test_digits_show_a_confusion_matrix_and_labelled_images(drive) -> None:
    app = drive.app("digits")
    async with app.run_test(size=(120, 40)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 2)
        main = app.main
        assert main.query_one(ContentSwitcher).current == "classes"
        classes = main.snapshot.view
        assert isinstance(classes, Classes)
        test_rows = len(main.snapshot.scene.data.y_test)
        assert classes.confusion.shape == (10, 10) and classes.confusion.sum() == test_rows
        view = main.query_one(ClassView)
        drawn = "".join(seg.text for line in view._strips for seg in line)
        assert "▀" in drawn  # the images, in half blocks
        lines = ["".join(seg.text for seg in line) for line in view._strips]
        assert lines[0].startswith("true ↓ predicted →")
        assert lines[1].split()[:10] == [str(j) for j in range(10)]  # a column per prediction
        assert lines[2].split()[0] == "0" and int(lines[2].split()[1]) == classes.confusion[0, 0]


async def test_a_confusion_matrix_of_named_classes_says_their_names(drive) -> None:
    app = drive.app("iris")
    async with app.run_test(size=(100, 32)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        view = app.main.query_one(ClassView)
        await drive.wait_for(pilot, lambda: bool(view._strips))
        lines = ["".join(seg.text for seg in line).rstrip() for line in view._strips]
        assert lines[0].startswith("true ↓ predicted →") and len(lines) >= 6
        legend = " ".join(lines[5:])
        assert "0 setosa, 1 versicolor, 2 virginica" in " ".join(legend.split())


@pytest.mark.parametrize("size", SIZES)
async def test_the_main_screen_fits_small_and_large_terminals(drive, size) -> None:
    app = drive.app()
    async with app.run_test(size=size) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        main = app.main
        view = main.query_one(DecisionMap)
        assert view.size.width >= 20 and view.size.height >= 5
        await drive.wait_for(pilot, lambda: main.snapshot.view.values.shape[1] == view.size.width)
        for widget_id in ("#network", "#math", "#loss", "#header"):
            region = main.query_one(widget_id).region
            assert region.width > 0 and region.height > 0
            assert region.right <= size[0] and region.bottom <= size[1]


async def test_resizing_redraws_at_the_new_size(drive) -> None:
    app = drive.app()
    async with app.run_test(size=(100, 32)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        main = app.main
        await pilot.resize_terminal(140, 45)
        view = main.query_one(DecisionMap)
        await drive.wait_for(pilot, lambda: view.size.width > 60)
        await drive.step(pilot, 1)
        await drive.wait_for(pilot, lambda: main.snapshot.view.values.shape[1] == view.size.width)
        assert len(view._strips) == view.size.height


async def test_light_theme_changes_the_colours(drive) -> None:
    app = drive.app()
    async with app.run_test(size=(100, 32)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        view = app.main.query_one(DecisionMap)
        dark = view.get_component_styles("decision-map--point1").color
        app.theme = "textual-light"
        await pilot.pause()
        assert view.get_component_styles("decision-map--point1").color != dark
        await drive.step(pilot, 1)
        assert view._strips  # drawn again with the light colours
