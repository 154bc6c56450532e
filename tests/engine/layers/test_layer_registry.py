"""The layer registry: every type registered where it is defined, specs that are constructor
arguments, old files read through the alias table, and errors that name the fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from layer_cases import case_for, layer_types, walk

from engine import Sequential
from engine.errors import UserError
from engine.experiment.checkpoint import write_npz
from engine.layers import LAYER_TYPES, Layer, build_layer
from engine.layers.registry import BUILDERS, SPEC_ALIASES, constructor_arguments

# hand-written specs as files saved them before the keys equalled the constructor's arguments,
# one per type whose keys changed, and the network each belongs to
OLD_NETWORKS = {
    "Dense": (
        [
            {"type": "Dense", "in": 3, "out": 4, "init": "default"},
            {"type": "Tanh"},
            {"type": "Dense", "in": 4, "out": 2, "init": "he"},
        ],
        [3],
    ),
    "Conv2D": (
        [
            {"type": "Conv2D", "in": 1, "out": 2, "kernel_size": 3, "stride": 1, "padding": 1},
            {"type": "Flatten"},
            {"type": "Dense", "in": 32, "out": 2, "init": "default"},
        ],
        [1, 4, 4],
    ),
    "Residual": (
        [
            {"type": "Dense", "in": 3, "out": 4, "init": "default"},
            {"type": "Residual", "layers": [{"type": "Dense", "in": 4, "out": 4}]},
        ],
        [3],
    ),
}


@pytest.mark.parametrize("type_name", layer_types())
def test_spec_round_trip(type_name: str) -> None:
    """``spec()`` holds exactly constructor arguments, and building from it gives the same."""
    for layer in walk(case_for(type_name).layers()):
        spec = layer.spec()
        params = constructor_arguments(type(layer))
        assert set(spec) - {"type"} <= set(params), f"{spec} has keys the constructor lacks"
        required = {k for k, p in params.items() if p.default is p.empty}
        assert required <= set(spec), f"{spec} lacks {required - set(spec)}"
        again = build_layer(json.loads(json.dumps(spec)))
        assert type(again) is type(layer) and again.spec() == spec


def test_every_layer_class_is_registered_under_its_type_name() -> None:
    assert set(BUILDERS) == set(LAYER_TYPES) and len(LAYER_TYPES) >= 20
    for name, cls in LAYER_TYPES.items():
        assert issubclass(cls, Layer) and cls.type_name == name
    assert not {"Layer", "Identity", "_Pool2D", "_Recurrent"} & set(LAYER_TYPES)


def test_a_second_class_with_a_taken_type_name_is_refused() -> None:
    with pytest.raises(TypeError, match="'Dense' is taken"):

        class Dense(Layer):  # a different class (its own qualname) claiming the saved type
            type_name = "Dense"

        del Dense  # pragma: no cover


@pytest.mark.parametrize("kind", sorted(OLD_NETWORKS))
def test_old_specs_build_the_same_network(kind: str) -> None:
    old, shape = OLD_NETWORKS[kind]
    assert kind in SPEC_ALIASES or any(spec["type"] in SPEC_ALIASES for spec in old)
    net = Sequential.from_spec(old, seed=4, input_shape=shape)
    for old_spec, layer in zip(old, net.layers, strict=True):
        for old_key in SPEC_ALIASES.get(old_spec["type"], {}):
            assert old_key not in layer.spec()
    twin = Sequential.from_spec(net.spec(), seed=4, input_shape=shape)
    x = np.random.default_rng(0).normal(size=(2, *shape))
    np.testing.assert_array_equal(net.forward(x), twin.forward(x))


@pytest.mark.parametrize("kind", sorted(OLD_NETWORKS))
def test_old_checkpoints_load(kind: str, tmp_path: Path) -> None:
    old, shape = OLD_NETWORKS[kind]
    net = Sequential.from_spec(old, seed=5, input_shape=shape)
    path = tmp_path / "old.npz"
    meta = {"format": "dltui-network", "version": 1, "layers": old, "input_shape": shape}
    write_npz(path, {"data": net.data.copy()}, {**meta, "seed": 5})
    loaded = Sequential.load(path)
    assert loaded.spec() == net.spec()
    np.testing.assert_array_equal(loaded.data, net.data)


def test_every_alias_names_a_constructor_argument() -> None:
    for kind, aliases in SPEC_ALIASES.items():
        params = constructor_arguments(LAYER_TYPES[kind])
        assert set(aliases.values()) <= set(params), kind
        assert not set(aliases) & set(params), kind


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"type": "Dens", "in_features": 2}, ["'Dens'", "Dense", "Conv2D"]),
        ({"in_features": 2}, ["None", "Dense"]),
        ({"type": "Dense", "in_features": 2}, ["Dense", "'out_features'", "in_features, "]),
        ({"type": "Conv2D", "in_channels": 1, "out_channels": 2}, ["Conv2D", "'kernel_size'"]),
        ({"type": "Dense", "in_features": 2, "out_features": 1, "bias": 0}, ["'bias'", "init"]),
        ({"type": "Residual", "layers": [{"type": "Nope"}]}, ["'Nope'"]),
        ({"type": "Residual", "layers": {"type": "Tanh"}}, ["Residual", "list"]),
        ("Dense", ["'Dense'"]),
    ],
)
def test_bad_specs_name_the_type_the_key_and_the_valid_ones(spec, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        build_layer(spec)
    for word in words:
        assert word in str(err.value)


def test_a_damaged_file_is_a_user_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    meta = {"layers": [{"type": "Dense", "in_features": 3}], "input_shape": [3]}
    write_npz(path, {"data": np.zeros(8)}, meta)
    with pytest.raises(UserError, match="out_features"):
        Sequential.load(path)
