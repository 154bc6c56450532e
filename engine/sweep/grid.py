"""The points of a sweep: grids of values, random draws and seeds, each checked before a run.

A grid names a key of the config as ``section.key`` and the values to try::

    train.lr=0.001,0.01,0.1         numbers, as TOML writes them
    train.optimizer=sgd,adam        strings, bare or quoted
    model.hidden=8x8,16x16,[32, 32] a list key takes 8x8 or 8-8 (or TOML's [8, 8]); 8 is [8]
    data.noise=0.05,0.1             a data set's option

A random search draws ``n`` points from distributions, ``loguniform(a,b)``, ``uniform(a,b)`` or
``choice(a,b,c)``, with a fixed generator (the same command draws the same points). Points are
every combination of the grid's values, crossed with every draw, crossed with the seeds: with
``seeds`` K above 1, ``train.seed`` takes 0 … K-1; with one seed the config's own is kept.
Every point's experiment is made (``Experiment.replace``) before anything runs, so a wrong key
or value stops the sweep at once with a message naming it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.sections import SECTIONS
from engine.sweep.point import Point

SEED_KEY = "train.seed"
DISTRIBUTIONS = ("loguniform", "uniform", "choice")
RANDOM_SEED = 0  # the generator of random draws: the same command draws the same points
NAME_MAX = 100  # a point's folder name is cut to this many characters
_GRID_EXAMPLE = "e.g. --grid train.lr=0.001,0.01,0.1"


# ---------------------------------------------------------------------- reading text
def parse_grid(specs: Sequence[str], base: Experiment) -> dict[str, list[Any]]:
    """``["train.lr=0.1,0.01", ...]`` as ``{"train.lr": [0.1, 0.01], ...}``.

    Raises:
        UserError: naming the spec, for one without ``=``, without values, with an unknown key
            or a key given twice.
    """
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        key, text = _split_spec(spec, "--grid", _GRID_EXAMPLE)
        check_key(key, base, f"--grid {spec}")
        if key in grid:
            raise UserError(f"--grid {key} is given twice", "put all its values in one --grid")
        items = split_top_level(text)
        if not items or any(not item.strip() for item in items):
            raise UserError(
                f"--grid {spec}: a value is missing",
                f"separate values with commas, {_GRID_EXAMPLE}",
            )
        grid[key] = [parse_value(item, key, base) for item in items]
    return grid


def parse_distributions(specs: Sequence[str], base: Experiment) -> dict[str, str]:
    """``["train.lr=loguniform(1e-4,1)"]`` as ``{"train.lr": "loguniform(0.0001, 1)"}``,
    each one checked (its name, the number and order of its arguments)."""
    out: dict[str, str] = {}
    example = "e.g. --dist 'train.lr=loguniform(1e-4,1)'"
    for spec in specs:
        key, text = _split_spec(spec, "--dist", example)
        check_key(key, base, f"--dist {spec}")
        if key in out:
            raise UserError(f"--dist {key} is given twice", "give each key one distribution")
        out[key] = _dist_text(*read_distribution(text, key, base))
    return out


def _split_spec(spec: str, option: str, example: str) -> tuple[str, str]:
    key, sep, text = spec.partition("=")
    if not sep or not key.strip():
        raise UserError(f"{option} {spec!r} is not KEY=VALUES", example)
    return key.strip(), text.strip()


def check_key(key: str, base: Experiment, where: str) -> None:
    """A key is ``section.key`` of a known section; the model's and training's keys must exist
    (a data set's options are checked when the point's experiment is made)."""
    section, dot, name = key.partition(".")
    if not dot or not name or section not in SECTIONS:
        raise UserError(
            f"{where}: {key!r} is not a config key",
            f"write section.key with a section of {', '.join(SECTIONS)}, {_GRID_EXAMPLE}",
        )
    if section == "data":
        return
    fields = [f.name for f in dataclasses.fields(SECTIONS[section])]
    if name not in fields:
        raise UserError(
            f"{where}: [{section}] has no key {name!r}",
            f"the keys of [{section}] are {', '.join(fields)}",
        )


def split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts] if text.strip() else []


def parse_value(text: str, key: str, base: Experiment) -> Any:
    """One value as TOML reads a scalar; a bare word is a string, and a list key (such as
    ``model.hidden``) takes ``8x8``, ``8-8``, ``[8, 8]`` or ``8``."""
    text = text.strip()
    if _is_list_key(key, base) and re.fullmatch(r"\d+([x-]\d+)*", text):
        return [int(n) for n in re.split(r"[x-]", text)]
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        if re.search(r"[\"'\[\]{}=]", text):
            raise UserError(
                f"{key}: {text!r} is not a value",
                "write a number, true/false, a word, or a quoted string",
            ) from None
        return text
    if _is_list_key(key, base) and isinstance(value, int) and not isinstance(value, bool):
        return [value]
    return value


def _is_list_key(key: str, base: Experiment) -> bool:
    section, _, name = key.partition(".")
    return isinstance(base.to_dict().get(section, {}).get(name), list)


# ---------------------------------------------------------------------- random draws
def read_distribution(text: str, key: str, base: Experiment) -> tuple[str, list[Any]]:
    """``loguniform(1e-4,1)`` as ``("loguniform", [0.0001, 1.0])``, its arguments checked."""
    hint = "write loguniform(a,b), uniform(a,b) or choice(v1,v2,...), e.g. loguniform(1e-4,1)"
    match = re.fullmatch(r"\s*(\w+)\s*\((.*)\)\s*", text)
    if match is None or match.group(1) not in DISTRIBUTIONS:
        raise UserError(f"--dist {key}={text}: not a distribution", hint)
    kind, inner = match.group(1), split_top_level(match.group(2))
    if kind == "choice":
        if not inner:
            raise UserError(f"--dist {key}={text}: choice of nothing", hint)
        return kind, [parse_value(item, key, base) for item in inner]
    try:
        low, high = (float(tomllib.loads(f"v = {item}")["v"]) for item in inner)
    except (ValueError, TypeError, tomllib.TOMLDecodeError):
        raise UserError(f"--dist {key}={text}: {kind} takes two numbers", hint) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise UserError(f"--dist {key}={text}: the bounds must be finite, low < high", hint)
    if kind == "loguniform" and low <= 0:
        raise UserError(f"--dist {key}={text}: loguniform needs bounds above 0", hint)
    return kind, [low, high]


def _dist_text(kind: str, args: list[Any]) -> str:
    return f"{kind}({', '.join(repr(a) if isinstance(a, str) else str(a) for a in args)})"


def draw(dists: Mapping[str, str], n: int, base: Experiment) -> list[dict[str, Any]]:
    """``n`` draws of every distribution, from a generator seeded with RANDOM_SEED; numbers are
    rounded to four significant digits (readable names, and the same value in every file)."""
    rng = np.random.default_rng(RANDOM_SEED)
    parsed = {key: read_distribution(text, key, base) for key, text in dists.items()}
    out = []
    for _ in range(n):
        values: dict[str, Any] = {}
        for key, (kind, args) in parsed.items():
            if kind == "choice":
                values[key] = args[int(rng.integers(len(args)))]
            elif kind == "uniform":
                values[key] = float(f"{rng.uniform(args[0], args[1]):.4g}")
            else:
                x = math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))
                values[key] = float(f"{x:.4g}")
        out.append(values)
    return out


# ---------------------------------------------------------------------- points
def make_points(
    base: Experiment,
    grid: Mapping[str, Sequence[Any]],
    seeds: int = 1,
    random: Mapping[str, Any] | None = None,
) -> list[tuple[Point, Experiment]]:
    """Every point with its experiment, made and checked before anything runs.

    ``random`` is ``{"n": N, KEY: "loguniform(a,b)", ...}`` (or None). Raises UserError naming
    the key and the fix for a key or value that the experiment refuses.
    """
    dists = {k: str(v) for k, v in (random or {}).items() if k != "n"}
    n_random = int((random or {}).get("n", 0))
    _check_shape(base, grid, seeds, dists, n_random)
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    draws = draw(dists, n_random, base) if n_random else [{}]
    seed_values = [{SEED_KEY: s} for s in range(seeds)] if seeds > 1 else [{}]
    points = []
    for i, (combo, drawn, seed) in enumerate(itertools.product(combos, draws, seed_values)):
        values = {**combo, **drawn, **seed}
        pid = f"p{i:03d}"
        point = Point(pid, values, point_name(pid, values))
        points.append((point, experiment_for(base, values)))
    return points


def _check_shape(
    base: Experiment,
    grid: Mapping[str, Sequence[Any]],
    seeds: int,
    dists: Mapping[str, str],
    n_random: int,
) -> None:
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"seeds {seeds!r} is not a positive whole number", "e.g. --seeds 3")
    for key, values in grid.items():
        check_key(key, base, f"grid {key}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise UserError(f"grid {key}: no list of values", f"give some, {_GRID_EXAMPLE}")
    for key in dists:
        check_key(key, base, f"random {key}")
    both = sorted(set(grid) & set(dists))
    if both:
        raise UserError(f"{both[0]} is both in the grid and drawn at random", "keep one of them")
    if seeds > 1 and SEED_KEY in {*grid, *dists}:
        raise UserError(
            f"{SEED_KEY} is swept and --seeds {seeds} is given", "use one way to pick the seeds"
        )
    if dists and n_random < 1:
        raise UserError("distributions given but no number of draws", "add --random N")
    if n_random and not dists:
        raise UserError(
            f"--random {n_random} has no distribution to draw from",
            "add --dist 'train.lr=loguniform(1e-4,1)'",
        )


def experiment_for(base: Experiment, values: Mapping[str, Any]) -> Experiment:
    """``base`` with the point's values, checked; an error names the key and value."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        section, _, name = key.partition(".")
        sections.setdefault(section, {})[name] = value
    try:
        return base.replace(**sections)
    except UserError as exc:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in values.items())
        raise UserError(f"the point {shown}: {exc.message}", exc.hint) from None


def point_name(pid: str, values: Mapping[str, Any]) -> str:
    """A folder name that says the point's values, e.g. ``p003-lr0.01-adam-s1``."""
    parts = [pid]
    for key, value in values.items():
        short = key.rpartition(".")[2]
        if key == SEED_KEY:
            parts.append(f"s{value}")
        elif isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{short}{_show(value)}")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-.")
    return name[:NAME_MAX]


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "x".join(_show(v) for v in value)
    return str(value)
