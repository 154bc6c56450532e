"""Rough edges of the app: keys pressed before a snapshot, readouts after a change, cut text."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import ContentSwitcher

from engine.datasets.files import IRIS_FEATURES
from tui.app import DltuiApp
from tui.session.worker import TrainingSession
from tui.widgets.canvas import Canvas
from tui.widgets.network_view import LABEL_WIDTH, NetworkView, short_labels
from tui.widgets.text_lines import TextLines

SIZE = (120, 40)


@pytest.fixture
def held_start(monkeypatch) -> threading.Event:
    """The training thread waits for this event before its first snapshot (a slow start)."""
    gate = threading.Event()
    loop = TrainingSession.loop

    def held(self: TrainingSession, post) -> None:
        gate.wait(20)
        loop(self, post)

    monkeypatch.setattr(TrainingSession, "loop", held)
    return gate


async def wait_mounted(pilot, drive) -> None:
    app = pilot.app
    assert isinstance(app, DltuiApp)

    def mounted() -> bool:
        try:
            return app.main.is_mounted
        except LookupError:
            return False

    await drive.wait_for(pilot, mounted)


async def test_g_before_the_first_snapshot_of_a_deep_network_is_kept(drive, held_start) -> None:
    app = drive.app("plain-deep")
    async with app.run_test(size=SIZE) as pilot:
        await wait_mounted(pilot, drive)
        panel = app.main.query_one("#network-panel", ContentSwitcher)
        assert panel.current == "layers"  # a deep stack opens on its layer list at once
        await pilot.press("g")
        assert panel.current == "network"
        held_start.set()
        await drive.ready(pilot)
        await pilot.pause(0.1)
        assert panel.current == "network"  # the first snapshot did not undo the key
        assert panel.border_title == "network"


async def test_g_after_a_reset_on_a_deep_network_is_kept(drive, monkeypatch) -> None:
    gate, reset = threading.Event(), TrainingSession._reset

    def slow_reset(self: TrainingSession) -> None:
        gate.wait(20)
        reset(self)

    monkeypatch.setattr(TrainingSession, "_reset", slow_reset)
    app = drive.app("plain-deep")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        panel = main.query_one("#network-panel", ContentSwitcher)
        assert panel.current == "layers"
        scene = main.scene
        await pilot.press("r", "g")  # a new network; g pressed before its first snapshot
        assert panel.current == "network"
        gate.set()
        await drive.wait_for(pilot, lambda: main.scene is not scene)
        assert panel.current == "network"


async def test_a_setup_change_to_a_deep_network_opens_its_layer_list(drive) -> None:
    app = drive.app("spiral")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        main = app.main
        panel = main.query_one("#network-panel", ContentSwitcher)
        assert panel.current == "network"
        deep = app.session.experiment.replace(model={"hidden": [8] * 9})
        scene = main.scene
        app.session.rebuild(deep)
        await drive.wait_for(pilot, lambda: main.scene is not scene)
        assert panel.current == "layers"
        await pilot.press("g")
        assert panel.current == "network"


# ---------------------------------------------------------------------- text cut to the width
def rows_of(widget: Canvas) -> list[str]:
    """The lines a canvas drew."""
    return ["".join(seg.text for seg in line) for line in widget._strips]


def test_a_cut_line_ends_in_an_ellipsis_after_a_whole_number() -> None:
    values = ("0.002279", "-0.232", "-0.09426", "-5.253e-06", "-0.03223", "-0.0297")
    panel = TextLines()
    panel.lines = [[("δ² = ", "bold"), (f"({', '.join(values)})ᵀ", "")]]
    for width in range(14, 60):
        (line,) = panel.draw(width, 1)
        text = "".join(seg.text for seg in line).rstrip()
        assert text.endswith("…") and len(text) <= width, text
        shown = text.removeprefix("δ² = (").removesuffix("…").rstrip(", ")
        assert all(v in values for v in shown.split(", ") if v), (width, text)


def test_a_line_that_fits_is_not_cut() -> None:
    panel = TextLines()
    panel.lines = [[("acc 100.0% / 100.0%", "")]]
    (line,) = panel.draw(19, 1)
    assert "".join(seg.text for seg in line) == "acc 100.0% / 100.0%"
    (line,) = panel.draw(18, 1)
    assert "".join(seg.text for seg in line).rstrip() == "acc 100.0% / …"


def test_input_labels_are_short_and_distinct() -> None:
    assert short_labels(IRIS_FEATURES) == ["sep.len", "sep.wid", "pet.len", "pet.wid"]
    for side in (8, 28):
        names = [f"pixel_{r}_{c}" for r in range(side) for c in range(side)]
        labels = short_labels(names)
        assert len(set(labels)) == len(names) and max(map(len, labels)) <= LABEL_WIDTH
        assert labels[side + 2] == ("pix1,2" if side == 8 else "px1,2")
    assert short_labels(["x1", "x2"]) == ["x1", "x2"]  # names that fit stay as they are
    clash = ["a very long name", "a very long name too"]  # no abbreviation tells these apart
    assert short_labels(clash) == ["in0", "in1"]


async def test_the_diagram_labels_iris_inputs_apart(drive) -> None:
    app = drive.app("iris")
    async with app.run_test(size=SIZE) as pilot:
        await drive.ready(pilot)
        await drive.step(pilot)
        view = app.main.query_one(NetworkView)
        await drive.wait_for(pilot, lambda: "sep.len" in "".join(rows_of(view)))
        labels = [row[:8].strip() for row in rows_of(view)[1:-1] if row[:8].strip()]
        assert labels == ["sep.len", "sep.wid", "pet.len", "pet.wid"]


def test_the_layer_list_marks_a_cut_row() -> None:
    from tui.widgets.layer_list import fit

    cells = [(ch, None) for ch in "▸ 3 Dense·Tanh  ████▌   3.1e-03"]
    cut = "".join(ch for ch, _ in fit(cells, 26))  # type: ignore[arg-type]
    assert cut.endswith("…") and "3.1" not in cut and len(cut) <= 26
