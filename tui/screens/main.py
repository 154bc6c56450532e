"""The main screen: training live, with its data, loss, network and chain rule side by side.

The screen owns the training thread (a Textual thread worker running
:meth:`TrainingSession.loop <tui.session.worker.TrainingSession.loop>`), turns keys into requests
to the session, and hands each snapshot that comes back to the widgets that draw it. The view
panel holds a widget per declared view (``tui.session.views``, declared beside each widget): the
screen reads their titles, keys and notes from the declarations and knows no view by name.
Only the widget of the view a network opens on is built with the screen; each other one is
built the first time a snapshot shows its view, so a start pays for one picture, not all.

Opened with a lesson (``dltui learn``), the screen shows the lesson panel beside the views; what
that adds lives in its base, :class:`~tui.screens.lesson_mode.LessonMode`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Static

from engine.experiment.config import Experiment
from tui.describe import summary
from tui.messages import Noticed, ParamSelected, Requested, Updated
from tui.screens.lesson_mode import LESSON, NARROW_LESSON, LessonMode
from tui.session.pace import DrawMeter
from tui.session.records import NetCopy, Notice, Scene, Snapshot
from tui.session.views import ViewDef, ViewKey, view, views
from tui.session.worker import TrainingSession
from tui.widgets.layer_list import LayerList
from tui.widgets.loss_plot import LossPlot
from tui.widgets.math_panel import MathPanel
from tui.widgets.network_view import NetworkView
from tui.widgets.run_header import RunHeader
from tui.widgets.too_small import TooSmall

if TYPE_CHECKING:
    from tui.learn.runner import LessonRunner

LR_KEYS = Binding.Group("lr")
PACE = Binding.Group("pace")
"""Footer groups: ``+ - lr`` and ``> < pace`` (faster / slower), one label per pair."""
ROOMY_FOOTER = 100
"""Terminal columns from which the footer spaces its keys out and offers ^p (the palette):
narrower, every key of the footer still fits 80 columns."""
DIAGRAM_COLUMNS = 8  # deeper plain networks open on the layer list (g switches)
START_GRACE = 0.3
"""Seconds the screen holds back a run's snapshot from before its first step: on a warm kernel
cache that step comes sooner and the screen draws it at once, without a frame drawn for nothing
on the way; a first step that compiles is shown "starting" after this long."""


def view_keys() -> dict[str, ViewKey]:
    """The keys that only some views answer to, by key (the first declaration of each)."""
    keys: dict[str, ViewKey] = {}
    for v in views().values():
        for k in v.keys:
            keys.setdefault(k.key, k)
    return keys


def panels() -> dict[str, type]:
    """The view panel's widgets: one per id, shared by the views it draws."""
    found: dict[str, type] = {}
    for v in views().values():
        found.setdefault(v.panel, v.widget)
    return found


class NetCopied(Message):
    """The training thread copied the network for a derivation."""

    def __init__(self, copy: NetCopy) -> None:
        self.copy = copy
        super().__init__()


