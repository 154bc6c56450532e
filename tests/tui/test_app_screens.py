"""The screens besides the main one: derivation, setup, help, open/save, warm-up."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import Checkbox, Input, OptionList, Select

from tui.screens.derivation import DerivationScreen, check_tolerance, relative_error
from tui.screens.help import HelpScreen
from tui.screens.main import MainScreen
from tui.screens.open_run import OpenRunScreen
from tui.screens.warmup import WarmupScreen

SIZE = (100, 32)


async def open_derivation(drive, pilot, *keys: str) -> DerivationScreen:
    """Selects with ``keys``, presses d and waits for the derivation to be computed."""
    app = pilot.app
    await drive.ready(pilot)
    await drive.step(pilot, 2)
    await pilot.press(*keys)
    await pilot.press("d")
    await drive.wait_for(pilot, lambda: isinstance(app.screen, DerivationScreen))
    screen = app.screen
    await drive.wait_for(pilot, lambda: screen.derivation is not None, timeout=30)
    return screen


async def test_d_derives_the_selected_weight_and_arrows_step_through(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot, "right", "down")
        assert screen.param == "2.W[0,1]"
        d = screen.derivation
        assert d.param.text == "2.W[0,1]" and screen.copy.step == 2
        assert screen.index == 0
        detail = lambda: str(screen.query_one("#step-text").content)  # noqa: E731
        assert d.steps[0].label in detail()
        await pilot.press("right", "right")
        assert screen.index == 2 and d.steps[2].label in detail()
        await pilot.press("left")
        assert screen.index == 1
        await pilot.press("end")
        assert screen.index == len(d.steps) - 1
        assert d.steps[-1].part == "update"
        await pilot.press("home")
        assert screen.index == 0
        await drive.wait_for(pilot, lambda: screen.engine_value is not None)
        check = str(screen.query_one("#derivation-check").content)
        assert "engine backward" in check and "relative error" in check
        assert abs(screen.engine_value - d.value) < 1e-9
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


def test_the_chain_rule_check_is_relative_and_sized_to_the_dtype() -> None:
    assert check_tolerance(np.float64) == pytest.approx(1.49e-8, rel=1e-2)
    assert check_tolerance(np.float32) == pytest.approx(3.45e-4, rel=1e-2)
    assert relative_error(1e-6 * (1 + 1e-7), 1e-6) == pytest.approx(1e-7, rel=1e-6)
    assert relative_error(-2.0, 2.0) == 2.0 and relative_error(0.0, 0.0) == 0.0


async def test_the_derivations_update_ends_at_the_weight_the_next_step_gives(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot, "right", "down")
        await pilot.press("v")
        await drive.wait_for(pilot, lambda: "vector" in screen.derivations, timeout=30)
        c, t = screen.copy, screen.copy.experiment.train
        assert c.batch_rows is not None and len(c.batch_rows) == len(c.batch_x) > 1
        shown = [screen.derivations[view] for view in ("index", "vector")]
        flat = shown[0].param.flat
        c.net.loss_and_grad(c.batch_x, c.batch_y, t.loss, t.l1, t.l2)  # the trainer's step
        c.optimizer.step()
        after = float(np.asarray(c.net.data)[flat])
        for d in shown:
            assert d.steps[-1].part == "update"
            assert float(d.steps[-1].value) == pytest.approx(after, rel=1e-5, abs=1e-7)


async def test_a_float32_lstm_derivation_agrees_with_the_engine_to_float64_precision(drive) -> None:
    app = drive.app("lstm-sine")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_derivation(drive, pilot)
        assert app.session.run.net.dtype == np.float32 and screen.param == "0.W_ih[0,0]"
        await drive.wait_for(pilot, lambda: screen.engine_value is not None)
        d = screen.derivation
        assert relative_error(d.value, screen.engine_value) < 1e-12  # inputs rounded alike
        check = str(screen.query_one("#derivation-check").content)
        assert check.startswith("✓ chain rule") and "(within 1e-08, float64)" in check


async def test_v_switches_to_the_vector_view(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot)
        await pilot.press("v")
        assert screen.view == "vector"
        await drive.wait_for(pilot, lambda: "vector" in screen.derivations, timeout=30)
        header = str(screen.query_one("#derivation-header").content)
        assert "vector view" in header
        await pilot.press("v")
        assert screen.view == "index"


async def test_x_and_m_export_latex_and_markdown(drive, in_tmp) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot)
        await pilot.press("x")
        tex = in_tmp / "derivation-0.W_0_0-index.tex"
        assert tex.is_file() and "\\" in tex.read_text()
        await pilot.press("m")
        md = in_tmp / "derivation-0.W_0_0-index.md"
        assert md.is_file() and md.read_text().startswith("#")
        assert screen.exported == md.relative_to(in_tmp)


async def test_setup_rebuilds_the_network_when_the_layers_change(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        main = app.main
        setup.query_one("#hidden", Input).value = "4"
        setup.query_one("#activation", Select).value = "relu"
        await pilot.pause()
        assert "new network" in str(setup.query_one("#setup-note").content)
        await pilot.press("ctrl+s")
        await drive.wait_for(pilot, lambda: main.snapshot.scene.widths == (2, 4, 1))
        assert main.snapshot.scene.generation == 2
        assert app.session.run.experiment.model.activation == "relu"
        assert "2-4-1 relu" in main.query_one("#header").plain


async def test_setup_changes_data_features_and_training_options(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#dataset", Select).value = "circle"
        setup.query_one("#noise", Input).value = "0.2"
        setup.query_one("#test_fraction", Input).value = "0.3"
        setup.query_one("#features-2", Checkbox).value = True  # x1^2
        setup.query_one("#batch_size", Input).value = "full"
        setup.query_one("#reg", Select).value = "L2"
        setup.query_one("#reg_rate", Input).value = "0.001"
        setup.query_one("#optimizer", Select).value = "sgd"
        setup.query_one("#dropout", Input).value = "0.1"
        await pilot.pause()
        await pilot.click("#apply")
        main = app.main
        await drive.wait_for(pilot, lambda: main.snapshot.scene.data.name == "circle")
        exp = app.session.run.experiment
        features = ["x1", "x2", "x1^2"]  # the size shown in the form (spiral's) is kept
        options = {"n": 1000, "noise": 0.2, "test_fraction": 0.3, "features": features}
        assert exp.data.options == options
        assert exp.train.batch_size == "full" and exp.train.l2 == 0.001
        assert exp.train.optimizer == "sgd" and exp.model.dropout == 0.1
        assert main.snapshot.scene.widths[0] == 3


async def test_setup_says_what_is_wrong_and_keeps_the_run(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#lr", Input).value = "fast"
        await pilot.pause()
        assert "learning rate 'fast' is not a number" in str(setup.query_one("#setup-note").content)
        await pilot.press("ctrl+s")
        assert app.screen is setup  # nothing to apply
        setup.query_one("#lr", Input).value = "0.1"
        await pilot.pause()
        assert "while training runs" in str(setup.query_one("#setup-note").content)
        await pilot.press("ctrl+s")
        main = app.main
        await drive.wait_for(pilot, lambda: main.lr == 0.1)
        assert main.snapshot.scene.generation == 1  # the same network goes on


async def test_problem_type_switches_to_regression_sets(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#problem", Select).value = "regression"
        await pilot.pause()
        assert setup.query_one("#dataset", Select).value == "plane"
        assert setup.query_one("#loss", Select).value == "mse"
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert app.session.run.experiment.data.name == "spiral"


async def test_question_mark_lists_every_key(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.query_one("#help-keys").content
        text = "".join(str(cell) for column in keys.columns for cell in column._cells)
        for key in ("space", "s", "r", "+ / -", "> / <", "d", "c", "w / o", "q", "escape", "v"):
            assert key in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_w_saves_the_run_and_o_opens_it_again(drive, in_tmp) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        await drive.step(pilot, 4)
        await pilot.press("w")
        await drive.wait_for(pilot, lambda: app.session.rundir is not None)
        rundir = app.session.rundir.path
        assert (in_tmp / rundir / "checkpoint.npz").is_file()
        saved = main.snapshot.weights[0].copy()
        await drive.step(pilot, 3)
        await pilot.press("o")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen))
        listing = app.screen.query_one(OptionList)
        assert listing.option_count == 1
        await pilot.press("enter")
        await drive.wait_for(pilot, lambda: main.snapshot.scene.generation == 2)
        assert main.step == 4
        assert (main.snapshot.weights[0] == saved).all()


async def test_the_first_start_compiles_kernels_on_a_screen(drive, monkeypatch) -> None:
    import threading

    import tui.app
    import tui.screens.warmup

    release = threading.Event()

    def fake_warm_up(dtypes, progress):
        progress("float32 · mse")
        release.wait(10)

    monkeypatch.setattr(tui.app, "kernels_cached", lambda: False)
    monkeypatch.setattr(tui.screens.warmup, "warm_up", fake_warm_up)
    app = drive.app()
    app._check_kernels = True
    async with app.run_test(size=SIZE) as pilot:
        await drive.wait_for(pilot, lambda: isinstance(app.screen, WarmupScreen))
        screen = app.screen
        await drive.wait_for(
            pilot, lambda: "float32" in str(screen.query_one("#warmup-step").content)
        )
        assert "Compiling kernels" in str(screen.query_one("#warmup-title").content)
        assert app.session is None  # training waits for the kernels
        release.set()
        await drive.ready(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_wide_steps_fit_the_panel(drive) -> None:
    app = drive.app("lenet-digits")
    async with app.run_test(size=(110, 36)) as pilot:
        screen = await open_derivation(drive, pilot, "right")  # 3.W: a conv of 16 channels
        assert screen.param.startswith("3.W[")
        d = screen.derivation
        width = screen.query_one("#step-detail").scrollable_content_region.width
        wide = [i for i, s in enumerate(d.steps) if s.rule.key == "conv_unit"]
        assert wide
        for index in wide:
            screen.index = index
            await pilot.pause()
            lines = str(screen.query_one("#step-text").content).splitlines()
            assert max(len(line) for line in lines) <= width
            assert any("more terms" in line for line in lines)


def test_derivation_header_shortens_a_long_input_to_its_ends_and_size() -> None:
    from tui.screens.derivation import _few_numbers

    assert _few_numbers(np.array([1.0, 2.0])) == "1, 2"
    long = _few_numbers(np.arange(64.0))
    assert long.startswith("0, 1, 2, …, 62, 63") and long.endswith("(64 values)")


async def test_a_setup_mistake_shows_its_config_section_as_text(drive) -> None:
    """Messages name sections such as [train]: the note draws them, not reads them as markup."""
    app = drive.app()
    async with app.run_test(size=(120, 40)) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#lr", Input).value = "-1"
        await pilot.pause()
        assert setup.candidate is None
        shown = str(setup.query_one("#setup-note").render())
        assert "[train] lr must be positive" in shown and shown.startswith("✗")
