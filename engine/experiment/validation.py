"""What an experiment's values must be: each check names the key, the value and the fix.

The choices come from where the things are defined: data sets from their registry
(:func:`engine.datasets.records`), activations from :func:`engine.layers.config_choices`,
optimisers from :data:`engine.optim.OPTIMIZERS`, losses from :data:`engine.losses.LOSSES`.
"""

from __future__ import annotations

import math
import os
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
    "binary": ("bce_logits", "bce", "mse", "huber", "perceptron"),
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
    check_output(model, train, source)


OUTPUTS = ("auto", "sigmoid", "none", "step")
"""The output units ``[model] output`` names; ``step`` only trains with the perceptron loss."""


def check_output(m: ModelConfig, t: TrainConfig, source: str = "config") -> None:
    """A step output trains only with the perceptron loss, and that loss only with it."""
    if m.output == "step" and t.loss not in ("perceptron", "auto"):
        raise UserError(
            f"{source} [model] output = 'step' cannot train with loss = {t.loss!r}: the step's "
            "derivative is zero wherever it exists, so no gradient reaches the weights",
            "use loss = 'perceptron' (or 'auto') with a step output, or output = 'sigmoid'",
        )
    if t.loss == "perceptron" and m.output != "step":
        raise UserError(
            f"{source} [train] loss = 'perceptron' needs the step output unit, not "
            f"output = {m.output!r}",
            "set [model] output = 'step'",
        )
    if m.output == "step" and m.kind not in ("mlp", "residual"):
        raise UserError(
            f"{source} [model] output = 'step' is the perceptron's unit; kind = {m.kind!r} "
            "does not end in one",
            "use kind = 'mlp' with output = 'step', or output = 'auto'",
        )


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
    _check_csv_types(where, data.options)


def _check_csv_types(where: str, options: dict[str, Any]) -> None:
    """A ``csv:`` set's options are checked here, by the type of the loader's default."""
    defaults = {o.name: o.default for o in data_options.options_of(load_csv)}
    for key, value in options.items():
        default = defaults[key]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UserError(
                f"{where} {key} = {value!r} is not true or false",
                f"write {key} = true or {key} = false (no quotes)",
            )
        if isinstance(default, str) and not isinstance(value, str):
            raise UserError(f"{where} {key} = {value!r} is not text", f'write {key} = "{default}"')
        if key == "test_fraction":
            data_options.check_fraction(where, value)
        if key == "seed":
            data_options.check_seed(where, value)
        if key == "target" and not (value is None or isinstance(value, str | int)):
            raise UserError(
                f"{where} target = {value!r} is not a column",
                'write the column\'s name in quotes, e.g. target = "price", or its index',
            )


def check_model(m: ModelConfig, source: str = "config") -> None:
    if m.activation in ACTIVATION_LAYERS and m.activation not in config_choices():
        raise UserError(
            f"{source} [model] activation = {m.activation!r} has no gradient to train with",
            f"choose one of: {', '.join(config_choices())}",
        )
    choice(f"{source} [model] activation", m.activation, config_choices())
    choice(f"{source} [model] output", m.output, list(OUTPUTS))
    choice(f"{source} [model] kind", m.kind, list(architectures.KINDS))
    choice(f"{source} [model] init", m.init, ["default", "xavier", "he"])
    if any(int(h) < 1 for h in m.hidden):
        raise UserError(
            f"{source} [model] hidden = {m.hidden}: sizes must be at least 1",
            "write e.g. hidden = [8, 8], or [] for no hidden layer",
        )
    check_structure(m, f"{source} [model]")
    if not (math.isfinite(m.init_scale) and m.init_scale > 0):
        raise UserError(
            f"{source} [model] init_scale = {m.init_scale}: it multiplies every initial weight, "
            "so it must be a positive number",
            "use e.g. init_scale = 1.0 (as initialised), 0.1 (smaller) or 10 (larger)",
        )
    if not 0.0 <= m.dropout < 1.0:
        raise UserError(
            f"{source} [model] dropout = {m.dropout} is outside [0, 1)",
            "use e.g. 0.1; 0 switches it off",
        )


def check_structure(m: ModelConfig, where: str) -> None:
    """The sizes a network is built from, checked before anything is built."""
    if any(c < 1 for c in m.channels):
        raise UserError(
            f"{where} channels = {m.channels}: every convolution needs at least 1 channel",
            "write e.g. channels = [16, 32]",
        )
    for key, low, example in (("kernel_size", 1, 3), ("d_model", 1, 32), ("heads", 1, 2)):
        if getattr(m, key) < low:
            raise UserError(
                f"{where} {key} = {getattr(m, key)} must be at least {low}",
                f"use e.g. {key} = {example}",
            )
    if m.blocks < 1:
        raise UserError(
            f"{where} blocks = {m.blocks}: a transformer has at least 1 block",
            "use e.g. blocks = 2",
        )
    if m.d_model % m.heads:
        divisors = [h for h in range(1, min(m.d_model, 16) + 1) if m.d_model % h == 0]
        raise UserError(
            f"{where} heads = {m.heads} does not divide d_model = {m.d_model}: each head takes "
            "an equal share of the width",
            f"use heads = {' or '.join(map(str, divisors[-3:]))}, or change d_model",
        )
    w = max(m.hidden, default=16)
    if m.kind == "residual" and (not m.hidden or len(set(m.hidden)) > 1):
        raise UserError(
            f"{where} hidden = {m.hidden}: residual blocks add their input to their output, so "
            "every hidden layer must have the same width",
            f"give every layer one width, e.g. hidden = [{w}, {w}, {w}]",
        )
    if m.new_head and not m.init_from:
        raise UserError(
            f"{where} new_head = true replaces the last layer of a saved network, but init_from "
            "names none",
            'set init_from = "PATH" to a saved network or run, or drop new_head',
        )
    if any(i < 0 for i in m.freeze):
        raise UserError(
            f"{where} freeze = {m.freeze}: layer indices start at 0", "use e.g. freeze = [0]"
        )


