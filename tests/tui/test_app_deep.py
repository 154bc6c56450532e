"""Deeper networks in the app: every preset opens and trains, and shows the view that suits it."""

from __future__ import annotations

import re

import numpy as np
import pytest
from textual.widgets import ContentSwitcher, Input, Label, Select

from engine.experiment.presets import PRESETS, get_preset
from tui.screens.derivation import DerivationScreen
from tui.session import probes_nets
from tui.session.params import entry_at, flat_position, is_entry, parse_entry
from tui.session.records import AttentionMap, FeatureMaps, ParamNote, SequenceFit
from tui.session.views import walk
from tui.widgets.attention_view import AttentionView
from tui.widgets.canvas import Canvas
from tui.widgets.heat_map import HeatMap
from tui.widgets.layer_list import LayerList, bar
from tui.widgets.math_panel import MathPanel

SIZE = (120, 40)
VIEWS = {
    "lenet-digits": "filters",
    "lstm-sine": "sequence",
    "gru-adding": "sequence",
    "transformer-text": "attention",
    "autoencoder-digits": "reconstruction",
    "residual-deep": "boundary",
    "plain-deep": "boundary",
}


def drawn(widget) -> str:
    """Every character a canvas drew, or the canvases inside a container."""
    if isinstance(widget, Canvas):
        return "".join(seg.text for line in widget._strips for seg in line)
    return "".join(drawn(child) for child in widget.query(Canvas))


def test_every_preset_but_the_downloads_is_covered() -> None:
    assert set(VIEWS) | {"xor", "circle", "quadrants", "gaussians", "spiral", "moons", "plane",
                         "multigauss", "sine", "digits", "iris"} == {
        p for p in PRESETS if "mnist" not in p
    }  # fmt: skip


@pytest.mark.parametrize("preset", list(VIEWS))
async def test_each_deep_preset_opens_steps_and_shows_its_view(drive, preset) -> None:
    app = drive.app(preset)
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 2)
        main = app.main
        scene = main.snapshot.scene
        current = main.query_one("#view-panel", ContentSwitcher).current
        assert current == VIEWS[preset] == scene.view
        await drive.wait_for(pilot, lambda: drawn(main.query_one(f"#{current}")).strip() != "")
        # the layer list draws every layer with a gradient norm; the diagram only small MLPs
        assert len(main.snapshot.layer_norms) == len(scene.rows) > 0
        if main.query_one("#network-panel", ContentSwitcher).current == "layers":
            await drive.wait_for(pilot, lambda: "▸" in drawn(main.query_one(LayerList)))
        assert main.snapshot.chain is not None
        assert app.session.run.trainer.step == 2


async def test_cnn_shows_filters_and_maps_of_a_chosen_test_image(drive) -> None:
    app = drive.app("lenet-digits")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        main = app.main
        maps = main.snapshot.view
        assert isinstance(maps, FeatureMaps)
        assert maps.filters.shape == (16, 1, 3, 3) and maps.maps.shape == (16, 8, 8)
        assert maps.maps.min() >= 0  # after ReLU
        await pilot.press("n")
        await drive.wait_for(pilot, lambda: getattr(main.snapshot.view, "sample", 0) == 1)
        assert "test image #1" in drawn(main.query_one("#filters"))
        view = main.query_one("#filters")
        lines = ["".join(seg.text for seg in line) for line in view._strips]
        first = [line.split()[:3] for line in lines if line.split()[:1] in (["0"], ["in"])]
        assert first == [["0", "1", "2"], ["in", "0", "1"]]  # filters; the input and its maps
        tiles = ["▀" in line for line in lines]
        runs = sum(1 for i, t in enumerate(tiles) if t and (i == 0 or not tiles[i - 1]))
        label_lines = [i + 1 for i, line in enumerate(lines[:-1]) if not tiles[i] and tiles[i + 1]]
        assert runs == len(label_lines) >= 3  # every row of pictures under its own labels
        await pilot.press("v")  # the confusion matrix and test images of the image set
        await drive.wait_for(
            pilot, lambda: main.query_one("#view-panel", ContentSwitcher).current == "classes"
        )
        assert isinstance(main.snapshot.chain, ParamNote)
        assert "Conv2D" in main.query_one(MathPanel).plain


async def test_hidden_state_and_prediction_follow_training(drive) -> None:
    app = drive.app("lstm-sine")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        main = app.main
        before = main.snapshot.view
        assert isinstance(before, SequenceFit) and before.per_step
        assert before.hidden.shape == (32, 32) and before.predicted.shape == (32,)
        heat = main.query_one("#hidden-map", HeatMap)
        assert heat.values is before.hidden and "▀" in drawn(heat)
        await drive.step(pilot, 3)
        after = main.snapshot.view
        assert isinstance(after, SequenceFit) and after.sample == before.sample
        assert not np.allclose(after.hidden, before.hidden)
        assert heat.values is after.hidden


