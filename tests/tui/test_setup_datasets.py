"""The setup screen's data fields, generated from the data-set registry."""

from __future__ import annotations

from textual.widgets import Input, Select

from engine import datasets
from engine.experiment.config import Experiment
from engine.experiment.presets import get_preset
from engine.experiment.validation import LOSSES_FOR_TASK
from tui.app import DltuiApp
from tui.screens.setup import SetupScreen, form_options, problem_of
from tui.session.pace import FULL_SPEED

SIZE = (100, 32)


async def pick(drive, pilot, setup: SetupScreen, name: str) -> None:
    """Picks a data set as a person would: its problem type first, then the set."""
    record = datasets.lookup(name)
    assert record is not None
    setup.query_one("#problem", Select).value = problem_of(record.task)
    await pilot.pause()
    setup.query_one("#dataset", Select).value = name
    await drive.wait_for(pilot, lambda: setup.query_one("#loss", Select).value is not None)
    await pilot.pause()


async def test_every_data_set_shows_its_own_options_and_losses(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        for option in form_options():  # one field each, no clash with the other fields
            assert len(setup.query(f"#{option.name}")) == 1
        for record in datasets.records():
            await pick(drive, pilot, setup, record.name)
            taken = {o.name for o in record.options if o.in_forms}
            shown = {o.name for o in form_options() if setup.query_one(f"#row-{o.name}").display}
            assert shown == taken, record.name
            loss = setup.query_one("#loss", Select)
            assert loss.value == LOSSES_FOR_TASK[record.task][0], record.name
            for option in record.options:
                if option.name in shown:  # the label fits, with a space before the field
                    label = setup.query_one(f"#label-{option.name}")
                    assert len(option.label) < label.size.width - 1, option.label
                if option.name in shown and option.kind != "choices":
                    hint = setup.query_one(f"#{option.name}", Input).placeholder
                    assert hint.startswith("default"), (record.name, option.name)


async def test_a_value_out_of_the_sets_range_is_named_and_not_applied(drive) -> None:
    app = drive.app()
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        setup.query_one("#noise", Input).value = "0.7"
        await pilot.pause()
        note = str(setup.query_one("#setup-note").content)
        assert "noise=0.7 is outside [0, 0.5]" in note and setup.candidate is None
        setup.query_one("#noise", Input).value = ""  # empty: the set's default
        setup.query_one("#n", Input).value = "300"
        await pilot.pause()
        assert setup.candidate is not None
        assert setup.candidate.data.options == {"n": 300}
        assert "new network" in str(setup.query_one("#setup-note").content)


async def test_a_sequence_set_takes_its_length_and_keeps_other_options(drive) -> None:
    app = drive.app("lstm-sine")
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        before = dict(setup.experiment.data.options)
        assert setup.query_one("#row-length").display
        assert not setup.query_one("#row-features").display
        setup.query_one("#length", Input).value = "16"
        await pilot.pause()
        assert setup.candidate is not None
        assert setup.candidate.data.options == {**before, "length": 16}


async def test_a_csv_table_is_offered_under_its_own_task(drive, tmp_path) -> None:
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{i * 0.5 + 1}" for i in range(40))
    table = tmp_path / "t.csv"
    table.write_text("a,b,target\n" + rows + "\n")
    raw = get_preset("spiral").to_dict()
    raw["data"] = {"name": f"csv:{table}", "target": "target"}
    raw["train"]["loss"] = "mse"
    experiment = Experiment.from_dict(raw)
    app = DltuiApp(experiment, paused=True, check_kernels=False, pace=FULL_SPEED)
    async with app.run_test(size=SIZE) as pilot:
        setup = await drive.setup(pilot)
        assert setup.query_one("#problem", Select).value == "regression"
        assert setup.query_one("#dataset", Select).value == f"csv:{table}"
        assert not any(setup.query_one(f"#row-{o.name}").display for o in form_options())
        assert "Nothing changed" in str(setup.query_one("#setup-note").content)
