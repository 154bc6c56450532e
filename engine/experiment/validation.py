"""What an experiment's values must be: each check names the key, the value and the fix.

The choices come from where the things are defined: data sets from their registry
(:func:`engine.datasets.records`), activations from :func:`engine.layers.config_choices`,
optimisers from :data:`engine.optim.OPTIMIZERS`, losses from :data:`engine.losses.LOSSES`.
"""

from __future__ import annotations

from typing import Any

from engine import datasets, optim
from engine.datasets import options as data_options
from engine.datasets.csvfile import load_csv
from engine.errors import UserError
from engine.experiment import architectures
from engine.experiment.sections import DataConfig, ModelConfig, TrainConfig
from engine.layers import ACTIVATION_LAYERS, config_choices
from engine.losses import LOSSES

LOSSES_FOR_TASK: dict[str, tuple[str, ...]] = {
    "binary": ("bce_logits", "bce", "mse", "huber"),
    "multiclass": ("cross_entropy",),
    "regression": ("mse", "huber"),
}
"""The losses that fit each task, the first being the one ``loss = "auto"`` trains with."""

AUTO_LOSS = {task: losses[0] for task, losses in LOSSES_FOR_TASK.items()}
"""The loss ``loss = "auto"`` (the default) trains with, by the data set's task."""


def check_experiment(
    data: DataConfig, model: ModelConfig, train: TrainConfig, source: str = "config"
) -> None:
    """Raise a UserError for the first value that is not allowed, naming its key."""
    check_data(data, source)
    check_model(model, source)
    check_train(train, source)


def check_data(data: DataConfig, source: str = "config") -> None:
    """The data set must be registered (or ``csv:PATH``) and take the options given."""
    where = f"{source} [data]"
    try:
        record = datasets.lookup(data.name)
    except UserError as exc:
        raise UserError(f"{where} name = {data.name!r} is not a data set", exc.hint) from None
    if record is not None:
        record.check_options(data.options, where)
        return
    if not data.name[len(datasets.CSV_PREFIX) :].strip():
        raise UserError(f"{where} name = {data.name!r} has no path", 'write "csv:PATH"')
    data_options.check_known(where, load_csv, data.options)


def check_model(m: ModelConfig, source: str = "config") -> None:
    if m.activation in ACTIVATION_LAYERS and m.activation not in config_choices():
        raise UserError(
            f"{source} [model] activation = {m.activation!r} has no gradient to train with",
            f"choose one of: {', '.join(config_choices())}",
        )
    choice(f"{source} [model] activation", m.activation, config_choices())
    choice(f"{source} [model] output", m.output, ["auto", "sigmoid", "none"])
    choice(f"{source} [model] kind", m.kind, list(architectures.KINDS))
    choice(f"{source} [model] init", m.init, ["default", "xavier", "he"])
    if any(int(h) < 1 for h in m.hidden):
        raise UserError(
            f"{source} [model] hidden = {m.hidden}: sizes must be at least 1",
            "write e.g. hidden = [8, 8], or [] for no hidden layer",
        )
    if not 0.0 <= m.dropout < 1.0:
        raise UserError(
            f"{source} [model] dropout = {m.dropout} is outside [0, 1)",
            "use e.g. 0.1; 0 switches it off",
        )


def check_train(t: TrainConfig, source: str = "config") -> None:
    choice(f"{source} [train] loss", t.loss, ["auto", *LOSSES])
    choice(f"{source} [train] optimizer", t.optimizer, list(optim.OPTIMIZERS))
    choice(f"{source} [train] dtype", t.dtype, ["float32", "float64"])
    choice(f"{source} [train] device", t.device, ["cpu", "cuda"])
    if not (isinstance(t.batch_size, int) and t.batch_size >= 1) and t.batch_size != "full":
        raise UserError(
            f"{source} [train] batch_size = {t.batch_size!r}",
            'use a whole number ≥ 1, or "full" for the full batch',
        )
    for key in ("lr", "epochs"):
        if not getattr(t, key) > 0:
            raise UserError(f"{source} [train] {key} must be positive", f"set {key} > 0")
    for key in ("l1", "l2", "weight_decay", "momentum", "seed"):
        if getattr(t, key) < 0:
            raise UserError(
                f"{source} [train] {key} must not be negative", "use 0 to switch it off"
            )


def check_task(split: datasets.DataSplit, loss: str, source: str) -> None:
    """The loss must fit the task of the data the network trains on."""
    ok = LOSSES_FOR_TASK[split.task]
    if loss not in ok:
        raise UserError(
            f"{source}: loss {loss!r} does not fit the {split.task} data set {split.name!r}",
            f"use loss = {' or '.join(repr(o) for o in ok)}",
        )


def choice(key: str, value: Any, valid: list[str]) -> None:
    if value not in valid:
        raise UserError(f"{key} = {value!r} is not known", f"choose one of: {', '.join(valid)}")