async def test_adding_reads_out_every_hidden_state_and_marks_the_values(drive) -> None:
    app = drive.app("gru-adding")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        fit = app.main.snapshot.view
        assert isinstance(fit, SequenceFit) and not fit.per_step
        assert len(fit.marks[0]) == 2  # the two marked values
        assert np.allclose(fit.target, fit.marks[1].sum(), atol=1e-6)


async def test_attention_heat_map_updates_and_heads_switch(drive) -> None:
    app = drive.app("transformer-text")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        main = app.main
        first = main.snapshot.view
        assert isinstance(first, AttentionMap) and first.weights is not None
        T = len(first.text)
        assert first.weights.shape == (T, T)
        assert np.allclose(first.weights.sum(axis=1), 1, atol=1e-4)
        assert np.allclose(np.triu(first.weights, 1), 0)  # causal: no look-ahead
        assert len(first.predicted) == len(first.target) == T and first.generated
        await drive.step(pilot, 1)
        second = main.snapshot.view
        assert not np.allclose(second.weights, first.weights)
        await pilot.press("h")
        await drive.wait_for(pilot, lambda: main.snapshot.view.head == 1)
        view = main.query_one(AttentionView)
        await drive.wait_for(
            pilot, lambda: "head 2 of 2, layer 2.1" in drawn(view.query_one("#attention-caption"))
        )
        assert "predicts" in drawn(view.query_one("#attention-text"))


async def test_plain_deep_gradients_vanish_where_residual_ones_do_not(drive) -> None:
    ratios = {}
    for preset in ("plain-deep", "residual-deep"):
        app = drive.app(preset)
        async with app.run_test(size=SIZE) as pilot:
            await drive.ready(pilot)
            await drive.step(pilot, 1)
            main = app.main
            assert main.query_one("#network-panel", ContentSwitcher).current == "layers"
            norms = main.snapshot.layer_norms
            assert len(norms) == 18
            ratios[preset] = norms[-1] / norms[0]
            label = "Res(Dense·Tanh)" if preset == "residual-deep" else "Dense·Tanh"
            layers = main.query_one(LayerList)
            await drive.wait_for(pilot, lambda t=label, w=layers: t in drawn(w))
    assert ratios["plain-deep"] > 1e3 and ratios["residual-deep"] < 1e2


async def test_setup_picks_a_preset_to_switch_to(drive) -> None:
    app = drive.app("residual-deep")
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#preset", Select).value = "plain-deep"
        await drive.wait_for(pilot, lambda: setup.query_one("#kind", Select).value == "mlp")
        assert "new network" in str(setup.query_one("#setup-note").content)
        await pilot.press("ctrl+s")
        main = app.main
        await drive.wait_for(pilot, lambda: main.snapshot.scene.generation == 2)
        assert main.snapshot.scene.mlp and len(main.snapshot.scene.widths) == 19
        assert app.session.run.experiment.name == "plain-deep"


@pytest.mark.parametrize("preset", ["transformer-text", "autoencoder-digits", "gru-adding"])
async def test_setup_opens_on_every_kind_of_network(drive, preset) -> None:
    app = drive.app(preset)
    async with app.run_test(size=SIZE) as pilot:
        await drive.setup(pilot)
        await pilot.pause()
        assert "Nothing changed" in str(app.screen.query_one("#setup-note").content)


SETUP_FIELDS = {  # preset: the model rows shown, and what the hidden field is called
    "lenet-digits": ({"hidden", "channels", "activation", "dropout"}, "dense layers"),
    "lstm-sine": ({"hidden"}, "recurrent units"),
    "transformer-text": ({"d_model", "heads", "blocks"}, None),
    "residual-deep": ({"hidden", "activation"}, "residual blocks"),
    "spiral": ({"hidden", "activation", "dropout"}, "hidden layers"),
}


@pytest.mark.parametrize("preset", sorted(SETUP_FIELDS))
async def test_setup_shows_the_fields_each_kind_of_network_reads(drive, preset) -> None:
    app = drive.app(preset)
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        await pilot.pause()
        fields = ("hidden", "channels", "activation", "dropout", "d_model", "heads", "blocks")
        shown = {f for f in fields if setup.query_one(f"#row-{f}").display}
        expected, hidden_label = SETUP_FIELDS[preset]
        assert shown == expected
        playground = preset in ("spiral", "residual-deep")
        assert setup.query_one("#row-features").display == playground  # x1, x2, x1² … inputs
        if hidden_label:
            assert str(setup.query_one("#label-hidden", Label).content) == hidden_label


async def test_setup_changes_a_transformers_heads_and_checks_the_width(drive) -> None:
    app = drive.app("transformer-text")
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#heads", Input).value = "4"
        await pilot.pause()
        assert setup.candidate is not None and setup.candidate.model.heads == 4
        assert "new network" in str(setup.query_one("#setup-note").content)
        setup.query_one("#d_model", Input).value = "30"
        await pilot.pause()
        assert setup.candidate is None
        assert "does not split into 4 heads" in str(setup.query_one("#setup-note").content)
        setup.query_one("#kind", Select).value = "lstm"  # the form follows the kind
        await pilot.pause()
        assert not setup.query_one("#row-heads").display
        assert str(setup.query_one("#label-hidden", Label).content) == "recurrent units"


