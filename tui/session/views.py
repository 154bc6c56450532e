"""The app's views (pictures of a network at work), each declared once, beside its widget.

A view is a :class:`ViewDef`: its name and title, the widget that draws it, which networks and
data it suits (``applies``), what it measures on the training thread (``probe``, which returns the
record the widget draws), the keys it answers to, and its help lines. The file that defines the
widget registers its views with :func:`register`; the main screen, the training session and the
help screen only look them up here. Adding a view is its widget file and one import line in
``tui.widgets.views``, the module that loads every declaration.

Nothing here imports Textual: the declarations name their widget class, but the session only
calls ``applies`` and ``probe``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from engine.datasets import DataSplit, on_plane
from engine.experiment.config import Experiment
from engine.layers import Layer
from engine.layers.blocks import Residual
from engine.network import Sequential
from engine.trainer import Trainer
from tui.session.records import Scene, View

DECLARATIONS = "tui.widgets.views"
"""The module whose import registers every view (it imports each widget file)."""


def walk(layers: list[Layer]) -> Iterator[Layer]:
    """Every layer, and the layers inside residual blocks after their block."""
    for layer in layers:
        yield layer
        if isinstance(layer, Residual):
            yield from walk(layer.inner)


@dataclass(frozen=True, eq=False)
class Subject:
    """What a view's ``applies`` looks at: the experiment, its data and the network."""

    experiment: Experiment
    data: DataSplit
    net: Sequential

    @cached_property
    def layers(self) -> tuple[Layer, ...]:
        """Every layer, those inside residual blocks included."""
        return tuple(walk(self.net.layers))

    def has(self, *types: type) -> bool:
        """Whether any layer (inside blocks too) is one of ``types``."""
        return any(isinstance(layer, types) for layer in self.layers)

    @property
    def regression(self) -> bool:
        """Whether the network predicts numbers (else classes)."""
        return self.data.task == "regression"

    @property
    def plane(self) -> bool:
        """Whether the data are one of the playground's 2-D sets (points in [-6, 6]²)."""
        return on_plane(self.data.name)

    @property
    def text(self) -> bool:
        """Token windows with a next token at every position, and a name for every token."""
        data = self.data
        sample, target = data.sample_shape or (), data.target_shape or ()
        return len(sample) == 1 and target == sample and data.class_names is not None


@dataclass(frozen=True, eq=False)
class Probe:
    """What a view's ``probe`` may read, on the training thread between two steps.

    Attributes:
        scene: the fixed part (experiment, data, the network's shape).
        net: the network; trainer: its trainer.
        sample: the test sample the user chose (n/N).
        head: which attention head the user chose (h), counted through every block.
        grid: the size in pixels of the widget's picture, where the widget asks for one.
    """

    scene: Scene
    net: Sequential
    trainer: Trainer
    sample: int = 0
    head: int = 0
    grid: tuple[int, int] = (48, 32)

    @property
    def data(self) -> DataSplit:
        """The train/test split."""
        return self.scene.data


@dataclass(frozen=True)
class ViewKey:
    """A key that only some views answer to.

    Attributes:
        key: the key, as Textual names it (``"t"``).
        action: the widget's action it runs (``"toggle_test"`` runs ``action_toggle_test``).
        does: what it does, for the note where it does nothing (``"shows the test points …"``).
        missing: why it does nothing elsewhere (``"this picture has none"``).
        help: its line on the help page.
    """

    key: str
    action: str
    does: str
    missing: str
    help: str


@dataclass(frozen=True)
class ViewDef:
    """One view of the app.

    Attributes:
        name: how the session and the snapshots name it (``"boundary"``).
        title: the view panel's title while it is shown.
        widget: the widget class that draws it (one instance per app, shared by its views).
        panel: that widget's id in the view panel (several views may share one widget).
        applies: whether it suits a network and its data.
        probe: measures what it draws, on the training thread; returns ``record``.
        record: the record type ``probe`` returns.
        network: a picture of the network's insides, listed before the pictures of its
            predictions (the first that applies is shown first).
        keys_note: the keys that do something here, told when another key does nothing.
        keys: keys only this view answers to (besides those every view shares).
        help: its line on the help page: what the picture shows.
        extra: a closer look at one idea (an activation's curves, the loss surface): listed
            after the other views, so it is never the one a network opens on.
    """

    name: str
    title: str
    widget: type
    panel: str
    applies: Callable[[Subject], bool]
    probe: Callable[[Probe], View]
    record: type
    network: bool = False
    keys_note: str = ""
    keys: tuple[ViewKey, ...] = ()
    help: str = ""
    extra: bool = False


_VIEWS: dict[str, ViewDef] = {}


def register(*views: ViewDef) -> None:
    """Declares views (called by the file that defines their widget).

    Raises:
        ValueError: when a name is taken by another declaration.
    """
    for v in views:
        old = _VIEWS.get(v.name)
        if old is not None and old != v:
            raise ValueError(f"view {v.name!r} is declared twice")
        _VIEWS[v.name] = v


def views() -> dict[str, ViewDef]:
    """Every declared view by name: network views, then the others, the extra ones last (the
    declarations loaded if need be)."""
    importlib.import_module(DECLARATIONS)
    ordered = sorted(_VIEWS.values(), key=lambda v: (v.extra, not v.network, v.name))
    return {v.name: v for v in ordered}


def view(name: str) -> ViewDef:
    """The view called ``name``.

    Raises:
        KeyError: for an unknown name, listing the declared ones.
    """
    found = views().get(name)
    if found is None:
        raise KeyError(f"unknown view {name!r}; the views are {', '.join(views())}")
    return found


def views_for(experiment: Experiment, data: DataSplit, net: Sequential) -> tuple[str, ...]:
    """The views that suit a network and its data, the first shown first.

    Raises:
        LookupError: when none does (every data set should have a view of its predictions).
    """
    subject = Subject(experiment, data, net)
    names = tuple(v.name for v in views().values() if v.applies(subject))
    if not names:
        raise LookupError(f"no view suits {data.name} with this network; views: {list(views())}")
    return names


def measure(name: str, probe: Probe) -> Any:
    """The record view ``name`` draws, measured now."""
    return view(name).probe(probe)
