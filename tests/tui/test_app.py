"""The main screen's keys, driven through Pilot: what each one changes."""

from __future__ import annotations

import itertools

import numpy as np
from textual.geometry import Region
from textual.widgets import Footer, Static

from tui.widgets.chart import Chart
from tui.widgets.decision_map import DecisionMap
from tui.widgets.loss_plot import LossPlot
from tui.widgets.math_panel import MathPanel
from tui.widgets.network_view import NetworkView
from tui.widgets.run_header import RunHeader

SIZE = (100, 32)


async def test_opens_paused_and_s_trains_exactly_one_batch(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        assert main.step == 0 and main.paused
        await drive.step(pilot, 3)
        assert main.step == 3
        assert app.session.run.trainer.step == 3
        await pilot.pause(0.3)
        assert main.step == 3  # paused: nothing trains by itself
        header = main.query_one(RunHeader).plain
        assert "step 3" in header and "paused" in header


async def test_every_view_is_drawn_after_a_step(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 2)
        main = app.main
        grid = main.query_one(DecisionMap).grid
        assert grid is not None and grid.values.shape[0] > 0
        assert [p.step for p in main.query_one(LossPlot).history] == [0, 1, 2]
        assert main.query_one(NetworkView).grad_norms  # per-layer gradient norms arrived
        assert "∂L/∂w" in main.query_one(MathPanel).plain


async def test_space_runs_and_pauses(drive) -> None:
    app = drive.app(train={"epochs": 10_000})  # the spiral's 300 take well under a second
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await pilot.press("space")
        assert not app.session.paused
        await drive.wait_for(pilot, lambda: main.step > 50)
        await pilot.press("space")
        await drive.wait_for(pilot, lambda: main.paused and main.snapshot.paused)
        stopped = main.step
        await pilot.pause(0.3)
        assert main.step == stopped
        assert "paused" in main.query_one(RunHeader).plain


async def test_training_stops_after_the_experiments_epochs_and_space_trains_on(drive) -> None:
    app = drive.app("gaussians", paused=False, train={"epochs": 3})
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await drive.wait_for(pilot, lambda: main.snapshot.state == "finished")
        header = main.query_one(RunHeader)
        assert "✓ finished   epoch 3 of 3" in header.plain
        note = main.query_one("#note", Static)
        assert note.display and str(note.content).startswith("Finished 3 epochs")
        assert main.paused and app.session.run.trainer.epoch == 3
        await pilot.press("space")
        await drive.wait_for(pilot, lambda: main.snapshot.epoch >= 5 and main.snapshot.note == "")
        assert "▶ training" in header.plain and ", 3 set" in header.plain
        assert not note.display


async def test_plus_and_minus_move_the_learning_rate_while_training(drive) -> None:
    app = drive.app(paused=False, train={"epochs": 10_000})
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        assert main.lr == 0.01
        await pilot.press("plus")
        await drive.wait_for(pilot, lambda: main.lr == 0.03)
        assert app.session.run.trainer.optimizer.lr == 0.03
        await pilot.press("minus", "minus")
        await drive.wait_for(pilot, lambda: main.lr == 0.003)
        assert "lr 0.003" in main.query_one(RunHeader).plain


async def test_r_resets_the_weights_and_the_step_count(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 5)
        main = app.main
        before = [w.copy() for w in main.snapshot.weights]
        generation = main.snapshot.scene.generation
        await pilot.press("r")
        await drive.wait_for(pilot, lambda: main.snapshot.scene.generation == generation + 1)
        assert main.step == 0
        after = main.snapshot.weights
        assert not all(np.array_equal(a, b) for a, b in zip(before, after))
        assert main.query_one(LossPlot).history[-1].step == 0  # the plot starts again


async def test_arrow_keys_select_a_weight_everywhere(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        network = main.query_one(NetworkView)
        assert network.selected == "0.W[0,0]"
        await pilot.press("right")
        assert network.selected == "2.W[0,0]"
        await pilot.press("down")
        assert network.selected == "2.W[0,1]"
        await pilot.press("up", "up")
        assert network.selected == "2.b[7]"  # wraps around to the layer's last bias
        await pilot.press("left", "left")
        assert network.selected == "4.b[0]"
        await drive.wait_for(
            pilot, lambda: main.snapshot.chain and main.snapshot.chain.param == "4.b[0]"
        )
        assert app.session.selected == "4.b[0]"
        assert "4.b[0]" in main.query_one(MathPanel).plain


async def test_clicking_a_connection_selects_its_weight(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        network = app.main.query_one(NetworkView)
        lines = network._lines
        # the output layer: one line leaves each unit, so near its start it is alone
        target = int(np.flatnonzero((lines["ids"] == (4, 0, 5)).all(axis=1))[0])
        x = lines["x0"][target] + 0.2 * (lines["x1"][target] - lines["x0"][target])
        y = lines["y0"][target] + 0.2 * (lines["y1"][target] - lines["y0"][target])
        await pilot.click(NetworkView, offset=(int(x // 2), int(y // 4)))
        assert network.selected == "4.W[0,5]"
        await drive.wait_for(pilot, lambda: app.session.selected == "4.W[0,5]")


async def test_view_toggles(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await drive.step(pilot, 1)
        plot, view = main.query_one(LossPlot), main.query_one(DecisionMap)
        await pilot.press("l", "a", "t")
        assert plot.log_scale and plot.accuracy and view.show_test
        assert "accuracy" in main.query_one("#loss-legend").plain


async def test_a_plots_accuracy_with_accuracy_numbers(drive) -> None:
    app = drive.app("iris")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await drive.step(pilot, 2)
        plot = main.query_one(LossPlot)
        p = plot.history[-1]
        await pilot.press("a")
        legend = main.query_one("#loss-legend").plain
        train, test = f"{100 * p.train_acc:.1f}%", f"{100 * p.test_acc:.1f}%"
        assert legend.startswith(f"accuracy  ━ train {train}  ━ test {test}")
        assert main.query_one("#loss-panel").border_title == "accuracy"
        assert plot.query_one(Chart)._y_range == (0.0, 1.0)
        np.testing.assert_allclose(plot.query_one(Chart)._series[1].y[-1], p.train_acc)
        await pilot.press("a")
        assert main.query_one("#loss-legend").plain.startswith("loss  ━ train ")
        assert main.query_one("#loss-panel").border_title == "loss"


async def test_a_says_accuracy_does_not_apply_to_a_regression(drive) -> None:
    app = drive.app("sine")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await drive.step(pilot, 1)
        await pilot.press("a")
        plot = main.query_one(LossPlot)
        assert not plot.accuracy and main.query_one("#loss-panel").border_title == "loss"
        assert main.query_one("#loss-legend").plain.startswith("loss  ━ train ")
        notes = [n.message for n in app._notifications]
        assert any("Accuracy does not apply" in n and "regression" in n for n in notes)


async def test_q_quits(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        session = app.session
        await pilot.press("q")
        await pilot.pause(0.1)
        assert session.stopped
    assert app.return_code == 0


async def test_a_diverged_run_says_why_and_the_interface_stays_alive(drive) -> None:
    app = drive.app("plane", train={"optimizer": "sgd", "lr": 10.0})
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await pilot.press("space")
        await drive.wait_for(pilot, lambda: main.snapshot.state == "diverged", timeout=20)
        note = str(main.query_one("#note").content)
        assert "Diverged" in note and "lower the learning rate" in note
        shown = str(main.query_one("#note").render())  # as drawn: [train] is text, not markup
        assert "clip_norm = 1.0 in [train]" in shown
        assert main.query_one("#note").has_class("-shown")
        await pilot.press("minus")
        await drive.wait_for(pilot, lambda: main.lr == 3.0)
        await pilot.press("r")
        await drive.wait_for(pilot, lambda: main.snapshot.state == "paused" and main.step == 0)
        assert not main.query_one("#note").has_class("-shown")


async def test_n_moves_the_chain_rule_to_the_next_sample(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await pilot.press("n", "n")
        await drive.wait_for(pilot, lambda: main.snapshot.chain.sample == 2)
        assert "sample 2" in main.query_one(MathPanel).plain
        await pilot.press("N")
        await drive.wait_for(pilot, lambda: main.snapshot.chain.sample == 1)


async def test_the_footer_fits_80_columns(drive) -> None:
    app = drive.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await drive.ready(pilot)
        footer = app.main.query_one(Footer)
        wanted = ("space Run/Pause", "s Step", "pace", "d Derive", "? Keys", "q Quit")

        def regions() -> dict[str, Region]:
            return {
                str(widget.render()).strip(): widget.region
                for widget in footer.query("FooterKey, FooterLabel")
            }

        def laid_out() -> bool:
            shown = regions()
            return set(wanted) <= set(shown) and all(r.width for r in shown.values())

        # The footer recomposes when the bindings change; wait until every key is laid out.
        await drive.wait_for(pilot, laid_out)
        shown = regions()
        for label in wanted:
            region = shown[label]
            assert region.width > 0 and region.right <= 80, (label, region)
        labels = sorted(shown, key=lambda label: shown[label].x)
        assert all(shown[a].right < shown[b].x for a, b in itertools.pairwise(labels)), labels