async def test_any_parameter_can_be_selected_and_derivation_does_not_crash(drive) -> None:
    app = drive.app("lenet-digits")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        main = app.main
        assert app.session.selected == "0.W[0,0,0,0]"
        await pilot.press("down", "down", "right")
        assert app.session.selected == "3.W[0,0,0,0]"
        await pilot.press("left", "up")  # wraps to the last entry of the first layer
        assert app.session.selected == "0.b[15]"
        await drive.wait_for(pilot, lambda: getattr(main.snapshot.chain, "param", "") == "0.b[15]")
        note = main.snapshot.chain
        assert isinstance(note, ParamNote) and note.shape == (16,)
        assert note.value == pytest.approx(float(app.session.run.net.params["0.b"][15]))
        await pilot.press("d")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, DerivationScreen))
        screen = app.screen
        await drive.wait_for(pilot, lambda: screen.view in screen.derivations, timeout=30)
        header = str(screen.query_one("#derivation-header").content)
        assert "layer view" in header and "v view" not in header
        await pilot.press("v")  # one view for a CNN: said, not switched
        assert screen.view == "index" and len(screen.derivations) == 1
        assert any("one view" in n.title for n in app._notifications)
        await pilot.press("escape")
        assert app.screen is main


def test_parameter_entries_of_any_layer() -> None:
    assert parse_entry("2.1.W_in[5, 7]") == ("2.1.W_in", (5, 7))
    assert parse_entry("0.b[3]") == ("0.b", (3,))
    with pytest.raises(ValueError):
        parse_entry("2.W")
    names, shapes = ["0.W", "0.b"], [(2, 1, 3, 3), (2,)]
    assert is_entry("0.W[1,0,2,2]", names, shapes) and not is_entry("0.W[2,0,0,0]", names, shapes)
    for position in (0, 5, 17, 18, 19):
        entry = entry_at(position, names, shapes)
        assert flat_position(entry, names, shapes) == position
    assert entry_at(20, names, shapes) == "0.W[0,0,0,0]"  # wraps around
    assert bar(1e-7, 8).strip() == "" and bar(10.0, 8) == "█" * 8


async def test_g_switches_a_plain_network_between_diagram_and_layer_list(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        main = app.main
        panel = main.query_one("#network-panel", ContentSwitcher)
        assert panel.current == "network"
        await pilot.press("g")
        assert panel.current == "layers"
        await drive.wait_for(pilot, lambda: "Dense·Tanh" in drawn(main.query_one(LayerList)))
        await pilot.press("right")  # the layer list moves the selection too
        assert app.session.selected == "2.W[0,0]"
        await pilot.press("g")
        assert panel.current == "network"


def test_the_attention_note_names_its_head_and_fills_in_the_count_of_heads() -> None:
    net = get_preset("transformer-text").build().net
    note = probes_nets.param_note(net, "2.1.W_in[40,3]")
    assert "with 2 heads," in note.formula and "``" not in note.formula
    assert note.layer.endswith("; key column 8 of head 1 of 2")  # rows 32…63 are the keys
    assert probes_nets.param_note(net, "4.1.W_in[90,0]").layer.endswith(
        "value column 10 of head 2 of 2"
    )


@pytest.mark.parametrize("preset", ["lenet-digits", "lstm-sine", "gru-adding", "transformer-text"])
def test_no_layer_formula_repeats_a_word(preset: str) -> None:
    net = get_preset(preset).build().net
    for layer in walk(net.layers):
        formula = probes_nets.layer_formula(layer)
        assert not re.search(r"\b(\w+) \1\b", formula), formula


async def test_keys_that_do_nothing_for_this_network_say_what_does(drive) -> None:
    app = drive.app("transformer-text")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        assert app.session.shown == "attention"
        await pilot.press("t")
        notes = [n.message for n in app._notifications]
        assert len(notes) == 1 and "h: next head · n/N: next test window" in notes[0]
        assert notes[0].startswith("t shows the test points on a 2-D map")
        await pilot.press("h")  # here h does something, quietly
        await drive.wait_for(pilot, lambda: app.main.snapshot.view.head == 1)
        assert len(app._notifications) == 1
        await pilot.press("v")  # the closer look at its activations comes next, then back
        await drive.wait_for(pilot, lambda: app.session.shown == "activations")
        await pilot.press("v")
        await drive.wait_for(pilot, lambda: app.session.shown == "attention")
        assert len(app._notifications) == 1


async def test_h_on_a_network_without_attention_says_so(drive) -> None:
    app = drive.app("lstm-sine")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot, 1)
        await pilot.press("h")
        (note,) = [n.message for n in app._notifications]
        assert "attention heads; this network has none" in note and "n/N" in note
        assert app.session.head == 0
