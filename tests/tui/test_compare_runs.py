"""Runs compared on the loss plot: kept, labelled, cleared; the per-step plot; the runs table;
the header's settings and activations; an opened run's history."""

from __future__ import annotations

import math

import numpy as np
import pytest
from textual.binding import Binding

from engine.errors import UserError
from engine.experiment.presets import get_preset
from tui.screens.help import sections
from tui.screens.main import MainScreen
from tui.screens.open_run import OpenRunScreen
from tui.session import probes
from tui.session.changes import change_label
from tui.session.records import LossPoint
from tui.session.steps import StepLosses, thinned
from tui.session.worker import TrainingSession
from tui.widgets.chart import Chart, distinct_labels
from tui.widgets.loss_plot import LossPlot
from tui.widgets.run_header import describe, network_text

SIZE = (120, 40)


def test_labels_say_what_changed() -> None:
    base = get_preset("spiral").replace(train={"lr": 0.03, "batch_size": 32})
    assert change_label(base, base.replace(train={"lr": 3.0})) == "lr 0.03 → 3"
    assert change_label(base, base.replace(model={"dropout": 0.3})) == "+ dropout 0.3"
    assert change_label(base.replace(model={"dropout": 0.3}), base) == "− dropout"
    sgd = base.replace(train={"optimizer": "sgd"})
    assert change_label(sgd, base) == "optimizer sgd → adam"
    assert change_label(base, base.replace(train={"batch_size": 1})) == "batch 32 → 1"
    assert change_label(base, base.replace(model={"hidden": []})) == "hidden [8, 8] → []"
    assert change_label(base, base.replace(train={"seed": 1})) == "seed 0 → 1"
    assert change_label(base, base) == "same"
    many = base.replace(train={"lr": 0.1, "batch_size": 4, "epochs": 7, "momentum": 0.5})
    long = change_label(base, many)
    assert len(long) <= 40 and long.endswith("…")


def test_step_losses_stay_bounded_and_keep_the_ends() -> None:
    losses = StepLosses(most=100)
    for step in range(1, 10_001):
        losses.add(step, float(step))
    curve = losses.curve()
    assert len(curve.steps) <= 101 and curve.steps[0] <= 128
    assert curve.steps[-1] > 9_800  # the recent steps are kept
    assert np.array_equal(curve.steps, curve.losses)  # each point is a step's own loss
    kept = thinned(list(range(1001)), 100)
    assert len(kept) <= 101 and kept[0] == 0 and kept[-1] == 1000


def test_flat_axis_labels_differ() -> None:
    assert distinct_labels([0.7, 0.7, 0.7]) == ["0.7", "0.7", "0.7"]  # equal values stay equal
    labels = distinct_labels([0.693152, 0.693147, 0.693142])
    assert len(set(labels)) == 3, labels
    assert distinct_labels([1.0, 0.5, 0.0]) == ["1", "0.5", "0"]


async def test_a_rebuild_keeps_the_earlier_run_labelled_and_k_clears_it(drive) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 12)
        session = app.session
        session.rebuild(session.experiment.replace(train={"lr": 0.5}), fresh=True)
        await drive.wait_for(pilot, lambda: len(session.runs) == 1)
        first = session.runs[0]
        assert first.label == "xor" and first.experiment.train.lr == 2.0
        assert first.epochs in (11, 12) and first.final is not None
        assert math.isfinite(first.best_test_loss) and first.best_test_acc is not None
        assert session.run_label == "lr 2 → 0.5" and session.run.trainer.step == 0
        await drive.step(pilot, 5)
        plot = app.main.query_one(LossPlot)
        await drive.wait_for(pilot, lambda: len(plot.runs) == 1)
        chart = plot.query_one(Chart)
        text = "\n".join(s.text for s in chart.draw(*chart.size))
        assert "xor" in text and "lr 2 → 0.5" in text and "epoch" in text
        assert "1 earlier" in plot.query_one("#loss-legend").plain
        session.rebuild(session.experiment, label="again", fresh=True)  # no change, fresh run
        await drive.wait_for(pilot, lambda: len(session.runs) == 2)
        assert session.runs[1].label == "lr 2 → 0.5" and session.run_label == "again"
        await pilot.press("k")
        await drive.wait_for(pilot, lambda: session.runs == () and plot.runs == ())