MAX_EPOCHS = 10_000_000
"""More epochs than any run finishes: a config asking for them is a typo."""


MAX_VALIDATION = 0.9
"""The largest share of the training set ``validation`` may hold apart."""


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
    where = f"{source} [train]"
    for key in ("lr", "momentum", "weight_decay", "l1", "l2", "augment_noise"):
        if not math.isfinite(getattr(t, key)):
            raise UserError(f"{where} {key} = {getattr(t, key)} is not a finite number",
                            f"give {key} a number, e.g. {key} = 0.01")  # fmt: skip
    for key in ("lr", "epochs"):
        if not getattr(t, key) > 0:
            raise UserError(f"{where} {key} must be positive", f"set {key} > 0")
    for key in ("l1", "l2", "weight_decay", "momentum", "seed", "augment_shift", "augment_noise"):
        if getattr(t, key) < 0:
            raise UserError(f"{where} {key} must not be negative", "use 0 to switch it off")
    if t.epochs > MAX_EPOCHS:
        raise UserError(
            f"{where} epochs = {t.epochs} would run practically forever",
            f"use at most {MAX_EPOCHS:,} epochs; a run can be continued with --resume",
        )
    if t.seed >= 2**63:
        raise UserError(f"{where} seed = {t.seed} is too large", "use a seed below 2**63")
    if t.clip_norm is not None and not (math.isfinite(t.clip_norm) and t.clip_norm > 0):
        raise UserError(
            f"{where} clip_norm = {t.clip_norm} is not a positive number: the gradient's norm "
            "is clipped to it",
            "use e.g. clip_norm = 1.0, or leave the key out for no clipping",
        )
    if not (math.isfinite(t.validation) and 0.0 <= t.validation <= MAX_VALIDATION):
        raise UserError(
            f"{where} validation = {t.validation}: it is the share of the training set held "
            f"apart for validation, from 0 to {MAX_VALIDATION}",
            "use e.g. validation = 0.2, or 0 for no validation split",
        )
    if t.patience is not None and t.patience < 1:
        raise UserError(
            f"{where} patience = {t.patience}: training stops after this many epochs without a "
            "better validation loss, so it must be at least 1",
            "use e.g. patience = 10, or leave the key out to train every epoch",
        )


def check_task(split: datasets.DataSplit, loss: str, source: str) -> None:
    """The loss must fit the task of the data the network trains on."""
    ok = LOSSES_FOR_TASK[split.task]
    if loss == "perceptron" and split.task != "binary":
        raise UserError(
            f"{source}: the perceptron's one step unit separates two classes; "
            f"{split.name!r} is a {split.task} data set",
            "use a two-class data set (xor-gate, gaussians …), or [model] output = 'auto'",
        )
    if loss not in ok:
        raise UserError(
            f"{source}: loss {loss!r} does not fit the {split.task} data set {split.name!r}",
            f"use loss = {' or '.join(repr(o) for o in ok)}",
        )


def choice(key: str, value: Any, valid: list[str]) -> None:
    if value not in valid:
        raise UserError(f"{key} = {value!r} is not known", f"choose one of: {', '.join(valid)}")


# ---------------------------------------------------------------------- memory


def available_memory() -> int | None:
    """Bytes this machine can still give a process (MemAvailable), else its RAM, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(need: int, what: str, fix: str) -> None:
    """Refuse ``what`` if it needs more than the memory available (a UserError saying both)."""
    have = available_memory()
    if have is not None and need > have:
        raise UserError(
            f"{what} needs about {_size(need)} of memory; this machine has {_size(have)} free",
            fix,
        )


def _size(n: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n / 1e3:,.1f} kB"


def data_bytes(data: DataConfig) -> int:
    """A lower bound on what loading ``data`` takes, from its sample counts (before loading).

    Loaders make their arrays in float64 and keep a temporary or two, hence 16 bytes a number.
    """
    record = datasets.lookup(data.name)
    if record is None:
        return 0
    options = {o.name: o.default for o in record.options} | data.options

    def count(key: str) -> int:
        value = options.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    samples = count("n") + count("n_train") + count("n_test")
    return samples * (max(1, count("length")) + 1) * 16


def network_bytes(params: int, step_numbers: int, dtype: str) -> int:
    """Weights, gradients and two optimiser moments, plus each step's outputs, their gradients
    and the workspaces beside them."""
    itemsize = 8 if dtype == "float64" else 4
    return (4 * params + 3 * step_numbers) * itemsize
