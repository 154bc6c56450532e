"""Property: a preset's config with a few random mistakes trains a step or says what is wrong.

Each example takes a preset's config as plain data (what a TOML file parses to), applies one to
three mutations — odd values, huge numbers, wrong types, deleted, added or misspelt keys,
sections replaced by scalars — and runs it through what ``dltui train`` does to start a run:
:meth:`Experiment.from_dict` (``from_toml``'s reader), :meth:`Experiment.build`, then one
training step. The only failure allowed is a :class:`UserError` (exit code 2); the loss may
diverge (exit code 1). Memory is capped at 2 GB, so the size check must refuse huge configs
before they are allocated.

``DLTUI_FUZZ_EXAMPLES=5000 pytest tests/engine/test_config_fuzz.py`` runs more examples.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import UserError, datasets, optim
from engine.datasets.registry import records
from engine.events import Diverged, Step
from engine.experiment import architectures, validation
from engine.experiment.config import Experiment
from engine.experiment.presets import _RAW, PRESETS
from engine.layers import config_choices
from engine.losses import LOSSES

EXAMPLES = int(os.environ.get("DLTUI_FUZZ_EXAMPLES", "400"))
MEMORY_CAP = 2 * 10**9

OFFLINE = [
    p for p in PRESETS if not getattr(datasets.lookup(_RAW[p]["data"]["name"]), "downloads", False)
]

ODD_VALUES: list[Any] = [
    0, 1, -1, 2, 3, 7, 100, 10**6, 10**9, 10**12, 10**18, 2**64, -(10**9),
    0.0, 0.5, -0.5, 1e-30, 1e308, -1e308, math.nan, math.inf, -math.inf,
    True, False, None, "", "yes", "full", "auto", "tanh", "cuda", "float64", "csv:",
    "csv:/nonexistent.csv", "spiral", "text", "\u00e9\u0000", "x" * 300,
    [], [0], [-1], [True], [1.5], [8, 4], [10**6, 10**6], [10**9], [[1]], ["a"], {"a": 1}, {},
]  # fmt: skip
PLAUSIBLE: list[Any] = [
    *architectures.KINDS, *config_choices(), *optim.OPTIMIZERS, *LOSSES,
    *(r.name for r in records() if not r.downloads),
    "step", 1, 4, 5, 16, [1], [3, 3], [2, 2, 2], 0.1, 0.9,
]  # fmt: skip
"""Values that are right somewhere, so that a mutation gets past the first check."""
SECTIONS = ("data", "model", "train")


def _keys(raw: dict[str, Any]) -> list[tuple[str | None, str]]:
    """Every (section, key) of ``raw``; (None, key) for top-level keys."""
    out: list[tuple[str | None, str]] = [(None, k) for k in raw if not isinstance(raw[k], dict)]
    for section in SECTIONS:
        table = raw.get(section)
        if isinstance(table, dict):
            out += [(section, k) for k in table]
    return out


def _known_keys() -> list[str]:
    from engine.experiment.sections import SECTIONS as CLASSES

    names = {"name", "n", "noise", "length", "n_train", "seed", "standardize_inputs"}
    for cls in CLASSES.values():
        names |= {f.name for f in dataclasses.fields(cls)}
    return sorted(names)


KNOWN_KEYS = _known_keys()


@st.composite
def mutation(draw: st.DrawFn, raw: dict[str, Any]) -> None:
    """Changes ``raw`` in place in one way a person (or a damaged file) might."""
    kind = draw(st.sampled_from(["set", "set", "set", "delete", "add", "misspell", "scalar"]))
    keys = _keys(raw)
    if kind == "scalar" or not keys:
        raw[draw(st.sampled_from(SECTIONS))] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        return
    section, key = draw(st.sampled_from(keys))
    table = raw if section is None else raw[section]
    if kind == "set":
        values = draw(st.sampled_from([ODD_VALUES, PLAUSIBLE]))
        table[key] = copy.deepcopy(draw(st.sampled_from(values)))
    elif kind == "delete":
        del table[key]
    elif kind == "misspell":
        cut = draw(st.integers(0, max(0, len(key) - 1)))
        table[key[:cut] + key[cut + 1 :] or "x"] = table.pop(key)
    else:
        target = raw if section is None else raw[draw(st.sampled_from(SECTIONS))]
        if isinstance(target, dict):
            new = draw(st.sampled_from(KNOWN_KEYS))
            target[new] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))


@st.composite
def mutated_config(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(OFFLINE))
    raw = copy.deepcopy({"name": name, **_RAW[name]})
    for _ in range(draw(st.integers(1, 3))):
        draw(mutation(raw))
    return name, raw


def start_and_step(raw: dict[str, Any], tmp: Path) -> None:
    """What ``dltui train CONFIG`` does before its run folder exists, then one training step."""
    experiment = Experiment.from_dict(raw, "fuzzed.toml")
    saved = tmp / "config.toml"  # the run folder keeps the config; it must read back
    saved.write_text(experiment.to_toml(), encoding="utf-8")
    assert Experiment.from_toml(saved).to_dict() == experiment.to_dict()
    run = experiment.build()
    data = run.data  # a few samples: the step, not the data set's size, is under test
    X, y = data.X_train[:64], data.y_train[:64]
    events = run.trainer.run(X, y, 1, val=(data.X_test[:16], data.y_test[:16]))
    try:
        for event in events:
            if isinstance(event, Step | Diverged):
                break
    finally:
        events.close()


@pytest.fixture(scope="module")
def capped_memory() -> Any:
    """Nothing a fuzzed config asks for may exceed 2 GB (or what this machine has)."""
    real = validation.available_memory
    have = real()
    mp = pytest.MonkeyPatch()
    mp.setattr(validation, "available_memory", lambda: min(have or MEMORY_CAP, MEMORY_CAP))
    yield
    mp.undo()


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=mutated_config())
def test_a_mutated_preset_trains_a_step_or_raises_a_user_error(
    capped_memory: None, tmp_path: Path, case: tuple[str, dict[str, Any]]
) -> None:
    _, raw = case
    try:
        start_and_step(raw, tmp_path)
    except UserError as exc:
        assert exc.exit_code == 2 and exc.message


def test_every_offline_preset_is_fuzzed() -> None:
    assert len(OFFLINE) >= len(PRESETS) - 3 and "spiral" in OFFLINE
