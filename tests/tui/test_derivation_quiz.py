"""The derivation screen: typing each backward step before it is shown (``f``), finding the same
step again in the other view, unique step names, one export file per view, no character lost
when a formula wraps at 80×24, and a default weight whose gradient is not zero."""

from __future__ import annotations

import numpy as np
from rich.cells import cell_len
from textual.widgets import Input

from derive.factor_quiz import question
from derive.printers import unicode
from engine.experiment.presets import get_preset
from tui.screens.derivation import (
    DerivationScreen,
    export_name,
    meaning,
    plain_number,
    step_names,
)
from tui.session.params import default_entry

SIZE = (120, 40)


async def open_derivation(drive, pilot) -> DerivationScreen:
    app = pilot.app
    await drive.ready(pilot)
    await drive.step(pilot, 1)
    await pilot.press("d")
    await drive.wait_for(pilot, lambda: isinstance(app.screen, DerivationScreen))
    screen = app.screen
    await drive.wait_for(pilot, lambda: screen.derivation is not None, timeout=60)
    return screen


def detail(screen: DerivationScreen) -> str:
    return str(screen.query_one("#step-text").content)


async def type_in(pilot, screen: DerivationScreen, text: str) -> None:
    box = screen.query_one("#factor-input", Input)
    assert box.has_focus and box.display
    box.value = text
    await pilot.press("enter")
    await pilot.pause()


async def test_f_hides_each_backward_step_until_its_formula_is_typed(drive) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot)
        d = screen.derivation
        first = next(i for i in range(len(d.steps)) if question(d.steps, i) is not None)
        assert d.steps[first].label == "∂L/∂ŷ₀"
        assert screen.active_bindings["f"].binding.description == "Type it first"
        await pilot.press("f")
        assert screen.quiz and screen.asking() is None  # step 1 is the forward pass: shown
        await pilot.press(*["right"] * first)
        asked = screen.asking()
        assert asked is not None and screen.index == first
        value = f"{d.steps[first].value:.4g}"
        assert "= ?" in detail(screen) and value not in detail(screen)
        prompt = str(screen.query_one("#factor-prompt").content)
        assert "yhat = ŷ₀" in prompt and "y = y₀" in prompt

        # wrong: a hint naming the slip, the step still hidden
        await type_in(pilot, screen, "2*(y - yhat)")
        assert screen.index == first and screen.asking() is not None
        assert "sign" in str(screen.query_one("#factor-hint").content)
        await type_in(pilot, screen, "yhat - y")
        assert "factor 2" in str(screen.query_one("#factor-hint").content)

        # right: shown, and on to the next step, which asks in turn
        await type_in(pilot, screen, "2*yhat - 2*y")
        assert screen.answered[("index", first)] == "right"
        assert screen.index == first + 1
        nxt = screen.asking()
        assert nxt is not None and nxt.lhs == "σ′(z²₀)"
        await type_in(pilot, screen, "yhat*(1-yhat)")
        assert screen.index == first + 2

        # three wrong tries: the step is shown with its value
        third = screen.asking()
        assert third is not None
        for typed in ("dL_dyhat", "sigmoid_prime", "dL_dyhat + sigmoid_prime"):
            await type_in(pilot, screen, typed)
        assert screen.answered[("index", first + 2)] == "shown"
        assert screen.index == first + 2 and screen.asking() is None
        assert f"{d.steps[first + 2].value:.4g}" in detail(screen)
        assert "shown after 3 wrong tries" in detail(screen)
        assert not screen.query_one("#factor-input").display

        # back to an answered step: shown; f off: every step shown again
        await pilot.press("left", "left")
        assert screen.asking() is None and "you typed it" in detail(screen)
        await pilot.press("f")
        await pilot.press("end")
        assert screen.asking() is None and not screen.quiz


