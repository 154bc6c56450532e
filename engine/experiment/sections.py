"""The three sections of a config file, and reading them from TOML with every key checked.

A config file has three tables; every key is optional and has the default shown by
``dltui presets --show NAME``::

    [data]
    name = "spiral"          # a name `dltui presets` lists, or "csv:PATH"
    noise = 0.1              # every other key is one of the set's options

    [model]
    hidden = [8, 8]          # units per hidden layer
    activation = "tanh"      # one of engine.layers.config_choices()
    output = "auto"          # auto (sigmoid for bce, else none) | sigmoid | none | step
    dropout = 0.0
    init = "default"         # default (PyTorch) | xavier | he
    init_scale = 1.0         # multiplies every initial weight (not the biases)

    [train]
    loss = "auto"            # auto: cross_entropy for classes, bce_logits for two, mse for numbers
    optimizer = "adam"       # one of engine.optim.OPTIMIZERS
    lr = 0.01
    batch_size = 16          # 1: SGD, "full": full batch
    epochs = 200
    validation = 0.0         # share of the training set held apart for validation
    ...

``output = "step"`` is the perceptron's Heaviside unit and trains only with
``loss = "perceptron"`` (the rule w ← w + (y − ŷ)·x; ``loss = "auto"`` picks it).
With ``validation`` above 0, early stopping (``patience``) and the per-epoch validation figures
use that held-apart share, and the test set is measured beside it every epoch.

Reading only checks shapes and types (a table is a table, a number a number); what the values
mean is checked in :mod:`engine.experiment.validation`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.datasets.registry import CSV_PREFIX, canonical_key
from engine.errors import UserError
from engine.experiment.runfiles import CONFIG

DEFAULT_DATA = "spiral"


@dataclass
class DataConfig:
    """Which data set, and the options passed to ``datasets.load``."""

    name: str = DEFAULT_DATA
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """The network between the data's inputs and outputs."""

    kind: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [8, 8])
    activation: str = "tanh"
    output: str = "auto"
    dropout: float = 0.0
    init: str = "default"
    init_scale: float = 1.0  # multiplies every initial weight (not biases) after ``init``
    channels: list[int] = field(default_factory=lambda: [16, 32])  # cnn: per conv layer
    kernel_size: int = 3  # cnn
    d_model: int = 32  # transformer: width of a token's vector
    heads: int = 2  # transformer
    blocks: int = 2  # transformer
    init_from: str = ""  # a saved network or run checkpoint to start from (transfer learning)
    freeze: list[int] = field(default_factory=list)  # indices of layers not to train
    new_head: bool = False  # replace the last Dense of init_from to fit this data set


@dataclass
class TrainConfig:
    """Loss, optimiser and the training loop's settings."""

    loss: str = "auto"  # resolved from the data set's task when the experiment is built
    optimizer: str = "adam"
    lr: float = 0.01
    batch_size: int | str = 16
    epochs: int = 100
    momentum: float = 0.0
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    clip_norm: float | None = None
    patience: int | None = None
    validation: float = 0.0  # share of the training set held apart for validation, 0 to 0.9
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"  # "cuda": an NVIDIA GPU, through numba.cuda (dltui train and the library)
    augment_shift: int = 0  # images: random shifts of up to this many pixels
    augment_flip: bool = False  # images: random horizontal flips
    augment_noise: float = 0.0  # images: Gaussian noise of this standard deviation


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
TOP_LEVEL = ("name", "description")


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed file; a missing or malformed file, or a folder, is a UserError naming it."""
    if path.is_dir():
        if (path / CONFIG).is_file():
            raise UserError(
                f"{path} is a run folder, not a config file",
                f"`dltui train --resume {path}` continues it; "
                f"{path / CONFIG} starts its experiment afresh",
            )
        raise UserError(
            f"{path} is a folder, not a config file",
            "give a .toml file, e.g. one from `dltui presets --show spiral > my.toml`",
        )
    try:
        # utf-8-sig: a byte-order mark, as some Windows editors write one, is not a TOML error
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise UserError(
            f"config file {path} does not exist",
            "check the path, or start from `dltui presets --show spiral`",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {path} cannot be read: {exc}", "check the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(
            f"config file {path} is not valid TOML: {exc}",
            "fix the syntax at that line (strings need quotes)",
        ) from None
    except RecursionError:  # tomllib reads nested arrays and tables recursively
        raise UserError(
            f"config file {path} nests arrays or tables too deeply to read",
            "a config needs at most lists of numbers, e.g. hidden = [8, 8]",
        ) from None


def read_sections(raw: dict[str, Any], source: str) -> tuple[DataConfig, ModelConfig, TrainConfig]:
    """The three sections of plain data (a parsed TOML file), each key's type checked.

    Raises:
        UserError: naming the section or key that is unknown or of the wrong type.
    """
    unknown = set(raw) - {*TOP_LEVEL, *SECTIONS}
    if unknown:
        raise UserError(
            f"{source}: unknown section or key {sorted(unknown)[0]!r}",
            f"the sections are {', '.join(f'[{s}]' for s in SECTIONS)}",
        )
    data = _data_section(raw.get("data", {}), f"{source} [data]")
    model = _section(ModelConfig, raw.get("model", {}), f"{source} [model]")
    train = _section(TrainConfig, raw.get("train", {}), f"{source} [train]")
    return data, model, train


EXAMPLE_KEY = {"data": 'name = "spiral"', "model": "hidden = [8, 8]", "train": "lr = 0.01"}


def _table(raw: Any, source: str) -> dict[str, Any]:
    """``raw`` if it is a table; ``data = 5`` in a file, say, is not."""
    if not isinstance(raw, dict):
        section = source.split()[-1]
        example = EXAMPLE_KEY.get(section.strip("[]"), "key = value")
        raise UserError(
            f"{source} must be a table, not {raw!r}",
            f"write {section} on a line of its own and its keys below it, e.g. {example}",
        )
    return raw


def _data_section(raw: Any, source: str) -> DataConfig:
    options = dict(_table(raw, source))
    name = options.pop("name", DEFAULT_DATA)
    if not isinstance(name, str):
        raise UserError(
            f"{source} name = {name!r} is not a data set's name",
            'write it in quotes, e.g. name = "spiral"; `dltui presets` lists the data sets',
        )
    if not name.startswith(CSV_PREFIX):  # "Fashion_MNIST" is written "fashion-mnist"
        name = canonical_key(name)
    return DataConfig(name=name, options=options)


def _section(cls: type, raw: Any, source: str) -> Any:
    raw = _table(raw, source)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        raise UserError(f"{source}: unknown key {unknown[0]!r}", f"valid keys: {', '.join(fields)}")
    defaults = cls()
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(value, getattr(defaults, key), f"{source} {key}")
    return cls(**values)


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Checks a value against the type of its default (ints pass for floats)."""
    name = key.split()[-1]
    if name == "batch_size" and value == "full":
        return value
    if name in ("clip_norm", "patience"):
        if value is None:  # absent: no clipping, no early stopping
            return None
        default = 1.0 if name == "clip_norm" else 1
    if isinstance(default, str) and isinstance(value, str):
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise UserError(
            f"{key} = {value!r} has the wrong type",
            f"write {_KIND_OF.get(type(default), type(default).__name__)}, "
            f"like the default {_toml_text(default)}",
        )
    return value


_KIND_OF = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string in quotes",
    list: "a list of whole numbers",
}


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value).replace("'", '"')
