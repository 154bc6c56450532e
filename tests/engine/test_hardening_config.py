"""Issue 12's config items: every bad structure, size or type is a UserError naming the key.

Each test reproduces what a person could write in a config file; none may end in a traceback,
a signal or a run that silently does something else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import UserError
from engine.experiment import validation
from engine.experiment.config import Experiment
from engine.experiment.presets import get_preset

GB = 10**9


@pytest.fixture
def eight_gb(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with 8 GB free, whatever this one has."""
    monkeypatch.setattr(validation, "available_memory", lambda: 8 * GB)


def refused(preset: str, **sections: dict[str, Any]) -> UserError:
    with pytest.raises(UserError) as caught:
        get_preset(preset).replace(**sections).build()
    return caught.value


# ---------------------------------------------------------------- item 4: structure keys
@pytest.mark.parametrize(
    ("preset", "model", "key"),
    [
        ("lenet-digits", {"kernel_size": 0}, "kernel_size = 0"),
        ("lenet-digits", {"kernel_size": -1}, "kernel_size = -1"),
        ("lenet-digits", {"channels": [0]}, "channels = [0]"),
        ("lenet-digits", {"channels": [4, -2]}, "channels = [4, -2]"),
        ("spiral", {"hidden": [8, 0]}, "hidden = [8, 0]"),
    ],
)
def test_structure_keys_below_one_are_refused_naming_the_key(
    preset: str, model: dict[str, Any], key: str
) -> None:
    err = refused(preset, model=model)
    assert key in err.message and err.hint


def transformer_preset() -> str:
    from engine.experiment.presets import PRESETS

    return next(p for p in PRESETS if get_preset(p).model.kind == "transformer")


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ({"heads": 3, "d_model": 32}, "heads = 3 does not divide d_model = 32"),
        ({"heads": 0}, "heads = 0"),
        ({"d_model": 0}, "d_model = 0"),
        ({"blocks": -1}, "blocks = -1"),
        ({"blocks": 0}, "blocks = 0"),
    ],
)
def test_transformer_sizes_are_checked_before_building(model: dict[str, Any], words: str) -> None:
    err = refused(transformer_preset(), model=model)
    assert words in err.message
    if "heads = 3" in words:
        assert "heads = 2 or 4" in err.hint or "heads =" in err.hint


def test_a_kernel_larger_than_the_image_is_refused() -> None:
    err = refused("lenet-digits", model={"kernel_size": 100})
    assert "kernel_size = 100" in err.message and "kernel_size ≤" in err.hint


def test_a_sequence_longer_than_the_positions_is_refused() -> None:
    err = refused(transformer_preset(), data={"length": 600})
    assert "600 tokens" in err.message and "length ≤ 512" in err.hint


def test_residual_blocks_need_one_width() -> None:
    err = refused("residual-deep", model={"hidden": [8, 4]})
    assert "hidden = [8, 4]" in err.message and "same width" in err.message
    assert "hidden = [8, 8, 8]" in err.hint
    assert "hidden = []" in refused("residual-deep", model={"hidden": []}).message


# ---------------------------------------------------------------- item 5: memory and time
@pytest.mark.parametrize(
    ("preset", "sections"),
    [
        ("spiral", {"model": {"hidden": [1_000_000_000]}}),
        ("spiral", {"model": {"hidden": [10**6, 10**6]}}),
        ("spiral", {"data": {"n": 10**12}}),
        ("lenet-digits", {"model": {"channels": [100_000, 100_000]}}),
    ],
)
def test_what_will_not_fit_is_refused_before_allocating(
    eight_gb: None, preset: str, sections: dict[str, dict[str, Any]]
) -> None:
    err = refused(preset, **sections)
    assert "needs about" in err.message and "8.0 GB free" in err.message
    assert err.hint


def test_a_huge_transformer_is_refused_before_its_tables_are_made(eight_gb: None) -> None:
    err = refused(transformer_preset(), model={"d_model": 10**9, "heads": 1})
    assert "d_model = 1000000000" in err.message and "needs about" in err.message


