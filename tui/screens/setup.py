"""``c``: change the experiment — everything TensorFlow Playground lets you change, and more.

A preset to start from (picking one fills the form with it: ``residual-deep`` and ``plain-deep``
are two picks apart), problem type, data set, noise, train/test split, input features, network kind
and the fields that kind reads (hidden layers — a CNN's dense layers, a recurrent net's units,
residual blocks —, convolution channels, activation, dropout; a transformer's width, heads and
blocks), loss, optimiser, learning rate, batch size, epochs, regularisation type and rate. While
you edit, the screen says what applying will do: a learning rate or a number of epochs is set while
training runs; a new batch size, optimiser or penalty keeps the weights; a new data set or network
needs new weights, and says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from engine import optim
from engine.datasets import FEATURES, NAMES
from engine.datasets.options import check_fraction, check_noise
from engine.datasets.toy import PLAYGROUND
from engine.errors import UserError
from engine.experiment.architectures import KINDS
from engine.experiment.config import Experiment
from engine.experiment.presets import PRESETS, get_preset
from engine.layers import config_choices
from tui.session.changes import change_kind

TASKS = {
    **{name: spec[1] for name, spec in PLAYGROUND.items()},
    "sine": "regression",
    "digits": "multiclass",
    "iris": "multiclass",
    "mnist": "multiclass",
    "fashion-mnist": "multiclass",
    "sine-seq": "regression",
    "adding": "regression",
    "text": "multiclass",
}
LOSSES_FOR = {
    "binary": ("bce_logits", "bce", "mse", "huber"),
    "multiclass": ("cross_entropy",),
    "regression": ("mse", "huber"),
}
OPTIONS_FOR = {
    **{name: ("noise", "test_fraction", "features") for name in PLAYGROUND},
    "sine": ("noise", "test_fraction"),
    "digits": ("test_fraction",),
    "iris": ("test_fraction",),
    "sine-seq": ("noise", "test_fraction"),
    "adding": ("test_fraction",),
    "text": ("test_fraction",),
}
CUSTOM = "(as below)"  # the preset picker's entry for an experiment that is no preset
CHANGES = {
    "none": "Nothing changed.",
    "live": "Applies while training runs (learning rate, epochs): nothing starts again.",
    "keep": "Keeps the weights; the optimiser and the step count start again.",
    "new": "Needs a new network: applying rebuilds it with fresh weights.",
}


def problem_of(name: str) -> str:
    """ "regression" or "classification" for a built-in data set."""
    return "regression" if TASKS.get(name) == "regression" else "classification"


HIDDEN_LABELS = {
    "mlp": "hidden layers",
    "cnn": "dense layers",
    "rnn": "recurrent units",
    "lstm": "recurrent units",
    "gru": "recurrent units",
    "autoencoder": "layers (code)",
    "residual": "residual blocks",
}
"""What ``[model] hidden`` is for each network kind; a transformer has none (d, heads, blocks)."""
ACTIVATED = ("mlp", "cnn", "autoencoder", "residual")  # kinds whose layers take ``activation``
DROPOUT = ("mlp", "cnn", "autoencoder")  # kinds with dropout after their dense layers
TRANSFORMER_FIELDS = ("d_model", "heads", "blocks")


def _row(label: str, field: Widget) -> Horizontal:
    """A labelled field; ``row-ID`` and ``label-ID`` (the field's id) show, hide and rename it."""
    return Horizontal(
        Label(label, classes="setup-label", id=f"label-{field.id}"),
        field,
        classes="setup-row",
        id=f"row-{field.id}",
    )


class SetupScreen(ModalScreen[Experiment | None]):
    """A form over the experiment; dismisses with the changed experiment, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self, experiment: Experiment) -> None:
        super().__init__()
        self.original = experiment  # what applying changes: the run as it is
        self.experiment = experiment  # what the form was filled from (a picked preset)
        self.candidate: Experiment | None = experiment

    def compose(self) -> ComposeResult:
        with Vertical(id="setup"):
            name = self.experiment.name if self.experiment.name in PRESETS else CUSTOM
            yield _row("preset", self._select("preset", [CUSTOM, *PRESETS], name))
            with VerticalScroll(id="setup-form", can_focus=False):
                yield from self._fields()
            yield Static("", id="setup-note")
            with Horizontal(id="setup-buttons"):
                yield Button("Apply", id="apply", variant="primary", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _fields(self) -> ComposeResult:
        exp, t, m = self.experiment, self.experiment.train, self.experiment.model
        opts = exp.data.options
        problem = problem_of(exp.data.name)
        features = opts.get("features", ("x1", "x2"))
        boxes = [
            Checkbox(f, f in features, id=f"feature-{i}", compact=True)
            for i, f in enumerate(FEATURES)
        ]
        reg = "L1" if t.l1 else "L2" if t.l2 else "none"
        yield _row(
            "problem type", self._select("problem", ["classification", "regression"], problem)
        )
        yield _row("data set", self._select("dataset", self._datasets(problem), exp.data.name))
        yield _row("noise (0–0.5)", self._input("noise", opts.get("noise", "")))
        yield _row("test share", self._input("test_fraction", opts.get("test_fraction", "")))
        yield _row("input features", Grid(*boxes, id="features"))
        yield _row("network kind", self._select("kind", list(KINDS), m.kind))
        hidden = HIDDEN_LABELS.get(m.kind, "hidden layers")
        yield _row(hidden, self._input("hidden", ", ".join(str(h) for h in m.hidden)))
        yield _row("conv channels", self._input("channels", ", ".join(str(c) for c in m.channels)))
        yield _row("model width d", self._input("d_model", m.d_model))
        yield _row("attention heads", self._input("heads", m.heads))
        yield _row("blocks", self._input("blocks", m.blocks))
        yield _row("activation", self._select("activation", config_choices(), m.activation))
        yield _row("dropout", self._input("dropout", m.dropout))
        losses = list(self._losses(exp.data.name, m.kind))
        yield _row("loss", self._select("loss", losses, t.loss))
        yield _row("optimiser", self._select("optimizer", list(optim.OPTIMIZERS), t.optimizer))
        yield _row("learning rate", self._input("lr", f"{t.lr:g}"))
        yield _row("batch size", self._input("batch_size", t.batch_size))
        yield _row("epochs", self._input("epochs", t.epochs))
        yield _row("regularisation", self._select("reg", ["none", "L1", "L2"], reg))
        yield _row("reg. rate", self._input("reg_rate", f"{t.l1 or t.l2 or 0:g}"))

    def on_resize(self) -> None:
        # the form scrolls; the note and the buttons below it stay in view
        self.query_one("#setup-form").styles.max_height = max(self.size.height - 9, 3)

    def on_mount(self) -> None:
        self.query_one("#setup").border_title = "setup"
        self.query_one("#setup").border_subtitle = "ctrl+s apply · escape cancel"
        self._enable_options()
        self._check()
        self.query_one("#preset").focus()

    @staticmethod
    def _select(id: str, values: list[str], value: str) -> Select[str]:
        return Select([(v, v) for v in values], value=value, allow_blank=False, id=id, compact=True)

    @staticmethod
    def _input(id: str, value: object) -> Input:
        return Input(str(value), placeholder="the data set's default", id=id, compact=True)

    @staticmethod
    def _datasets(problem: str) -> list[str]:
        return [n for n in NAMES if problem_of(n) == problem]

    @staticmethod
    def _losses(name: str, kind: str = "mlp") -> tuple[str, ...]:
        if kind == "autoencoder":  # reproduces its inputs: a regression whatever the labels
            return LOSSES_FOR["regression"]
        return LOSSES_FOR[TASKS.get(name, "binary")]

    # ------------------------------------------------------------------ reacting to edits
    @on(Select.Changed, "#preset")
    async def _preset_changed(self, event: Select.Changed) -> None:
        """Fills the form with the picked preset; applying then switches to it."""
        name = str(event.value)
        if name == CUSTOM or name == self.experiment.name:
            return
        self.experiment = get_preset(name)
        form = self.query_one("#setup-form", VerticalScroll)
        await form.remove_children()
        await form.mount_all(list(self._fields()))
        self._enable_options()
        self._check()

    @on(Select.Changed, "#problem")
    def _problem_changed(self, event: Select.Changed) -> None:
        dataset = self.query_one("#dataset", Select)
        names = self._datasets(str(event.value))
        if dataset.value not in names:
            dataset.set_options([(n, n) for n in names])
            dataset.value = names[0]

    @on(Select.Changed, "#dataset")
    @on(Select.Changed, "#kind")
    def _dataset_changed(self) -> None:
        """The losses that fit the data set and network kind; the fields they use."""
        loss = self.query_one("#loss", Select)
        losses = self._losses(self._value("dataset"), self._value("kind"))
        current = loss.value
        loss.set_options([(v, v) for v in losses])
        loss.value = current if current in losses else losses[0]
        self._enable_options()
        self._check()

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _edited(self) -> None:
        self._check()

    def _enable_options(self) -> None:
        accepted = OPTIONS_FOR.get(str(self.query_one("#dataset", Select).value), ())
        for option in ("noise", "test_fraction", "features"):  # only what the data set takes
            self.query_one(f"#row-{option}").display = option in accepted
        self._show_model_fields(self._value("kind"))

    def _show_model_fields(self, kind: str) -> None:
        """Shows the fields this kind of network reads, named as it reads them."""
        shown = {
            "hidden": kind in HIDDEN_LABELS,
            "channels": kind == "cnn",
            "activation": kind in ACTIVATED,
            "dropout": kind in DROPOUT,
            **{name: kind == "transformer" for name in TRANSFORMER_FIELDS},
        }
        for name, show in shown.items():
            self.query_one(f"#row-{name}").display = show
        self.query_one("#label-hidden", Label).update(HIDDEN_LABELS.get(kind, "hidden layers"))

    def _check(self) -> None:
        """Builds the candidate experiment and says what applying it does (or what is wrong)."""
        note = self.query_one("#setup-note", Static)
        try:
            self.candidate = self._read()
        except UserError as exc:
            self.candidate = None
            note.update(f"[b red]✗[/] {exc.message}" + (f" — {exc.hint}" if exc.hint else ""))
            return
        kind = change_kind(self.original, self.candidate)
        note.update(("[b yellow]![/] " if kind == "new" else "[b green]✓[/] ") + CHANGES[kind])

    # ------------------------------------------------------------------ reading the form
    def _value(self, id: str) -> str:
        widget = self.query_one(f"#{id}")
        return str(widget.value).strip() if isinstance(widget, Input | Select) else ""

    def _checked(self, index: int) -> bool:
        return self.query_one(f"#feature-{index}", Checkbox).value

    def _number(self, id: str, label: str, kind: type = float) -> Any:
        text = self._value(id)
        try:
            return kind(text)
        except ValueError:
            raise UserError(f"{label} {text!r} is not a number", f"type e.g. {kind(1)}") from None

    def _read(self) -> Experiment:
        """The experiment the form describes; a UserError names a field that is wrong."""
        name = self._value("dataset")
        raw = self.experiment.to_dict()
        keep = name == self.experiment.data.name
        options = dict(self.experiment.data.options) if keep else {}
        accepted = OPTIONS_FOR.get(name, ())
        if "noise" in accepted and self._value("noise"):
            options["noise"] = check_noise(name, self._number("noise", "noise"))
        if "test_fraction" in accepted and self._value("test_fraction"):
            share = self._number("test_fraction", "test share")
            options["test_fraction"] = check_fraction(name, share)
        if "features" in accepted:
            chosen = [f for i, f in enumerate(FEATURES) if self._checked(i)]
            if not chosen:
                raise UserError("no input feature is chosen", "tick at least one, e.g. x1 and x2")
            if chosen != ["x1", "x2"] or "features" in options:
                options["features"] = chosen
        raw["data"] = {"name": name, **options}
        raw["model"].update(hidden=self._numbers("hidden"), activation=self._value("activation"))
        raw["model"].update(kind=self._value("kind"), channels=self._numbers("channels"))
        raw["model"]["dropout"] = self._number("dropout", "dropout")
        if raw["model"]["kind"] == "transformer":
            raw["model"].update(self._transformer_sizes())
        batch = self._value("batch_size")
        rate = self._number("reg_rate", "regularisation rate")
        reg = self._value("reg")
        raw["train"].update(
            loss=self._value("loss"),
            optimizer=self._value("optimizer"),
            lr=self._number("lr", "learning rate"),
            batch_size="full" if batch == "full" else self._number("batch_size", "batch size", int),
            epochs=self._number("epochs", "epochs", int),
            l1=rate if reg == "L1" else 0.0,
            l2=rate if reg == "L2" else 0.0,
        )
        if raw["train"]["loss"] not in self._losses(name, raw["model"]["kind"]):
            raise UserError(
                f"loss {raw['train']['loss']} does not fit {name}", "choose another loss"
            )
        return Experiment.from_dict(raw, "setup")

    def _transformer_sizes(self) -> dict[str, int]:
        """d, heads and blocks; d must split evenly into the heads."""
        sizes = {
            "d_model": self._number("d_model", "model width d", int),
            "heads": self._number("heads", "attention heads", int),
            "blocks": self._number("blocks", "blocks", int),
        }
        if min(sizes.values()) < 1:
            raise UserError("model width, heads and blocks must be at least 1", "e.g. 32, 2, 2")
        if sizes["d_model"] % sizes["heads"]:
            raise UserError(
                f"model width d {sizes['d_model']} does not split into {sizes['heads']} heads",
                "make d a multiple of the heads, e.g. d 32 with 2 or 4 heads",
            )
        return sizes

    def _numbers(self, id: str) -> list[int]:
        """A list of whole numbers such as ``8, 8`` (hidden units, channels)."""
        text = self._value(id).replace(" ", "")
        try:
            return [int(h) for h in text.split(",") if h]
        except ValueError:
            what = "hidden layers" if id == "hidden" else "conv channels"
            raise UserError(
                f"{what} {text!r}", "write a number per layer, e.g. 8, 8 (empty: none)"
            ) from None

    # ------------------------------------------------------------------ leaving
    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        if self.candidate is not None:
            self.dismiss(self.candidate)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
