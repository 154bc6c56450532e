"""Experiments: a data set, a network and a way to train it, as one TOML-able record.

A config file has three tables; every key is optional and has the default shown by
``dltui presets --show NAME``::

    [data]
    name = "spiral"          # any datasets.NAMES, or "csv:PATH"
    noise = 0.1              # every other key is passed to datasets.load

    [model]
    hidden = [8, 8]          # units per hidden layer
    activation = "tanh"      # relu | leaky_relu | sigmoid | tanh | elu | gelu | linear
    output = "auto"          # auto (sigmoid for bce, else none) | sigmoid | none
    dropout = 0.0
    init = "default"         # default (PyTorch) | xavier | he

    [train]
    loss = "auto"            # auto: cross_entropy for classes, bce_logits for two, mse for numbers
    optimizer = "adam"       # sgd | adam | adamw | rmsprop | adagrad
    lr = 0.01
    batch_size = 16          # 1: SGD, "full": full batch
    epochs = 200
    ...

Every mistake — an unknown key, a value of the wrong type — is a ``UserError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import datasets, optim
from engine.augment import Augment
from engine.errors import UserError
from engine.experiment import architectures, transfer
from engine.experiment.tomlfile import dump_toml
from engine.layers import ACTIVATION_LAYERS, Layer, Sigmoid, config_choices
from engine.losses import LOSSES
from engine.network import Sequential
from engine.trainer import Trainer


@dataclass
class DataConfig:
    """Which data set, and the options passed to ``datasets.load``."""

    name: str = "spiral"
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
    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"  # "cuda": an NVIDIA GPU, through numba.cuda (dltui train and the library)
    augment_shift: int = 0  # images: random shifts of up to this many pixels
    augment_flip: bool = False  # images: random horizontal flips
    augment_noise: float = 0.0  # images: Gaussian noise of this standard deviation


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass
class Run:
    """An experiment made real: its data, network and trainer."""

    experiment: Experiment
    data: datasets.DataSplit
    net: Sequential
    trainer: Trainer

    @property
    def optimizer(self) -> optim.Optimizer:
        return self.trainer.optimizer


@dataclass
class Experiment:
    """One experiment: ``name`` and ``description`` for listings, then the three sections."""

    name: str = "custom"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    # ------------------------------------------------------------------ reading and writing
    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> Experiment:
        """Builds and checks an experiment from plain data (a parsed TOML file)."""
        exp = cls(name=str(raw.get("name", "custom")), description=str(raw.get("description", "")))
        unknown = set(raw) - {"name", "description", *SECTIONS}
        if unknown:
            raise UserError(
                f"{source}: unknown section or key {sorted(unknown)[0]!r}",
                f"the sections are {', '.join(f'[{s}]' for s in SECTIONS)}",
            )
        data = dict(raw.get("data", {}))
        exp.data = DataConfig(name=str(data.pop("name", "spiral")), options=data)
        exp.model = _section(ModelConfig, raw.get("model", {}), f"{source} [model]")
        exp.train = _section(TrainConfig, raw.get("train", {}), f"{source} [train]")
        exp.validate(source)
        return exp

    @classmethod
    def from_toml(cls, path: str | Path) -> Experiment:
        """Reads a config file; a missing or malformed file is a UserError naming it."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
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
        raw.setdefault("name", path.stem)
        return cls.from_dict(raw, str(path))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        out["data"] = {"name": self.data.name, **self.data.options}
        out["model"] = dataclasses.asdict(self.model)
        out["train"] = {k: v for k, v in dataclasses.asdict(self.train).items() if v is not None}
        return out

    def to_toml(self) -> str:
        return dump_toml(self.to_dict())

    def replace(self, **sections: dict[str, Any]) -> Experiment:
        """A copy with some keys changed, e.g. ``replace(train={"lr": 0.1})``; checked again."""
        raw = self.to_dict()
        for section, changes in sections.items():
            raw[section] = {**raw.get(section, {}), **changes}
        return Experiment.from_dict(raw, self.name)

    # ------------------------------------------------------------------ checking and building
    def validate(self, source: str = "config") -> None:
        m, t = self.model, self.train
        if m.activation in ACTIVATION_LAYERS and m.activation not in config_choices():
            raise UserError(
                f"{source} [model] activation = {m.activation!r} has no gradient to train with",
                f"choose one of: {', '.join(config_choices())}",
            )
        _choice(f"{source} [model] activation", m.activation, config_choices())
        _choice(f"{source} [model] output", m.output, ["auto", "sigmoid", "none"])
        _choice(f"{source} [model] kind", m.kind, list(architectures.KINDS))
        _choice(f"{source} [model] init", m.init, ["default", "xavier", "he"])
        _choice(f"{source} [train] loss", t.loss, ["auto", *LOSSES])
        _choice(f"{source} [train] optimizer", t.optimizer, list(optim.OPTIMIZERS))
        _choice(f"{source} [train] dtype", t.dtype, ["float32", "float64"])
        _choice(f"{source} [train] device", t.device, ["cpu", "cuda"])
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

    def build(self, data: datasets.DataSplit | None = None) -> Run:
        """Loads the data (unless given) and makes the network, optimiser and trainer."""
        split = data if data is not None else datasets.load(self.data.name, **self.data.options)
        if self.model.kind == "autoencoder":
            split = autoencoder_split(split)
        if self.train.loss == "auto":  # the run records the loss it trains with
            return self.replace(train={"loss": AUTO_LOSS[split.task]})._build(split)
        return self._build(split)

    def _build(self, split: datasets.DataSplit) -> Run:
        t = self.train
        _check_task(split, t.loss, self.name)
        net = self.network(split)
        hyper: dict[str, Any] = {"lr": t.lr}
        if t.weight_decay:
            hyper["weight_decay"] = t.weight_decay
        if t.momentum and t.optimizer in ("sgd", "rmsprop"):
            hyper["momentum"] = t.momentum
        opt = optim.create(t.optimizer, net, **hyper)
        batch = None if t.batch_size == "full" else int(t.batch_size)
        augment = None
        if t.augment_shift or t.augment_flip or t.augment_noise:
            augment = Augment(
                split.sample_shape or (split.n_features,),
                t.augment_shift,
                t.augment_flip,
                t.augment_noise,
                seed=t.seed,
            )
        trainer = Trainer(
            net,
            loss=t.loss,
            optimizer=opt,
            batch_size=batch,
            seed=t.seed,
            l1=t.l1,
            l2=t.l2,
            clip_norm=t.clip_norm,
            patience=t.patience,
            augment=augment,
        )
        return Run(self, split, net, trainer)

    def network(self, split: datasets.DataSplit) -> Sequential:
        """The network for ``split``: built from the model section, or from ``init_from``."""
        m, t = self.model, self.train
        structured = m.kind in ("cnn", "rnn", "lstm", "gru", "transformer")
        shape = tuple(split.sample_shape or ()) if structured else (split.n_features,)
        shape = shape or (split.n_features,)
        per_step = bool(split.target_shape) and int(np.prod(split.target_shape)) > 1
        if per_step and not structured and split.task == "multiclass":
            raise UserError(
                f"{self.name}: {split.name} has a class (a token) to predict at every position",
                "use kind = 'transformer', which embeds the tokens",
            )
        per_step = per_step and structured
        if split.task == "multiclass":
            n_out = split.n_classes
        elif per_step:
            n_out = split.target_shape[-1] if len(split.target_shape) > 1 else 1
        else:
            n_out = split.y_train.reshape(len(split.y_train), -1).shape[1]
        if m.init_from:
            net = transfer.start_from(m.init_from, n_out if m.new_head else None, seed=t.seed)
            if t.device != net.device:
                net = _on_device(net, t.device)
        else:
            vocab = split.n_classes if m.kind == "transformer" else 0
            layers = architectures.build(m, shape, n_out, per_step, vocab)
            layers += self._output_layers()
            net = Sequential(layers, seed=t.seed, dtype=t.dtype, input_shape=shape, device=t.device)
        if net.input_shape != shape:
            raise UserError(
                f"{self.name}: the network takes samples of {net.input_shape}, "
                f"the data set has {shape}",
                "use a data set of the shape it was trained on",
            )
        if m.freeze:
            transfer.freeze(net, m.freeze)
        return net

    def layers(self, n_in: int, n_out: int) -> list[Layer]:
        """The layer list of an MLP for ``n_in`` inputs and ``n_out`` outputs."""
        return architectures.build(self.model, (n_in,), n_out, False, 0) + self._output_layers()

    def _output_layers(self) -> list[Layer]:
        m = self.model
        output = (
            m.output if m.output != "auto" else ("sigmoid" if self.train.loss == "bce" else "none")
        )
        return [Sigmoid()] if output == "sigmoid" else []

    def summary(self) -> str:
        """One line for headers: data, layers, activation, optimiser, learning rate, batch."""
        t, m = self.train, self.model
        shape = "-".join(str(h) for h in m.hidden) or "no hidden"
        return (
            f"{self.data.name} · {shape} {m.activation} · {t.loss} · {t.optimizer} "
            f"lr {t.lr:g} · batch {t.batch_size}"
        )


