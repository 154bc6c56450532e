"""Every declared view, from the registry: its probe runs on a network it suits, and its widget
draws the record. A new view is checked here without touching this file."""

from __future__ import annotations

from functools import cache

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from engine.experiment.config import Run
from engine.experiment.presets import PRESETS, get_preset
from tui.screens.help import sections
from tui.session import probes
from tui.session.records import Scene
from tui.session.views import Probe, Subject, ViewDef, register, view, views
from tui.widgets.canvas import Canvas

OFFLINE = [p for p in PRESETS if "mnist" not in p]  # the others download their data
CASES: dict[str, tuple[str, dict]] = {
    "digits, augmented": ("digits", {"train": {"augment_shift": 1}}),
    "sine, one unit": ("sine", {"model": {"hidden": []}}),  # two parameters, w and b
}
"""Experiments beside the presets, for views no offline preset shows."""


@cache
def built(preset: str) -> tuple[Run, Scene]:
    name, changes = CASES.get(preset, (preset, {}))
    exp = get_preset(name).replace(**changes) if changes else get_preset(name)
    run = exp.build()
    return run, probes.make_scene(1, exp, run.data, run.net)


def example(spec: ViewDef) -> str:
    """The first preset (that needs no download) whose network the view suits."""
    for preset in [*OFFLINE, *CASES]:
        run, _ = built(preset)
        if spec.applies(Subject(run.experiment, run.data, run.net)):
            return preset
    raise AssertionError(f"no preset shows the view {spec.name!r}: add one, or a case here")


def drawn(widget: Widget) -> str:
    """What a view drew: its canvases' lines, or what any other widget renders."""
    if isinstance(widget, Canvas):
        return "".join(seg.text for line in widget._strips for seg in line)
    canvases = list(widget.query(Canvas))
    if canvases:
        return "".join(drawn(canvas) for canvas in canvases)
    return str(widget.render())


class OneView(App[None]):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


def test_the_registry_holds_every_view_the_app_had() -> None:
    assert {"boundary", "surface", "curve", "scatter", "images", "confusion", "filters",
            "sequence", "attention", "reconstruction"} <= set(views())  # fmt: skip
    assert [v.network for v in views().values()] == sorted(
        (v.network for v in views().values()), reverse=True
    )  # the network's insides first


def test_an_unknown_view_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="boundary"):
        view("hologram")


def test_a_name_is_declared_once() -> None:
    other = ViewDef("boundary", "t", Widget, "x", lambda s: False, lambda p: None, object)
    with pytest.raises(ValueError, match="declared twice"):
        register(other)


@pytest.mark.parametrize("name", list(views()))
async def test_each_view_probes_a_network_it_suits_and_draws_the_record(name: str) -> None:
    spec = view(name)
    preset = example(spec)
    run, scene = built(preset)
    assert name in scene.views
    record = spec.probe(Probe(scene, run.net, run.trainer, sample=1, head=1, grid=(24, 16)))
    assert isinstance(record, spec.record)
    widget = spec.widget(id=spec.panel)
    async with OneView(widget).run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        widget.show(scene, record)
        for _ in range(20):
            await pilot.pause(0.02)
            if drawn(widget).strip():
                break
        assert drawn(widget).strip(), f"{name} ({preset}) drew nothing"


@pytest.mark.parametrize("name", list(views()))
def test_each_views_keys_and_help_are_on_the_help_page(name: str) -> None:
    spec = view(name)
    rows = {key: what for _, lines in sections() for key, what in lines}
    assert spec.help and rows[spec.name] == spec.help
    for key in spec.keys:
        assert rows[key.key] == key.help
        assert callable(getattr(spec.widget, f"action_{key.action}"))
        assert key.key in spec.keys_note
