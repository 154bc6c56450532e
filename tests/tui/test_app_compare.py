"""The app opens a sweep or several saved runs (``o``) to compare: their curves join the loss
plot as earlier runs, the runs table (``K``) lists them, and picking one of a sweep's points
opens it to train on."""

from __future__ import annotations

import math
from pathlib import Path

from engine.experiment.runs import RunDir
from tests.tui.test_app_worker import Running
from tests.tui.test_cmd_compare import EPOCHS, make_sweep
from tui.screens.open_run import OpenRunScreen
from tui.session.records import Notice
from tui.session.worker import TrainingSession
from tui.widgets.loss_plot import LossPlot

SIZE = (120, 40)


def test_open_many_labels_each_point_by_its_swept_values(tmp_path) -> None:
    sweep = make_sweep(tmp_path / "sweeps" / "xor-lr", epochs=6)
    from engine.experiment.presets import get_preset

    session = TrainingSession(get_preset("xor"), paused=True)
    with Running(session) as running:
        session.open_many([sweep])
        running.wait(lambda snap: len(snap.runs) == 8)
    notices = [p for p in running.posted if isinstance(p, Notice)]
    assert notices[-1].ok and "Opened 8 sweep" in notices[-1].text
    first = session.runs[0]
    assert first.label == "lr=0.01 optimizer=sgd seed=0"
    rundir = RunDir.open(sweep / "p000-lr0.01-sgd-s0")
    rows = rundir.rows
    assert first.epochs == 6 and len(first.points) == 6
    assert [p.step for p in first.points] == [e.step for e in rows]
    assert first.best_test_loss == min(e.val_loss for e in rows if e.val_loss is not None)
    assert first.final is not None and first.final.test_loss == rows[-1].val_loss
    assert first.per_epoch == rows[0].step  # xor trains on the full batch: one step per epoch
    assert first.experiment.train.optimizer == "sgd" and first.state == "done"


async def test_o_opens_a_sweep_to_compare_then_one_point_to_train(drive, in_tmp: Path) -> None:
    make_sweep(in_tmp / "sweeps" / "xor-lr")
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await pilot.press("o")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen))
        screen = app.screen
        await pilot.press("enter")  # the sweep, the list's only entry: its points
        await drive.wait_for(pilot, lambda: screen.sweep == Path("sweeps/xor-lr"))
        await pilot.press("enter")  # "compare all 8 points"
        session = app.session
        await drive.wait_for(pilot, lambda: len(session.runs) == 8)
        assert not isinstance(app.screen, OpenRunScreen)
        labels = [r.label for r in session.runs]
        assert labels[0] == "lr=0.01 optimizer=sgd seed=0" and len(set(labels)) == 8
        plot = app.main.query_one(LossPlot)
        await drive.wait_for(pilot, lambda: len(plot.runs) == 8)
        await pilot.press("K")  # the runs table lists them
        await drive.wait_for(pilot, lambda: plot.mode == "table")
        table = plot.query_one("#runs-table")
        await drive.wait_for(pilot, lambda: len(table.plain.splitlines()) >= 10)
        rows = table.plain.splitlines()[1:]
        assert [r.split()[0] for r in rows[:8]] == [label.split()[0] for label in labels]
        assert all(r.split()[1].startswith("optimizer") for r in rows[:8])
        assert session.run.trainer.step == 0  # the run being trained is left as it was

        # picking a point opens it to train on
        await pilot.press("o")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen))
        screen = app.screen
        await pilot.press("enter")
        await drive.wait_for(pilot, lambda: screen.sweep is not None)
        await pilot.press("down", "down", "enter")  # the second point
        await drive.wait_for(pilot, lambda: session.rundir is not None)
        assert session.rundir.path == Path("sweeps/xor-lr/p001-lr0.01-sgd-s1")
        assert session.run.trainer.epoch >= EPOCHS and session.run.experiment.train.seed == 1
        assert session.run_label == "opened p001-lr0.01-sgd-s1"


async def test_several_run_folders_typed_in_the_path_field(drive, in_tmp: Path) -> None:
    sweep = make_sweep(in_tmp / "s", epochs=4)
    runs = [sweep / "p000-lr0.01-sgd-s0", sweep / "p007-lr1.0-adam-s1"]
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await pilot.press("o")
        await drive.wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen))
        await pilot.click("#open-path")
        field = app.screen.query_one("#open-path")
        field.value = " ".join(str(p.relative_to(in_tmp)) for p in runs)
        await pilot.press("enter")
        session = app.session
        await drive.wait_for(pilot, lambda: len(session.runs) == 2)
        assert [r.label for r in session.runs] == [p.name for p in runs]
        assert all(math.isfinite(r.best_test_loss) for r in session.runs)


async def test_a_folder_that_is_no_run_is_reported(drive, in_tmp: Path) -> None:
    (in_tmp / "a").mkdir()
    (in_tmp / "b").mkdir()
    app = drive.app("xor")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        app.main._open_run(["a", "b"])
        await drive.wait_for(pilot, lambda: bool(list(app._notifications)))
        assert app.session.runs == ()
        (note,) = [n for n in app._notifications]
        assert note.severity == "error" and "a is neither a dltui run nor a sweep" in note.message