def test_the_size_check_passes_every_small_preset(eight_gb: None) -> None:
    run = get_preset("spiral").build()
    assert run.net.n_params > 0


def test_the_footprint_counts_parameters_exactly() -> None:
    from engine.experiment import architectures

    run = get_preset("lenet-digits").build()
    shape = run.net.input_shape
    params, total, largest = architectures.footprint(run.net.layers, shape)
    assert params == run.net.data.size and total > largest > run.net.in_features


def test_available_memory_is_a_positive_number_here() -> None:
    have = validation.available_memory()
    assert have is None or have > 0


def test_absurd_epochs_are_refused() -> None:
    err = refused("xor", train={"epochs": 10**20})
    assert "epochs = 100000000000000000000" in err.message and "--resume" in err.hint


def test_a_seed_too_large_for_the_generators_is_refused() -> None:
    assert "seed" in refused("xor", train={"seed": 2**70}).message


# ---------------------------------------------------------------- item 8: nesting
def test_deeply_nested_toml_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("[model]\nhidden = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(UserError, match="nests arrays or tables too deeply"):
        Experiment.from_toml(path)


def test_a_nested_list_where_numbers_belong_is_a_type_error(tmp_path: Path) -> None:
    path = tmp_path / "nested.toml"
    path.write_text("[model]\nhidden = [[8], [8]]\n")
    with pytest.raises(UserError, match="wrong type"):
        Experiment.from_toml(path)


# ---------------------------------------------------------------- item 10: clip_norm
@pytest.mark.parametrize("value", [-1.0, 0.0, float("nan"), float("inf")])
def test_clip_norm_must_be_a_positive_number(value: float) -> None:
    err = refused("spiral", train={"clip_norm": value})
    assert "clip_norm" in err.message and "leave the key out" in err.hint


def test_clip_norm_absent_means_no_clipping_and_a_positive_one_reaches_the_trainer() -> None:
    assert get_preset("spiral").build().trainer.clip_norm is None
    assert get_preset("spiral").replace(train={"clip_norm": 0.5}).build().trainer.clip_norm == 0.5


# ---------------------------------------------------------------- item 12: the smaller ones
def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[model]\nhidden = [3]\n".encode())
    assert Experiment.from_toml(path).model.hidden == [3]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[model]\nhidden = [true]\n", "hidden = [True] has the wrong type"),
        ("[model]\nfreeze = [false]\n", "freeze = [False] has the wrong type"),
        ("[model]\nnew_head = 1\n", "new_head = 1 has the wrong type"),
        ("[train]\npatience = 0\n", "patience = 0"),
        ("[train]\npatience = -1\n", "patience = -1"),
        ("[train]\nlr = nan\n", "lr = nan is not a finite number"),
        ("[train]\nmomentum = inf\n", "momentum = inf is not a finite number"),
        ("[model]\nnew_head = true\n", "new_head = true"),
        ("[model]\nkind = 'residual'\nhidden = [8, 4]\n", "hidden = [8, 4]"),
        ("[model]\nfreeze = [-1]\n", "freeze = [-1]"),
        ("[train]\naugment_shift = -2\n", "augment_shift must not be negative"),
    ],
)
def test_silently_accepted_values_are_now_refused(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as caught:
        Experiment.from_toml(path)
    assert words in caught.value.message and caught.value.hint


def test_a_string_where_a_csv_option_is_a_bool_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("a,b\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    raw: dict[str, dict[str, Any]] = {"data": {"name": f"csv:{table}", "standardize_inputs": "yes"}}
    with pytest.raises(UserError, match="standardize_inputs = 'yes' is not true or false"):
        Experiment.from_dict(raw)
    raw["data"]["standardize_inputs"] = False
    assert Experiment.from_dict(raw).data.options["standardize_inputs"] is False


def test_data_of_the_wrong_type_is_still_a_user_error() -> None:
    for data in (5, [1, 2]):
        with pytest.raises(UserError, match=r"\[data\] must be a table"):
            Experiment.from_dict({"data": data})