async def test_a_name_outside_the_step_and_escape_from_the_box(drive) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot)
        d = screen.derivation
        first = next(i for i in range(len(d.steps)) if question(d.steps, i) is not None)
        await pilot.press(*["right"] * first, "f")
        await type_in(pilot, screen, "2*(q - y)")
        hint = str(screen.query_one("#factor-hint").content)
        assert "q" in hint and "yhat" in hint and screen.tries[("index", first)] == 1
        await pilot.press("escape")  # leaves the box, not the screen
        assert app.screen is screen and not screen.query_one("#factor-input").has_focus
        await pilot.press("left")
        assert screen.index == first - 1


async def test_v_keeps_the_steps_meaning(drive) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot)
        d = screen.derivation
        target = next(i for i, s in enumerate(d.steps) if s.label == "δ²₀")
        await pilot.press(*["right"] * target)
        await pilot.press("v")
        await drive.wait_for(pilot, lambda: "vector" in screen.derivations, timeout=60)
        await pilot.pause()
        vector = screen.derivation
        assert vector.view == "vector" and vector.steps[screen.index].label == "δ²"
        assert screen.index != target  # the same meaning at another step number
        await pilot.press("v")
        assert screen.derivation.steps[screen.index].label == "δ²₀"


def test_step_names_are_unique_and_say_how_the_repeat_differs() -> None:
    from derive import derive

    run = get_preset("xor").build()
    t = run.experiment.train
    d = derive(run.net, run.data.X_train[:1], run.data.y_train[:1], t.loss, "0.W[0,1]")
    names = step_names(d)
    assert len(set(names)) == len(names)
    labels = [s.label for s in d.steps]
    repeated = [n for n, label in zip(names, labels) if n != label]
    assert repeated == ["∂L/∂W¹₀,₁ (along the path)"]
    assert meaning(d.steps[0]) == ("forward", "z", "1")


async def test_x_and_m_write_one_file_per_view(drive, in_tmp) -> None:
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_derivation(drive, pilot)
        await pilot.press("x")
        await pilot.press("v")
        await drive.wait_for(pilot, lambda: "vector" in screen.derivations, timeout=60)
        await pilot.press("x")
        index, vector = (in_tmp / export_name(screen.param, "tex", v) for v in ("index", "vector"))
        assert index.is_file() and vector.is_file()
        assert index.read_text() != vector.read_text()
        assert "index" in index.name and "vector" in vector.name


async def test_no_character_of_a_wrapped_formula_is_lost_at_80x24(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_derivation(drive, pilot)
        d = screen.derivation
        panel = screen.query_one("#step-detail")
        checked = wrapped = 0
        for i, step in enumerate(d.steps):
            screen.index = i
            await pilot.pause()
            width = panel.scrollable_content_region.width
            shown = detail(screen)
            assert max(cell_len(line) for line in shown.splitlines()) <= width, (i, shown)
            forms = [step.general, step.substituted] if "shortened" not in shown else []
            for form in forms:
                formula = unicode(form) if form is not None else "\n"
                if "\n" not in formula:  # one line of maths: wrapped by the screen
                    assert "".join(formula.split()) in "".join(shown.split()), (i, shown)
                    checked += 1
                    wrapped += len(formula) > width
        assert checked >= 20 and wrapped >= 3  # among them the long sums over the paths


def test_the_default_weight_on_digits_has_a_gradient() -> None:
    run = get_preset("digits").build()
    t, data = run.experiment.train, run.data
    x, y = data.X_train[:64], data.y_train[:64]
    twin = run.net.copy()
    twin.loss_and_grad(x, y, t.loss, t.l1, t.l2)
    assert twin.grads["0.W"][0, 0] == 0.0  # input pixel 0 is blank in every image
    entry = default_entry(run.net, data.X_train, data.y_train, t.loss, t.l1, t.l2)
    assert entry != "0.W[0,0]" and entry.startswith("0.W[0,")
    column = int(entry.split(",")[1].rstrip("]"))
    assert twin.grads["0.W"][0, column] != 0.0
    assert not np.any(twin.grads["0.W"][0, :column])  # the first such entry


def test_numbers_never_print_as_minus_zero() -> None:
    assert plain_number(-0.0, 10) == "0" and plain_number(-1.5e-3, 4) == "-0.0015"
