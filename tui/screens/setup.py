"""``c``: change the experiment — everything TensorFlow Playground lets you change, and more.

A preset to start from (picking one fills the form with it: ``residual-deep`` and ``plain-deep``
are two picks apart), problem type, data set and the options that set takes (as its record in
:mod:`engine.datasets` lists them: size, noise, train/test split, input features …), network kind
and the fields that kind reads (hidden layers — a CNN's dense layers, a recurrent net's units,
residual blocks —, convolution channels, activation, dropout; a transformer's width, heads and
blocks), loss, optimiser, learning rate, batch size, epochs, regularisation type and rate,
momentum, initialisation, gradient clipping, early-stopping patience and the validation share. While
you edit, the screen says what applying will do: a learning rate or a number of epochs is set while
training runs; a new batch size, optimiser or penalty keeps the weights; a new data set or network
needs new weights, and says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from engine import datasets, optim
from engine.datasets import DataSet, Option
from engine.errors import UserError
from engine.experiment.architectures import KINDS
from engine.experiment.config import Experiment
from engine.experiment.presets import PRESETS, get_preset
from engine.experiment.sections import TrainConfig
from engine.experiment.validation import LOSSES_FOR_TASK
from engine.layers import config_choices
from tui.session.changes import change_kind
from tui.widgets.too_small import TooSmall

CUSTOM = "(as below)"  # the preset picker's entry for an experiment that is no preset
CHANGES = {
    "none": "Nothing changed.",
    "live": "Applies while training runs (learning rate, epochs): nothing starts again.",
    "keep": "Keeps the weights; the optimiser and the step count start again.",
    "new": "Needs a new network: applying rebuilds it with fresh weights.",
}
PROBLEMS = ("classification", "regression")


def problem_of(task: str) -> str:
    """ "regression" or "classification" for a data set's task."""
    return "regression" if task == "regression" else "classification"


def form_options() -> tuple[Option, ...]:
    """Every option a form can offer, over all data sets, each name once (the first seen)."""
    seen: dict[str, Option] = {}
    for record in datasets.records():
        for option in record.options:
            if option.in_forms:
                seen.setdefault(option.name, option)
    return tuple(seen.values())


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
INITS = ("default", "xavier", "he")
MOMENTUM = ("sgd", "rmsprop")  # the optimisers that read ``momentum``
HAS_VALIDATION = "validation" in TrainConfig.__dataclass_fields__