class MainScreen(LessonMode):
    """Live training: header, predictions, loss, network and math panels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "choice_move(-1)", "choice ↑", show=False),
        Binding("down", "choice_move(1)", "choice ↓", show=False),
        Binding("enter", "lesson_enter", "answer", show=False),
        Binding("pageup", "lesson_scroll(-1)", "lesson text ↑", show=False),
        Binding("pagedown", "lesson_scroll(1)", "lesson text ↓", show=False),
        *(Binding(str(i), f"choose({i})", f"choice {i}", show=False) for i in range(1, 10)),
        Binding("space", "toggle_pause", "Run/Pause"),
        Binding("s", "step", "Step"),
        Binding("r", "reset", "Reset"),
        Binding("plus,equals_sign", "lr(1)", "lr+", key_display="+", group=LR_KEYS),
        Binding("minus", "lr(-1)", "lr−", key_display="-", group=LR_KEYS),
        Binding("greater_than_sign,full_stop", "pace(1)", "faster", key_display=">", group=PACE),
        Binding("less_than_sign,comma", "pace(-1)", "slower", key_display="<", group=PACE),
        Binding("d", "derive", "Derive"),
        Binding("c", "setup", "Setup"),
        Binding("question_mark", "help", "Keys", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("left", "move(-1, 0)", "layer ←", show=False),
        Binding("right", "move(1, 0)", "layer →", show=False),
        Binding("up", "move(0, -1)", "weight ↑", show=False),
        Binding("down", "move(0, 1)", "weight ↓", show=False),
        Binding("left_square_bracket,shift+left", "move_layer(-1)", "layer ←", show=False),
        Binding("right_square_bracket,shift+right", "move_layer(1)", "layer →", show=False),
        Binding("n", "sample(1)", "next sample", show=False),
        Binding("N", "sample(-1)", "previous sample", show=False),
        Binding("l", "toggle_log", "log scale", show=False),
        Binding("a", "toggle_accuracy", "accuracy", show=False),
        Binding("t", "toggle_test", "test points", show=False),
        Binding("w", "save", "save run", show=False),
        Binding("o", "open", "open run", show=False),
        Binding("v", "next_view", "next view", show=False),
        Binding("g", "toggle_layers", "diagram/layers", show=False),
        Binding("k", "runs('clear_runs')", "clear earlier runs", show=False),
        Binding("K", "runs('toggle_table')", "runs table", show=False),
        Binding("b", "runs('toggle_steps')", "loss per mini-batch", show=False),
        *(
            Binding(k.key, f"view_key({k.key!r})", k.action.replace("_", " "), show=False)
            for k in view_keys().values()
        ),
        # last, so that at 80 columns the footer cuts these (the lesson panel shows them)
        Binding("right", "lesson_next", "next", key_display="→", group=LESSON),
        Binding("left", "lesson_back", "back", key_display="←", group=LESSON),
        Binding("escape", "leave_lesson", "leave", key_display="esc"),
    ]

    paused: var[bool] = var(False)
    """Whether training waits (mirrors the session, for the header and tests)."""
    step: var[int] = var(0)
    """Steps trained, as of the last snapshot."""
    lr: var[float] = var(0.0)
    """The learning rate in use, as of the last snapshot."""

    def __init__(self, session: TrainingSession, runner: LessonRunner | None = None) -> None:
        super().__init__()
        self.session = session
        self._mounting: set[str] = set()  # view panels built but not mounted yet
        self._held: Snapshot | None = None  # the first snapshot, while held back (START_GRACE)
        self.scene: Scene | None = None
        self.snapshot: Snapshot | None = None
        self.snapshots = 0
        self._draw_meter = DrawMeter()  # what a frame costs this thread: the session spaces them
        self.runner = runner
        """The lesson being played (None: the free app, or once the lesson is left)."""
        self._origin: int | None = None  # the step whose set-up the run up now is
        self._token = 0  # the set-up the runner waits for (LessonSession.begin)

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        if self.runner is None:
            yield from self._live()
        else:
            from tui.widgets.lesson_panel import LessonPanel

            with Container(id="lesson-row"):
                with Vertical(id="live"):
                    yield from self._live()
                yield LessonPanel(id="lesson")
        yield Static("", id="note", markup=False)  # notes name config sections: [train]
        yield Footer()
        yield TooSmall()

    def _live(self) -> ComposeResult:
        """The live views: predictions and loss above, network and chain rule below."""
        with Horizontal(id="top"):
            first = view(self.session.scene.view).panel
            with ContentSwitcher(id="view-panel", initial=first, classes="panel"):
                yield panels()[first](id=first)  # the others when first shown (_panel)
            with Vertical(id="loss-panel", classes="panel"):
                yield LossPlot(id="loss")
        with Horizontal(id="bottom"):
            with ContentSwitcher(id="network-panel", initial="network"):
                yield NetworkView(id="network")
                yield LayerList(id="layers")
            yield MathPanel(id="math")

    def on_mount(self) -> None:
        run = self.session.run
        self.query_one(RunHeader).starting(summary(run.experiment, run.net.output_shape[-1]))
        self.query_one("#loss-panel").border_title = "loss"
        self.query_one("#math").border_title = "chain rule"
        self._diagram = self._draws_diagram(self.session.scene)  # before the first snapshot
        self._switch_network("network" if self._diagram else "layers")
        self.paused = self.session.paused
        self._train()
        if self.runner is not None:
            self.add_class("-lesson")
            self._lesson_enter(self.runner.index, origin=self.runner.origin())

    def on_unmount(self) -> None:
        self.session.stop()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW_LESSON, "-narrow")
        footer = self.query_one(Footer)
        roomy = event.size.width >= ROOMY_FOOTER
        if footer.show_command_palette != roomy:
            footer.compact, footer.show_command_palette = not roomy, roomy
            footer.refresh(recompose=True)  # the palette key is composed, not styled

    @work(thread=True, exclusive=True, name="training", exit_on_error=True)
    def _train(self) -> None:
        """The training thread: runs the session until it is stopped."""
        self.session.loop(self._post)

    def _post(self, record: Snapshot | Notice) -> None:
        """Called on the training thread: wraps a record in a message (thread-safe)."""
        if isinstance(record, Snapshot):
            self.post_message(Updated(record))
        else:
            self.post_message(Noticed(record))

    # ------------------------------------------------------------------ what the thread reports
    def on_updated(self, message: Updated) -> None:
        snap = message.snapshot
        if self.snapshot is None and snap.state == "starting":  # before the first step
            if self._held is None:
                self.set_timer(START_GRACE, self._show_held)
            self._held = snap
            return
        self._held = None
        self._show(snap)

    def _show_held(self) -> None:
        """The first step is taking long (compiling): the snapshot from before it is shown."""
        snap, self._held = self._held, None
        if snap is not None:
            self._show(snap)

    def _show(self, snap: Snapshot) -> None:
        """Hands a snapshot to every widget that draws part of it."""
        self.snapshot, self.snapshots = snap, self.snapshots + 1
        self.session.draw_cost = self._draw_meter.frame()
        if snap.scene is not self.scene:
            self._new_scene(snap.scene)
        self.step, self.lr, self.paused = snap.step, snap.lr, snap.paused
        self.query_one(RunHeader).show(snap)
        self.query_one(LossPlot).show(snap)
        self._show_loss_title()
        self._show_view(snap)
        self._show_network(snap)
        optimizer = snap.scene.experiment.train.optimizer
        self.query_one(MathPanel).show(snap.chain, snap.lr, optimizer)
        if self.runner is not None:
            self._lesson_observe(snap)
        note = self.query_one("#note", Static)
        if snap.note != str(note.content):
            note.update(snap.note)
            note.set_class(bool(snap.note), "-shown")
            note.set_class(snap.state == "finished", "-done")

    def on_noticed(self, message: Noticed) -> None:
        notice = message.notice
        severity: SeverityLevel = "information" if notice.ok else "error"
        # plain text: a message names config sections such as [train], not markup
        self.notify(notice.text, severity=severity, timeout=6, markup=False)

    def _new_scene(self, scene: Scene) -> None:
        self.scene = scene
        self.query_one(LossPlot).clear()
        self._show_title(scene.view, scene)
        for widget in (self.query_one(NetworkView), self.query_one(LayerList)):
            widget.scene = scene
            widget.selected = self.session.selected
        # a g pressed before this snapshot stands unless the new network opens the other way
        diagram = self._draws_diagram(scene)
        shown = self.query_one("#network-panel", ContentSwitcher).current
        if diagram != self._diagram or (shown == "network" and not scene.mlp):
            self._diagram = diagram
            self._switch_network("network" if diagram else "layers")

    @staticmethod
    def _draws_diagram(scene: Scene) -> bool:
        return scene.mlp and len(scene.widths) <= DIAGRAM_COLUMNS

    def _show_title(self, shown: str, scene: Scene) -> None:
        """Switches the view panel to the widget that draws ``shown``, with its title (once
        that widget is mounted: until then the panel shows the picture it had)."""
        switcher = self.query_one("#view-panel", ContentSwitcher)
        spec = view(shown)
        if self._panel(spec.panel) is None:
            return
        title = spec.title + (" · v: next view" if len(scene.views) > 1 else "")
        if switcher.current != spec.panel:
            switcher.current = spec.panel
        if switcher.border_title != title:
            switcher.border_title = title

    def _show_view(self, snap: Snapshot) -> None:
        shown = view(snap.shown or snap.scene.view)
        self._show_title(shown.name, snap.scene)
        widget = self._panel(shown.panel)
        if widget is not None:
            widget.show(snap.scene, snap.view)  # type: ignore[attr-defined]

    def _panel(self, panel: str) -> Widget | None:
        """The view panel's widget ``panel``; None while it is being built and mounted, which
        the first call starts (the latest snapshot is shown in it once it is mounted)."""
        if panel in self._mounting:
            return None
        switcher = self.query_one("#view-panel", ContentSwitcher)
        for widget in switcher.children:
            if widget.id == panel:
                return widget
        self._mounting.add(panel)
        self.call_later(self._mount_panel, panel)
        return None

    async def _mount_panel(self, panel: str) -> None:
        switcher = self.query_one("#view-panel", ContentSwitcher)
        await switcher.add_content(panels()[panel](id=panel))  # hidden until made current
        self._mounting.discard(panel)
        if self.snapshot is not None:
            self._show_view(self.snapshot)

    def _show_network(self, snap: Snapshot) -> None:
        if self.query_one("#network-panel", ContentSwitcher).current == "network":
            self.query_one(NetworkView).show(snap.scene, snap.weights, snap.grad_norms)
        else:
            self.query_one(LayerList).show(snap.scene, snap.layer_norms)

    def _switch_network(self, current: str) -> None:
        panel = self.query_one("#network-panel", ContentSwitcher)
        panel.current = current
        panel.border_title = "network" if current == "network" else "layers · ‖∂L/∂θ‖ per layer"
        if self.snapshot is not None:
            self._show_network(self.snapshot)

    def on_requested(self, message: Requested) -> None:
        message.ask(self.session)

    def on_param_selected(self, message: ParamSelected) -> None:
        self.query_one(NetworkView).selected = message.param
        self.query_one(LayerList).selected = message.param
        self.session.select(message.param)

    # ------------------------------------------------------------------ keys
    def action_toggle_pause(self) -> None:
        self.session.toggle_pause()
        self.paused = self.session.paused

    def action_step(self) -> None:
        self.session.step()
        self.paused = True

    def action_reset(self) -> None:
        self.session.reset()

    def action_lr(self, direction: int) -> None:
        self.session.nudge_lr(direction)

    def action_pace(self, direction: int) -> None:
        """Trains faster (up to full speed) or slower, from the next burst on."""
        self.session.change_pace(direction)

    def action_move(self, layers: int, entries: int) -> None:
        if self.query_one("#network-panel", ContentSwitcher).current == "network":
            self.query_one(NetworkView).move(layers, entries)
        else:
            self.query_one(LayerList).move(layers, entries)

    def action_move_layer(self, layers: int) -> None:
        """[ ] (and shift+← →): the previous / next layer's weight, in a lesson as outside."""
        self.action_move(layers, 0)

    def action_next_view(self) -> None:
        if self.scene is not None and len(self.scene.views) < 2:
            self._only_here("v", "shows the next picture", "this network has one")
            return
        self.session.next_view()

    def action_view_key(self, key: str) -> None:
        """A key only some views answer to: the shown view's widget acts, or it is said why not."""
        shown = self._shown()
        here = next((k for k in shown.keys if k.key == key), None) if shown else None
        if shown is None or here is None:
            k = view_keys()[key]
            self._only_here(key, k.does, k.missing)
            return
        widget = self._panel(shown.panel)
        if widget is not None:  # else the view's widget is still being mounted: no picture yet
            getattr(widget, f"action_{here.action}")()

    def _shown(self) -> ViewDef | None:
        """The view in the view panel now."""
        snap = self.snapshot
        return view(snap.shown or snap.scene.view) if snap is not None else None

    def _only_here(self, key: str, does: str, why: str) -> None:
        """Says that ``key`` does nothing for this picture, and which keys do something."""
        shown = self._shown()
        title = shown.title.split(" · ")[0] if shown else ""
        keys = shown.keys_note if shown else ""
        here = f" Keys for the {title}: {keys}." if keys else ""
        self.notify(f"{key} {does}; {why}.{here}", title=f"{key}: nothing to do here")

    def action_toggle_layers(self) -> None:
        """Switches between the diagram and the layer list (the diagram draws plain stacks)."""
        panel = self.query_one("#network-panel", ContentSwitcher)
        scene = self.scene if self.scene is not None else self.session.scene
        if panel.current == "layers" and not scene.mlp:
            self.notify("The diagram draws plain Dense stacks; this network has other layers.")
            return
        self._switch_network("layers" if panel.current == "network" else "network")

    def action_sample(self, delta: int) -> None:
        self.session.select(self.session.selected, self.session.sample + delta)

    def action_runs(self, ask: str) -> None:
        """k, K, b: the loss plot's runs (``TrainingSession.clear_runs`` …), asked by name."""
        getattr(self.session, ask)()

    def action_toggle_log(self) -> None:
        plot = self.query_one(LossPlot)
        plot.log_scale = not plot.log_scale

    def action_toggle_accuracy(self) -> None:
        """Plots accuracy instead of loss, or back; says so where accuracy does not apply."""
        plot = self.query_one(LossPlot)
        if plot.history and not plot.has_accuracy:
            self.notify(
                "Accuracy does not apply: this network predicts numbers (regression), "
                "so the loss is its measure.",
                title="accuracy",
            )
            return
        plot.accuracy = not plot.accuracy
        self._show_loss_title()

    def _show_loss_title(self) -> None:
        panel = self.query_one("#loss-panel")
        title = "accuracy" if self.query_one(LossPlot).shows_accuracy else "loss"
        if panel.border_title != title:
            panel.border_title = title

    def action_derive(self) -> None:
        self.session.copy_network(self._copied)

    def _copied(self, copy: NetCopy) -> None:
        """On the training thread: loads the derivation screen, then hands the copy over.

        The derivation screen brings SymPy, which would double the start-up time; it is
        imported the first time it is needed, here, off the interface thread.
        """
        import tui.screens.derivation  # noqa: F401

        self.post_message(NetCopied(copy))

    def on_net_copied(self, message: NetCopied) -> None:
        from tui.screens.derivation import DerivationScreen

        self.app.push_screen(DerivationScreen(message.copy, self.session.selected))

    # The screens behind a key load at the first press of it, not with the app.
    def action_setup(self) -> None:
        from tui.screens.setup import SetupScreen

        self.app.push_screen(SetupScreen(self.session.experiment), self._apply_setup)

    def _apply_setup(self, experiment: object) -> None:
        if isinstance(experiment, Experiment):
            self.session.rebuild(experiment)

    def action_save(self) -> None:
        self.session.save()

    def action_open(self) -> None:
        from tui.screens.open_run import OpenRunScreen

        self.app.push_screen(OpenRunScreen(), self._open_run)

    def _open_run(self, path: object) -> None:
        if isinstance(path, str) and path:
            self.session.open(path)
        elif isinstance(path, list) and path:  # several runs or a sweep: to compare
            self.session.open_many(path)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen())