def _on_device(net: Sequential, device: str) -> Sequential:
    """The same network, weights and running statistics on ``device``."""
    twin = Sequential.from_spec(
        net.spec(), seed=net.seed, dtype=net.dtype.name, device=device, input_shape=net.input_shape
    )
    twin.data[...] = net.backend.to_host(net.data)
    if net.state.size:
        twin.state[...] = net.backend.to_host(net.state)
    return twin


AUTO_LOSS = {"multiclass": "cross_entropy", "binary": "bce_logits", "regression": "mse"}
"""The loss ``loss = "auto"`` (the default) trains with, by the data set's task."""


def _check_task(split: datasets.DataSplit, loss: str, source: str) -> None:
    ok = {
        "multiclass": ("cross_entropy",),
        "binary": ("bce", "bce_logits", "mse", "huber"),
        "regression": ("mse", "huber"),
    }[split.task]
    if loss not in ok:
        raise UserError(
            f"{source}: loss {loss!r} does not fit the {split.task} data set {split.name!r}",
            f"use loss = {' or '.join(repr(o) for o in ok)}",
        )


def _choice(key: str, value: Any, valid: list[str]) -> None:
    if value not in valid:
        raise UserError(f"{key} = {value!r} is not known", f"choose one of: {', '.join(valid)}")


def _section(cls: type, raw: Any, source: str) -> Any:
    if not isinstance(raw, dict):
        raise UserError(
            f"{source} must be a table", f"write it as {source.split()[-1]} on its own line"
        )
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
        ok = isinstance(value, list) and all(isinstance(v, int) for v in value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise UserError(
            f"{key} = {value!r} has the wrong type",
            f"write a {type(default).__name__}, like the default {default!r}",
        )
    return value


def autoencoder_split(split: datasets.DataSplit) -> datasets.DataSplit:
    """The same inputs as targets: an autoencoder learns to reproduce what it is shown."""
    return dataclasses.replace(
        split,
        y_train=split.X_train,
        y_test=split.X_test,
        task="regression",
        n_classes=0,
        class_names=None,
        target_shape=None,
    )
