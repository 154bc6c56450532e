"""The setup screen's training fields (momentum, initialisation, clipping, patience, validation),
a form applied right after the last keystroke, and a run saved after a change of data set."""

from __future__ import annotations

import tomllib

from textual.widgets import Input, Select

from engine.experiment.presets import get_preset
from engine.experiment.runs import CONFIG

SIZE = (120, 40)


def test_the_xor_description_matches_its_config() -> None:
    xor = get_preset("xor")
    assert xor.train.optimizer == "sgd" and xor.train.momentum == 0.9
    assert "momentum 0.9" in xor.description and "plain" not in xor.description


async def test_training_fields_are_shown_and_applied(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        assert not setup.query_one("#row-momentum").display  # adam reads no momentum
        assert setup.query_one("#clip_norm", Input).value == ""  # none: no clipping
        assert setup.query_one("#patience", Input).value == ""
        setup.query_one("#optimizer", Select).value = "sgd"
        await pilot.pause()
        assert setup.query_one("#row-momentum").display
        for field, value in (
            ("momentum", "0.9"),
            ("clip_norm", "1.5"),
            ("patience", "7"),
            ("validation", "0.25"),
        ):
            setup.query_one(f"#{field}", Input).value = value
        setup.query_one("#init", Select).value = "he"
        await pilot.pause()
        assert setup.candidate is not None, str(setup.query_one("#setup-note").content)
        await pilot.press("ctrl+s")
        session = app.session
        await drive.wait_for(pilot, lambda: session.run.experiment.train.optimizer == "sgd")
        t, m = session.run.experiment.train, session.run.experiment.model
        assert (t.momentum, t.clip_norm, t.patience, t.validation) == (0.9, 1.5, 7, 0.25)
        assert m.init == "he"
        await drive.wait_for(pilot, lambda: "momentum 0.9" in app.main.query_one("#header").plain)


async def test_a_wrong_patience_is_named_and_an_empty_one_means_none(drive) -> None:
    app = drive.app("spiral", train={"patience": 5, "clip_norm": 2.0})
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        assert setup.query_one("#patience", Input).value == "5"
        setup.query_one("#patience", Input).value = "soon"
        await pilot.pause()
        assert setup.candidate is None
        assert "patience 'soon' is not a number" in str(setup.query_one("#setup-note").content)
        setup.query_one("#patience", Input).value = ""
        setup.query_one("#clip_norm", Input).value = ""
        await pilot.pause()
        assert setup.candidate is not None
        assert setup.candidate.train.patience is None and setup.candidate.train.clip_norm is None


async def test_apply_right_after_typing_takes_the_last_keystroke(drive) -> None:
    """ctrl+s handled before the field's last Changed message still applies what the field
    reads (a fast typist lost the last character: ``16, 16, 16`` became ``16, 16, 1``)."""
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        field = setup.query_one("#hidden", Input)
        field.focus()
        await pilot.press("end", *["backspace"] * 8, *"16, 16, 1")
        await pilot.pause()
        assert setup.candidate is not None and setup.candidate.model.hidden == [16, 16, 1]
        field.insert_text_at_cursor("6")  # its Changed message is not handled yet
        setup.action_apply()
        session = app.session
        await drive.wait_for(pilot, lambda: session.run.experiment.model.hidden != [8, 8])
        assert session.run.experiment.model.hidden == [16, 16, 16]


async def test_typing_fast_in_every_text_field_keeps_every_character(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        typed = {"hidden": "16, 16, 16", "lr": "0.125", "epochs": "40", "dropout": "0.25"}
        for name, text in typed.items():
            field = setup.query_one(f"#{name}", Input)
            field.focus()
            await pilot.press("end", *["backspace"] * 12, *text)
        await pilot.press("ctrl+s")
        session = app.session
        await drive.wait_for(pilot, lambda: session.run.experiment.model.hidden == [16, 16, 16])
        exp = session.run.experiment
        assert (exp.train.lr, exp.train.epochs, exp.model.dropout) == (0.125, 40, 0.25)


async def test_a_run_on_another_data_set_is_saved_under_its_own_name(drive, in_tmp) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#dataset", Select).value = "circle"  # a classification set, as spiral
        await drive.wait_for(pilot, lambda: setup.query_one("#loss", Select).value is not None)
        await pilot.pause()
        await pilot.press("ctrl+s")
        session = app.session
        await drive.wait_for(pilot, lambda: session.run.experiment.data.name == "circle")
        await pilot.press("w")
        await drive.wait_for(pilot, lambda: session.rundir is not None)
        await drive.wait_for(pilot, lambda: (session.rundir.path / CONFIG).exists())
        assert session.rundir.path.name.startswith("circle-")
        saved = tomllib.loads((session.rundir.path / CONFIG).read_text())
        assert saved["name"] == "circle"
        assert saved["description"] == "The spiral settings on the circle data set"
        assert saved["data"]["name"] == "circle"
