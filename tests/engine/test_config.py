"""Experiments from TOML and presets: round trips, checks that name the key, and building."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Dropout, Sigmoid, UserError, datasets
from engine.experiment.config import Experiment
from engine.experiment.presets import DEFAULT, PRESETS, get_preset


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_round_trips_through_toml(name: str, tmp_path) -> None:
    exp = get_preset(name)
    path = tmp_path / f"{name}.toml"
    path.write_text(exp.to_toml())
    again = Experiment.from_toml(path)
    assert again.to_dict() == exp.to_dict()


@pytest.mark.parametrize("name", [p for p in PRESETS if "mnist" not in p])
def test_every_offline_preset_builds_a_network_that_fits_its_data(name: str) -> None:
    run = get_preset(name).build()
    assert run.net.in_features == run.data.n_features
    out = run.net.forward(run.data.X_test[:3])
    assert out.shape[0] == 3 and np.isfinite(out).all()


def test_default_preset_is_a_small_tanh_network_on_2d_data() -> None:
    exp = get_preset(DEFAULT)
    assert exp.model.activation == "tanh" and exp.build().data.n_features == 2


def test_xor_preset_is_the_classic_2_2_1_sigmoid_mse() -> None:
    run = get_preset("xor").build()
    assert run.net.widths() == [2, 2, 1] and isinstance(run.net.layers[-1], Sigmoid)
    assert run.trainer.loss == "mse"


def test_layers_follow_the_model_section() -> None:
    exp = get_preset("moons").replace(
        model={"hidden": [5, 3], "dropout": 0.2}, train={"loss": "bce"}
    )
    net = exp.build().net
    assert net.widths() == [2, 5, 3, 1]
    assert sum(isinstance(layer, Dropout) for layer in net.layers) == 2
    assert isinstance(net.layers[-1], Sigmoid)


def test_full_batch_and_optimizer_settings_reach_the_trainer() -> None:
    run = get_preset("circle").replace(train={"batch_size": "full", "optimizer": "sgd",
                                              "momentum": 0.9, "lr": 0.2}).build()  # fmt: skip
    assert run.trainer.batch_size is None
    assert run.optimizer.momentum == 0.9 and run.optimizer.lr == 0.2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nlr = 'fast'\n", "lr = 'fast' has the wrong type"),
        ("[train]\nlearning_rate = 0.1\n", "unknown key 'learning_rate'"),
        ("[model]\nactivation = 'swish'\n", "activation = 'swish' is not known"),
        ("[model]\nhidden = [8, 0]\n", "sizes must be at least 1"),
        ("[train]\nbatch_size = 0\n", "batch_size = 0"),
        ("[train]\nloss = 'cross_entropy'\n", None),  # fits only at build time
        ("[trian]\nlr = 0.1\n", "unknown section or key 'trian'"),
        ("[train\nlr = 0.1\n", "not valid TOML"),
        ("[model]\ndropout = 1.5\n", "dropout = 1.5"),
    ],
)
def test_config_mistakes_name_the_key(tmp_path, text: str, message: str | None) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    if message is None:
        with pytest.raises(UserError, match="does not fit the binary data set"):
            Experiment.from_toml(path).build()
        return
    with pytest.raises(UserError) as info:
        Experiment.from_toml(path)
    assert message in str(info.value) and info.value.hint


def test_missing_config_and_unknown_preset() -> None:
    with pytest.raises(UserError, match="does not exist"):
        Experiment.from_toml("/nonexistent/exp.toml")
    with pytest.raises(UserError, match="unknown preset 'spiarl'") as info:
        get_preset("spiarl")
    assert "spiral" in info.value.hint


def test_an_unknown_device_names_the_choices() -> None:
    with pytest.raises(UserError) as info:
        get_preset("xor").replace(train={"device": "tpu"})
    assert "[train] device" in info.value.message and "cuda" in info.value.hint


@pytest.mark.parametrize(
    ("data", "kind", "loss"),
    [
        ("digits", "cnn", "cross_entropy"),
        ("spiral", "mlp", "bce_logits"),
        ("sine", "mlp", "mse"),
        ("sine-seq", "lstm", "mse"),
        ("digits", "autoencoder", "mse"),  # reconstructing the image is a regression
    ],
)
def test_the_default_loss_follows_the_data_sets_task(data: str, kind: str, loss: str) -> None:
    exp = Experiment.from_dict(
        {"data": {"name": data}, "model": {"kind": kind, "hidden": [4]}, "train": {"epochs": 1}}
    )
    assert exp.train.loss == "auto"
    run = exp.build()
    assert run.trainer.loss == loss
    assert run.experiment.train.loss == loss  # what the run saves and shows
    assert f'loss = "{loss}"' in run.experiment.to_toml()


def test_a_loss_that_is_given_is_kept_and_checked() -> None:
    exp = Experiment.from_dict({"data": {"name": "digits"}, "train": {"loss": "mse"}})
    with pytest.raises(UserError, match="does not fit the multiclass data set"):
        exp.build()


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("data = 5\n", "[data] must be a table, not 5", "[data] on a line of its own"),
        ("data = [1, 2]\n", "[data] must be a table", "[data] on a line of its own"),
        ("model = 'mlp'\n", "[model] must be a table", "[model] on a line of its own"),
        ("[data]\nname = 5\n", "name = 5 is not a data set's name", 'name = "spiral"'),
        ("[data]\nname = 'spirals'\n", "name = 'spirals' is not a data set", "moons"),
        ("[data]\nname = 'spiral'\nnoise = 0.9\n", "noise=0.9 is outside [0, 0.5]", "noise"),
        ("[data]\nname = 'iris'\nnoise = 0.1\n", "unknown option(s) 'noise'", "test_fraction"),
        ("[data]\nname = 'csv:'\n", "has no path", "csv:PATH"),
    ],
)
def test_data_section_mistakes_are_user_errors(
    tmp_path, text: str, message: str, hint: str
) -> None:
    """Caught when the file is read, before anything is loaded or built."""
    path = tmp_path / "exp.toml"
    path.write_text(text)
    with pytest.raises(UserError) as info:
        Experiment.from_toml(path)
    assert message in info.value.message and hint in info.value.hint


def test_every_data_set_with_its_defaults_is_a_valid_config() -> None:
    for record in datasets.records():
        exp = Experiment.from_dict({"data": {"name": record.name, **record.small}})
        assert exp.data.name == record.name


def test_a_data_set_name_is_read_in_the_registrys_spelling() -> None:
    exp = Experiment.from_dict({"data": {"name": "Fashion_MNIST", "n_train": 10}})
    assert exp.data.name == "fashion-mnist"
    assert Experiment.from_dict({"data": {"name": "csv:My_Table.csv"}}).data.name.endswith(
        "My_Table.csv"
    )