async def test_a_live_change_goes_on_and_a_reset_after_it_starts_a_labelled_run(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 3)
        session = app.session
        await pilot.press("plus")  # the learning rate goes up while the run goes on
        await drive.wait_for(pilot, lambda: app.main.lr > 0.01)
        assert session.runs == ()
        await pilot.press("r")
        await drive.wait_for(pilot, lambda: len(session.runs) == 1)
        assert session.run_label == "lr 0.01 → 0.03, seed 0 → 1"
        assert session.runs[0].label == "spiral"


async def test_runs_beyond_the_limit_drop_the_oldest(drive) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        session = app.session
        for i in range(10):
            await drive.step(pilot, 1)
            session.rebuild(session.experiment, label=f"run {i}", fresh=True)
            await drive.wait_for(pilot, lambda i=i: session.run_label == f"run {i}")
        assert len(session.runs) == 8
        assert [r.label for r in session.runs] == [f"run {i}" for i in range(1, 9)]


async def test_b_plots_each_mini_batch_and_earlier_runs_beside_it(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        session = app.session
        await pilot.press("b")
        await drive.step(pilot, 40)
        plot = app.main.query_one(LossPlot)
        await drive.wait_for(pilot, lambda: plot.step_curve is not None)
        await drive.wait_for(pilot, lambda: len(plot.step_curve.steps) == 40)
        curve = plot.step_curve
        assert list(curve.steps) == list(range(1, 41))
        assert np.all(np.isfinite(curve.losses)) and np.std(curve.losses) > 0  # batch noise
        assert "mini-batch" in plot.query_one("#loss-legend").plain
        session.rebuild(session.experiment.replace(train={"batch_size": 1}), fresh=True)
        await drive.wait_for(pilot, lambda: len(session.runs) == 1)
        assert session.runs[0].step_curve.steps.size == 40
        await drive.step(pilot, 10)
        chart = plot.query_one(Chart)
        text = "\n".join(s.text for s in chart.draw(*chart.size))
        assert "batch 10 → 1" in text and "step" in text
        session.set_plot("epochs")
        await drive.wait_for(pilot, lambda: plot.mode == "epochs")


async def test_the_runs_table_gives_each_runs_figures(drive) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 6)
        session = app.session
        session.rebuild(session.experiment.replace(model={"hidden": []}), fresh=True)
        await drive.wait_for(pilot, lambda: len(session.runs) == 1)
        await drive.step(pilot, 4)
        await pilot.press("K")
        plot = app.main.query_one(LossPlot)
        await drive.wait_for(pilot, lambda: plot.mode == "table" and plot.current is not None)
        await pilot.pause(0.2)
        table = plot.query_one("#runs-table").plain.splitlines()
        assert table[0].split()[:3] == ["run", "ep", "train"]
        first = session.runs[0]
        assert table[1].startswith("xor") and f" {first.epochs} " in table[1]
        assert table[2].startswith("hidden [2] → []")
        assert not plot.query_one(Chart).display
        await pilot.press("K")
        await drive.wait_for(pilot, lambda: plot.mode == "epochs")


