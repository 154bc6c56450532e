"""Experiments: a data set, a network and a way to train it, as one TOML-able record.

The sections of a config file and how they are read live in :mod:`engine.experiment.sections`
(the file format is described there), the checks of their values in
:mod:`engine.experiment.validation`; this module builds the run. Every mistake — an unknown key,
a value of the wrong type, a data set that does not exist — is a ``UserError`` naming the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import datasets, optim
from engine.augment import Augment
from engine.datasets.split import hold_out
from engine.errors import UserError
from engine.experiment import architectures, transfer
from engine.experiment.sections import (
    SECTIONS,
    DataConfig,
    ModelConfig,
    TrainConfig,
    read_sections,
    read_toml,
)
from engine.experiment.tomlfile import dump_toml
from engine.experiment.validation import (
    AUTO_LOSS,
    check_experiment,
    check_fits,
    check_task,
    data_bytes,
    network_bytes,
)
from engine.layers import Heaviside, Layer, Sigmoid
from engine.network import Sequential
from engine.trainer import EvalSets, Trainer

__all__ = [
    "AUTO_LOSS",
    "SECTIONS",
    "DataConfig",
    "Experiment",
    "ModelConfig",
    "Run",
    "TrainConfig",
    "autoencoder_split",
]


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

    def val_set(self) -> EvalSets:
        """The sets measured after every epoch, as ``Trainer.run(val=...)`` takes them.

        With a validation split (``[train] validation`` > 0) early stopping and the epoch's
        ``val_loss`` use the validation part and the test part is measured beside it
        (``Epoch.test_loss``); without one the test part stands in for validation, as before.
        """
        data = self.data
        test = (data.X_test, data.y_test)
        if data.X_val is None or data.y_val is None:
            return EvalSets(test)
        return EvalSets((data.X_val, data.y_val), test)


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
        exp.data, exp.model, exp.train = read_sections(raw, source)
        exp.validate(source)
        return exp

    @classmethod
    def from_toml(cls, path: str | Path) -> Experiment:
        """Reads a config file; a missing or malformed file is a UserError naming it."""
        path = Path(path)
        raw = read_toml(path)
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
        """Raise a UserError naming the first key whose value is not allowed."""
        check_experiment(self.data, self.model, self.train, source)

    def build(self, data: datasets.DataSplit | None = None) -> Run:
        """Loads the data (unless given) and makes the network, optimiser and trainer.

        What will not fit in memory is refused before it is allocated: the data set from its
        sample counts before loading, the network from its shapes before it is built.
        """
        if data is None:
            check_fits(
                data_bytes(self.data),
                f"{self.name}: [data] {self.data.name} with {self.data.options}",
                "use fewer samples (n, n_train, n_test) or shorter sequences (length)",
            )
        if data is not None:
            split = data.unsplit()  # the validation share or seed may have changed
        else:
            split = datasets.load(self.data.name, **self.data.options)
        if self.model.kind == "autoencoder":
            split = autoencoder_split(split)
        split = hold_out(split, self.train.validation, self.train.seed)
        if self.train.loss == "auto":  # the run records the loss it trains with
            loss = "perceptron" if self.model.output == "step" else AUTO_LOSS[split.task]
            return self.replace(train={"loss": loss})._build(split)
        return self._build(split)

    def _build(self, split: datasets.DataSplit) -> Run:
        t = self.train
        check_task(split, t.loss, self.name)
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
        target_shape = split.target_shape or ()
        per_step = int(np.prod(target_shape)) > 1
        if per_step and not structured and split.task == "multiclass":
            raise UserError(
                f"{self.name}: {split.name} has a class (a token) to predict at every position",
                "use kind = 'transformer', which embeds the tokens",
            )
        per_step = per_step and structured
        if split.task == "multiclass":
            n_out = split.n_classes
        elif per_step:
            n_out = target_shape[-1] if len(target_shape) > 1 else 1
        else:
            n_out = split.y_train.reshape(len(split.y_train), -1).shape[1]
        if m.init_from:
            net = transfer.start_from(m.init_from, n_out if m.new_head else None, seed=t.seed)
            if t.device != net.device:
                net = _on_device(net, t.device)
        else:
            vocab = split.n_classes if m.kind == "transformer" else 0
            if m.kind == "transformer":  # its position table is made with the layer
                check_fits(2 * 512 * 8 * m.d_model, self._size_of(), self._size_fix())
            layers = architectures.build(m, shape, n_out, per_step, vocab)
            layers += self._output_layers()
            self._check_fits(layers, shape, split)
            net = Sequential(
                layers,
                seed=t.seed,
                dtype=t.dtype,
                input_shape=shape,
                device=t.device,
                init_scale=m.init_scale,
            )
        if net.input_shape != shape:
            raise UserError(
                f"{self.name}: the network takes samples of {net.input_shape}, "
                f"the data set has {shape}",
                "use a data set of the shape it was trained on",
            )
        if m.freeze:
            transfer.freeze(net, m.freeze)
        return net

    def _check_fits(self, layers: list[Layer], shape: tuple[int, ...], split: Any) -> None:
        """Refuse a network (with a batch's outputs) larger than the memory left."""
        n = len(split.X_train)
        batch = n if self.train.batch_size == "full" else min(int(self.train.batch_size), n)
        params, total, largest = architectures.footprint(layers, shape)
        evaluation = min(n, 4096) * largest  # evaluation runs in chunks of 4096, layer by layer
        need = network_bytes(params, max(batch * total, evaluation), self.train.dtype)
        check_fits(need, f"{self._size_of()} ({params:,} parameters)", self._size_fix())

    def _size_of(self) -> str:
        m = self.model
        sizes = f"hidden = {m.hidden}"
        if m.kind == "cnn":
            sizes += f", channels = {m.channels}, kernel_size = {m.kernel_size}"
        if m.kind == "transformer":
            sizes = f"d_model = {m.d_model}, blocks = {m.blocks}"
        return f"{self.name}: the {m.kind} network ([model] {sizes}, batch {self.train.batch_size})"

    @staticmethod
    def _size_fix() -> str:
        return "use fewer or smaller layers, or a smaller batch_size"

    def layers(self, n_in: int, n_out: int) -> list[Layer]:
        """The layer list of an MLP for ``n_in`` inputs and ``n_out`` outputs."""
        return architectures.build(self.model, (n_in,), n_out, False, 0) + self._output_layers()

    def _output_layers(self) -> list[Layer]:
        m = self.model
        output = (
            m.output if m.output != "auto" else ("sigmoid" if self.train.loss == "bce" else "none")
        )
        if output == "step":
            return [Heaviside()]
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