def _blank(value: object) -> str:
    """A value for a field where empty means none (no clipping, no early stopping)."""
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


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
        self._table_tasks: dict[str, str] = {}  # a csv table's task, once read

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
        yield TooSmall()

    def _fields(self) -> ComposeResult:
        exp, t, m = self.experiment, self.experiment.train, self.experiment.model
        problem = problem_of(self._task_of(exp.data.name))
        reg = "L1" if t.l1 else "L2" if t.l2 else "none"
        yield _row("problem type", self._select("problem", list(PROBLEMS), problem))
        yield _row("data set", self._select("dataset", self._datasets(problem), exp.data.name))
        yield from self._option_fields()
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
        yield _row("momentum", self._input("momentum", f"{t.momentum:g}"))
        yield _row("initialisation", self._select("init", list(INITS), m.init))
        yield _row("clip grad norm", self._input("clip_norm", _blank(t.clip_norm), "none"))
        yield _row("patience", self._input("patience", _blank(t.patience), "none: every epoch"))
        if HAS_VALIDATION:
            share = float(getattr(t, "validation", 0.0))
            yield _row("validation", self._input("validation", f"{share:g}", "0: none"))

    def _option_fields(self) -> ComposeResult:
        """A field per data-set option a form can set; only the picked set's are shown."""
        given = self.experiment.data.options
        for option in form_options():
            if option.kind == "choices":
                chosen = given.get(option.name, option.default) or ()
                boxes = [
                    Checkbox(c, c in chosen, id=f"{option.name}-{i}", compact=True)
                    for i, c in enumerate(option.choices)
                ]
                yield _row(option.label, Grid(*boxes, id=option.name))
            else:
                yield _row(option.label, self._input(option.name, given.get(option.name, "")))

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
    def _input(id: str, value: object, placeholder: str = "the data set's default") -> Input:
        return Input(str(value), placeholder=placeholder, id=id, compact=True)

    def _datasets(self, problem: str) -> list[str]:
        """The data sets of a problem type, and the run's own table if it is one."""
        names = [r.name for r in datasets.records() if problem_of(r.task) == problem]
        own = self.original.data.name
        if datasets.lookup(own) is None and problem_of(self._task_of(own)) == problem:
            names.append(own)
        return names

    def _task_of(self, name: str) -> str:
        """The task of a data set: its record's, or for a person's table what the file holds."""
        record = datasets.lookup(name)
        if record is not None:
            return record.task
        if name not in self._table_tasks:
            self._table_tasks[name] = datasets.load(name, **self.original.data.options).task
        return self._table_tasks[name]

    def _losses(self, name: str, kind: str = "mlp") -> tuple[str, ...]:
        if kind == "autoencoder":  # reproduces its inputs: a regression whatever the labels
            return LOSSES_FOR_TASK["regression"]
        return LOSSES_FOR_TASK[self._task_of(name)]

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

    @on(Select.Changed, "#optimizer")
    def _optimizer_changed(self) -> None:
        self._show_model_fields(self._value("kind"))

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    def _edited(self) -> None:
        self._check()

    def _picked_record(self) -> DataSet | None:
        """The picked data set's record (None for a person's table)."""
        return datasets.lookup(str(self.query_one("#dataset", Select).value))

    def _enable_options(self) -> None:
        """Shows the fields of the options the picked data set takes, its defaults as hints.

        While a preset's form is being rebuilt its data-set picker may not be mounted yet: then
        this runs again after the next refresh."""
        if not self.query("#dataset"):
            self.call_after_refresh(self._enable_options)
            return
        record = self._picked_record()
        for option in form_options():
            taken = record.option(option.name) if record is not None else None
            self.query_one(f"#row-{option.name}").display = taken is not None
            if taken is not None and taken.kind != "choices":
                default = "all" if taken.default is None else f"{taken.default:g}"
                self.query_one(f"#{option.name}", Input).placeholder = f"default {default}"
        self._show_model_fields(self._value("kind"))

    def _show_model_fields(self, kind: str) -> None:
        """Shows the fields this kind of network reads, named as it reads them."""
        shown = {
            "hidden": kind in HIDDEN_LABELS,
            "channels": kind == "cnn",
            "activation": kind in ACTIVATED,
            "dropout": kind in DROPOUT,
            "init": kind in ACTIVATED,
            "momentum": self._value("optimizer") in MOMENTUM,
            **{name: kind == "transformer" for name in TRANSFORMER_FIELDS},
        }
        for name, show in shown.items():
            self.query_one(f"#row-{name}").display = show
        self.query_one("#label-hidden", Label).update(HIDDEN_LABELS.get(kind, "hidden layers"))

    def _check(self) -> None:
        """Builds the candidate experiment and says what applying it does (or what is wrong)."""
        if not self.query("#dataset"):  # the form is being rebuilt for a new preset
            return
        note = self.query_one("#setup-note", Static)
        try:
            self.candidate = self._read()
        except UserError as exc:
            self.candidate = None
            # plain text: a message names config sections such as [train], not markup
            problem = exc.message + (f" — {exc.hint}" if exc.hint else "")
            note.update(Text.assemble(("✗", "bold red"), " ", problem))
            return
        kind = change_kind(self.original, self.candidate)
        note.update(("[b yellow]![/] " if kind == "new" else "[b green]✓[/] ") + CHANGES[kind])

    # ------------------------------------------------------------------ reading the form
    def _value(self, id: str) -> str:
        widget = self.query_one(f"#{id}")
        return str(widget.value).strip() if isinstance(widget, Input | Select) else ""

    def _checked(self, option: str, index: int) -> bool:
        return self.query_one(f"#{option}-{index}", Checkbox).value

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
        raw["data"] = {"name": name, **self._data_options(name)}
        raw["model"].update(hidden=self._numbers("hidden"), activation=self._value("activation"))
        raw["model"].update(kind=self._value("kind"), channels=self._numbers("channels"))
        raw["model"]["dropout"] = self._number("dropout", "dropout")
        raw["model"]["init"] = self._value("init")
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
            momentum=self._number("momentum", "momentum"),
        )
        for key, kind in (("clip_norm", float), ("patience", int)):
            raw["train"].pop(key, None)
            if self._value(key):
                raw["train"][key] = self._number(key, key.replace("_", " "), kind)
        if HAS_VALIDATION:
            raw["train"]["validation"] = self._number("validation", "validation share")
        if name != self.experiment.data.name:  # no longer the preset: named after its data
            raw["name"] = name
            raw["description"] = f"The {self.experiment.name} settings on the {name} data set"
        if raw["train"]["loss"] not in self._losses(name, raw["model"]["kind"]):
            raise UserError(
                f"loss {raw['train']['loss']} does not fit {name}", "choose another loss"
            )
        return Experiment.from_dict(raw, "setup")

    def _data_options(self, name: str) -> dict[str, Any]:
        """The data set's options: its fields as shown, plus the rest if the set is the same.

        The values' ranges are checked with the rest of the experiment, by the set's record.
        """
        keep = name == self.experiment.data.name
        options = dict(self.experiment.data.options) if keep else {}
        record = datasets.lookup(name)
        for option in record.options if record is not None else ():
            if not option.in_forms:
                continue
            if option.kind == "choices":
                chosen = [c for i, c in enumerate(option.choices) if self._checked(option.name, i)]
                if not chosen:
                    example = " and ".join(option.default or option.choices[:1])
                    raise UserError(
                        f"no {option.label} chosen", f"tick at least one, e.g. {example}"
                    )
                if chosen != list(option.default or ()) or option.name in options:
                    options[option.name] = chosen
            elif self._value(option.name):
                kind = int if option.kind == "count" else float
                options[option.name] = self._number(option.name, option.label, kind)
            else:
                options.pop(option.name, None)  # an empty field: the set's default
        return options

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
        """Applies the form as it reads now: a key typed just before ctrl+s whose change the
        screen has not yet handled is part of it."""
        self._check()
        if self.candidate is not None:
            self.dismiss(self.candidate)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