async def test_the_header_reads_the_built_network_and_shows_the_settings(drive) -> None:
    app = drive.app("xor", model={"hidden": []})
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        header = app.main.query_one("#header").plain.splitlines()[0]
        assert "2-1 sigmoid" in header  # the output unit's sigmoid, though no hidden layer
        assert "momentum 0.9" in header and "init xavier" in header and "4 train" in header
    app = drive.app(
        "spiral",
        model={"dropout": 0.3},
        train={"clip_norm": 1.0, "patience": 5, "validation": 0.2},
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await drive.ready(pilot)
        snap = app.main.snapshot
        wide = describe(snap)
        for part in (
            "dropout 0.3",
            "clip 1",
            "patience 5",
            "400 train · 100 val (20%)",
            "2-8-8-1 tanh",
        ):
            assert part in wide
        header = app.main.query_one("#header")
        line = header.plain.splitlines()[0]
        assert len(line) <= 80 and "2-8-8-1 tanh" in line and "dropout 0.3" in line
        assert "clip 1" not in line  # the least important left out to fit


async def test_an_opened_run_shows_its_saved_history(drive, in_tmp) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 25)
        await pilot.press("w")
        await drive.wait_for(pilot, lambda: app.session.rundir is not None)
        await drive.wait_for(pilot, lambda: app.session.rundir.path.exists())
        name = app.session.rundir.path.name
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await pilot.press("o")  # the saved run is the list's first
        await drive.wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen))
        await pilot.press("enter")
        plot = app.main.query_one(LossPlot)
        await drive.wait_for(pilot, lambda: len(plot.history) >= 20)
        steps = [p.step for p in plot.history]
        assert steps[:3] == [1, 2, 3] and all(isinstance(p, LossPoint) for p in plot.history)
        assert app.session.run_label == f"opened {name}"


async def test_a_flat_loss_gets_axis_labels_that_differ(drive) -> None:
    app = drive.app("xor", train={"lr": 1e-6, "momentum": 0.0})
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 6)
        chart = app.main.query_one(LossPlot).query_one(Chart)
        await drive.wait_for(pilot, lambda: len(app.main.query_one(LossPlot).history) >= 6)
        lines = [s.text for s in chart.draw(*chart.size)]
        labels = [line.split("┤")[0].strip() for line in lines if "┤" in line]
        labels = [t for t in labels if t]
        assert len(labels) == 3 and len(set(labels)) == 3, labels


async def test_the_legend_fits_its_panel_without_cutting_a_number(drive) -> None:
    app = drive.app("xor", train={"epochs": 5})
    async with app.run_test(size=(80, 24)) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 3)
        legend = app.main.query_one("#loss-legend")
        for key in ("a", "a", "b", "K"):
            await pilot.press(key)
            await pilot.pause(0.2)
            text = legend.plain
            assert len(text) <= legend.size.width and "…" not in text, text
        table = app.main.query_one("#runs-table")
        await drive.wait_for(pilot, lambda: table.size.width > 0 and table.plain != "")
        header = table.plain.splitlines()[0]
        assert header.split()[-1] == "acc" and len(header) <= table.size.width, header


def test_an_unknown_plot_is_refused_with_the_known_ones() -> None:
    session = TrainingSession(get_preset("xor"), paused=True)
    with pytest.raises(UserError, match="epochs, steps, table"):
        session.set_plot("loss")


def _scene(experiment):
    run = experiment.build()
    return probes.make_scene(1, experiment, run.data, run.net)


def test_the_network_is_named_by_its_built_activations() -> None:
    xor = get_preset("xor")
    assert network_text(_scene(xor)) == "2-2-1 sigmoid"
    assert network_text(_scene(xor.replace(model={"hidden": []}))) == "2-1 sigmoid"
    spiral = get_preset("spiral")
    assert network_text(_scene(spiral)) == "2-8-8-1 tanh"  # logits: no output activation
    assert network_text(_scene(spiral.replace(model={"hidden": []}))) == "2-1 linear"
    bce = spiral.replace(train={"loss": "bce"}, model={"dropout": 0.2})
    assert network_text(_scene(bce)) == "2-8-8-1 tanh, sigmoid out"


def test_help_and_the_main_screen_know_the_runs_keys() -> None:
    keys = {key for _, rows in sections() for key, _ in rows}
    assert {"b", "k", "K"} <= keys
    bound = {b.key for b in MainScreen.BINDINGS if isinstance(b, Binding)}
    assert {"b", "k", "K"} <= bound
