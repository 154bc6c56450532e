"""Lessons as data: the file format of the course, read and checked.

Each lesson is a TOML file in ``tui/learn/lessons``, named ``NN-slug.toml`` (``NN`` its number).
A lesson has a title, a line on what it teaches, and 4–10 steps; a step may set up an
experiment, says what to do or watch, and may wait for something before the next step is
offered::

    title = "One neuron"
    teaches = "z = w·x + b, then an activation"

    [[step]]
    id = "meet"                  # unique in the lesson: progress and tests name steps by it
    title = "A neuron draws a line"
    text = \"\"\"What the learner reads: plain, short paragraphs.\"\"\"
    preset = "gaussians"         # start from a preset (else: keep the previous experiment)
    label = "lr 0.5"             # this run's label on the loss plot (default: what changed)
    keep_runs = true             # keep earlier runs on the plot (false: clear them first)
    weights = { "0.W" = [[1.0, -1.0]], "0.b" = [0.0] }   # parameters set by hand
    view = "boundary"            # the view to show (a registered view's name)
    select = "0.W[0,0]"          # the selected weight (chain-rule panel, derivation)
    paused = false               # open the run paused
    pace = 20.0                  # steps per second (0: full speed; absent: the app's default)
    plot = "epochs"              # "epochs" or "steps" (the loss of every mini-batch)

    [step.config]                # changes to the experiment: any key of [data] [model] [train]
    model.hidden = []
    train.lr = 0.5
    model.init_from = "net.npz"  # a relative path names a file beside the lesson file

    [step.wait]                  # all optional; a step waits for every condition given
    epochs = 50                  # at least this many epochs trained
    steps = 200                  # at least this many mini-batches
    loss_below = 0.1             # the last epoch's training loss below this
    accuracy_at_least = 1.0      # the last epoch's training accuracy at least this
    finished = true              # the run ended (epochs done, early stopping, divergence)
    key = "d"                    # the learner pressed this key
    grad_ratio_below = 1e-3      # first layer's ‖∂L/∂θ‖ over the last layer's, below this

    [step.quiz]                  # the step also waits for this to be answered (or revealed)
    kind = "choice"              # "choice" | "number" | "formula"
    question = "Which …?"
    choices = ["…", "…"]         # choice: the options, answer = index of the right one
    answer = 1
    # number:  answer = 0.25, tolerance = 0.01 (absolute)
    # formula: answer = "(yhat - y)*x", variables = ["yhat", "y", "x"]
    hint = "shown after a wrong answer"
    explain = "shown once the answer is right or revealed"

Every key is checked when the lesson is read: an unknown key, a wrong type, a config change the
experiment refuses, a view that does not exist — each is a ``UserError`` naming the file, the
step and the key. A lesson that loads is a lesson that runs.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.experiment.config import Experiment
from engine.experiment.presets import PRESETS, get_preset

LESSONS_DIR = Path(__file__).with_name("lessons")
FILE_NAME = re.compile(r"^(\d\d)-([a-z0-9-]+)\.toml$")
MIN_STEPS, MAX_STEPS = 4, 10
QUIZ_KINDS = ("choice", "number", "formula")
PLOTS = ("epochs", "steps")
MAX_TRIES = 3
"""Wrong answers after which a quiz shows its answer, so no learner is stuck."""

WAIT_KEYS: dict[str, type | tuple[type, ...]] = {
    "epochs": int,
    "steps": int,
    "loss_below": (int, float),
    "accuracy_at_least": (int, float),
    "finished": bool,
    "key": str,
    "grad_ratio_below": (int, float),
}
STEP_KEYS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "title": str,
    "text": str,
    "preset": str,
    "config": dict,
    "label": str,
    "keep_runs": bool,
    "weights": dict,
    "view": str,
    "select": str,
    "paused": bool,
    "pace": (int, float),
    "plot": str,
    "wait": dict,
    "quiz": dict,
}
QUIZ_KEYS: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "question": str,
    "choices": list,
    "answer": (int, float, str),
    "tolerance": (int, float),
    "variables": list,
    "hint": str,
    "explain": str,
}
LESSON_KEYS: dict[str, type | tuple[type, ...]] = {"title": str, "teaches": str, "step": list}


@dataclass(frozen=True)
class Wait:
    """What a step waits for before it offers the next one (every condition given must hold)."""

    epochs: int | None = None
    steps: int | None = None
    loss_below: float | None = None
    accuracy_at_least: float | None = None
    finished: bool = False
    key: str | None = None
    grad_ratio_below: float | None = None

    @property
    def empty(self) -> bool:
        """Whether the step waits for nothing (besides a quiz, if it has one)."""
        return self == Wait()


@dataclass(frozen=True)
class Quiz:
    """A question: multiple choice, a number within a tolerance, or a formula typed as text."""

    kind: str
    question: str
    answer: int | float | str
    choices: tuple[str, ...] = ()
    tolerance: float = 0.0
    variables: tuple[str, ...] = ()
    hint: str = ""
    explain: str = ""


@dataclass(frozen=True)
class Step:
    """One step of a lesson; see the module's docstring for what each field does."""

    id: str
    title: str
    text: str
    preset: str | None = None
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    label: str | None = None
    keep_runs: bool = True
    weights: Mapping[str, Any] = field(default_factory=dict)
    view: str | None = None
    select: str | None = None
    paused: bool = False
    pace: float | None = None
    plot: str | None = None
    wait: Wait = field(default_factory=Wait)
    quiz: Quiz | None = None

    @property
    def sets_up(self) -> bool:
        """Whether the step starts a new run (a preset or config changes)."""
        return self.preset is not None or bool(self.config)


@dataclass(frozen=True)
class Lesson:
    """A lesson of the course: its number, title, what it teaches and its steps."""

    number: int
    slug: str
    title: str
    teaches: str
    steps: tuple[Step, ...]
    path: Path

    def index(self, step_id: str) -> int:
        """The position of the step called ``step_id``.

        Raises:
            KeyError: naming the lesson's step ids.
        """
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        raise KeyError(f"lesson {self.number} has no step {step_id!r}; steps: {self.step_ids}")

    @property
    def step_ids(self) -> list[str]:
        return [s.id for s in self.steps]

    def experiment_at(self, step: int | str) -> Experiment:
        """The experiment that step ``step`` (an index or id) runs: the last preset at or before
        it, with every config change of the steps from that preset to this one applied in order.

        Raises:
            ValueError: when no step up to this one sets a preset.
        """
        stop = self.index(step) if isinstance(step, str) else step
        start = next((i for i in range(stop, -1, -1) if self.steps[i].preset), None)
        if start is None:
            raise ValueError(f"lesson {self.number}: no step up to {stop} names a preset")
        exp = get_preset(str(self.steps[start].preset))
        for s in self.steps[start : stop + 1]:
            if s.config:
                exp = exp.replace(**{k: dict(v) for k, v in s.config.items()})
        source = exp.model.init_from
        if source and not Path(source).is_absolute():  # a network shipped beside the lesson
            exp = exp.replace(model={"init_from": str((self.path.parent / source).absolute())})
        return exp

    def weights_at(self, step: int | str) -> Mapping[str, Any]:
        """The parameters set by hand for the run of step ``step``: those of the step that
        started that run (the last step at or before it that sets up an experiment)."""
        stop = self.index(step) if isinstance(step, str) else step
        for i in range(stop, -1, -1):
            s = self.steps[i]
            if s.weights:
                return s.weights
            if s.sets_up:
                return {}
        return {}


# ---------------------------------------------------------------------- reading
def load_lessons(directory: Path = LESSONS_DIR) -> list[Lesson]:
    """Every lesson in ``directory``, by number.

    Raises:
        UserError: for a lesson file that does not parse or check, or two with one number.
    """
    lessons: list[Lesson] = []
    for path in sorted(directory.glob("*.toml")):
        lessons.append(load_lesson(path))
    numbers = [lesson.number for lesson in lessons]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    if twice:
        raise UserError(
            f"{directory}: two lesson files are numbered {twice[0]:02d}",
            "give each lesson file its own NN- prefix",
        )
    return lessons


@cache
def course() -> tuple[Lesson, ...]:
    """The lessons shipped with dltui, read once."""
    return tuple(load_lessons())


def find_lesson(number: int) -> Lesson:
    """Lesson ``number`` of the course.

    Raises:
        UserError: when there is no such lesson, naming the valid numbers.
    """
    lessons = course()
    for lesson in lessons:
        if lesson.number == number:
            return lesson
    first, last = lessons[0].number, lessons[-1].number
    raise UserError(f"there is no lesson {number}", f"choose a lesson from {first} to {last}")


def load_lesson(path: Path) -> Lesson:
    """One lesson file, read and checked.

    Raises:
        UserError: naming the file, the step and the key at fault.
    """
    match = FILE_NAME.match(path.name)
    if match is None:
        raise UserError(
            f"lesson file {path.name!r} is not named NN-slug.toml",
            "name it by its number and a short slug, e.g. 01-one-neuron.toml",
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"lesson file {path} cannot be read: {exc}", "check the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"lesson file {path} is not valid TOML: {exc}", "fix that line") from None
    where = path.name
    _check_keys(raw, LESSON_KEYS, where)
    for key in ("title", "teaches"):
        if not str(raw.get(key, "")).strip():
            raise UserError(f"{where}: {key} is missing", f'add {key} = "…" at the top')
    raw_steps = raw.get("step", [])
    if not MIN_STEPS <= len(raw_steps) <= MAX_STEPS:
        raise UserError(
            f"{where}: has {len(raw_steps)} steps",
            f"a lesson has {MIN_STEPS} to {MAX_STEPS} [[step]] tables",
        )
    steps = tuple(_step(s, i, where) for i, s in enumerate(raw_steps))
    ids = [s.id for s in steps]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise UserError(f"{where}: two steps have id {twice[0]!r}", "give each step its own id")
    lesson = Lesson(int(match[1]), match[2], raw["title"], raw["teaches"], steps, path)
    _check_experiments(lesson)
    return lesson


def _check_keys(raw: Any, allowed: Mapping[str, type | tuple[type, ...]], where: str) -> None:
    if not isinstance(raw, dict):
        raise UserError(f"{where} must be a table, not {raw!r}", "see tui/learn/lesson.py")
    for key, value in raw.items():
        kind = allowed.get(key)
        if kind is None:
            raise UserError(f"{where}: unknown key {key!r}", f"valid keys: {', '.join(allowed)}")
        bad_bool = isinstance(value, bool) and kind is not bool
        if not isinstance(value, kind) or bad_bool:
            names = kind if isinstance(kind, tuple) else (kind,)
            expected = " or ".join(t.__name__ for t in names)
            message = f"{where}: {key} = {value!r} is not a {expected}"
            raise UserError(message, f"write a {expected}")


def _step(raw: Any, index: int, lesson: str) -> Step:
    where = f"{lesson} step {index + 1}"
    _check_keys(raw, STEP_KEYS, where)
    for key in ("id", "title", "text"):
        if not str(raw.get(key, "")).strip():
            raise UserError(f"{where}: {key} is missing", f'add {key} = "…" to the step')
    where = f"{lesson} step {raw['id']!r}"
    preset = raw.get("preset")
    if preset is not None and preset not in PRESETS:
        raise UserError(f"{where}: unknown preset {preset!r}", f"presets: {', '.join(PRESETS)}")
    config = raw.get("config", {})
    for section, changes in config.items():
        if section not in ("data", "model", "train") or not isinstance(changes, dict):
            raise UserError(
                f"{where}: config.{section} is not a config section",
                "write config.data.KEY, config.model.KEY or config.train.KEY",
            )
    plot = raw.get("plot")
    if plot is not None and plot not in PLOTS:
        raise UserError(f"{where}: plot = {plot!r}", f"plot is one of {', '.join(PLOTS)}")
    pace = raw.get("pace")
    if pace is not None and (pace < 0 or not math.isfinite(pace)):
        raise UserError(f"{where}: pace = {pace!r}", "use steps per second ≥ 0 (0: full speed)")
    view = raw.get("view")
    if view is not None:
        _check_view(view, where)
    wait = raw.get("wait", {})
    _check_keys(wait, WAIT_KEYS, f"{where} wait")
    for key in ("epochs", "steps"):
        if key in wait and wait[key] < 1:
            raise UserError(f"{where}: wait.{key} = {wait[key]}", "wait for at least 1")
    quiz = _quiz(raw["quiz"], f"{where} quiz") if "quiz" in raw else None
    return Step(
        id=raw["id"],
        title=raw["title"],
        text=raw["text"].strip(),
        preset=preset,
        config={k: dict(v) for k, v in config.items()},
        label=raw.get("label"),
        keep_runs=raw.get("keep_runs", True),
        weights=dict(raw.get("weights", {})),
        view=view,
        select=raw.get("select"),
        paused=raw.get("paused", False),
        pace=None if pace is None else float(pace),
        plot=plot,
        wait=Wait(**wait),
        quiz=quiz,
    )


def _quiz(raw: Any, where: str) -> Quiz:
    _check_keys(raw, QUIZ_KEYS, where)
    kind, question = raw.get("kind"), str(raw.get("question", "")).strip()
    if kind not in QUIZ_KINDS:
        raise UserError(f"{where}: kind = {kind!r}", f"kind is one of {', '.join(QUIZ_KINDS)}")
    if not question:
        raise UserError(f"{where}: question is missing", 'add question = "…"')
    if "answer" not in raw:
        raise UserError(f"{where}: answer is missing", "add the right answer")
    answer = raw["answer"]
    choices: Sequence[Any] = raw.get("choices", [])
    variables: Sequence[Any] = raw.get("variables", [])
    tolerance = float(raw.get("tolerance", 0.0))
    if kind == "choice":
        if len(choices) < 2 or not all(isinstance(c, str) and c.strip() for c in choices):
            raise UserError(f"{where}: choices", "give at least two choices, each a string")
        if not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise UserError(
                f"{where}: answer = {answer!r}",
                f"answer is the index (0 to {len(choices) - 1}) of the right choice",
            )
    elif kind == "number":
        if isinstance(answer, str) or not math.isfinite(answer):
            raise UserError(f"{where}: answer = {answer!r} is not a number", "write a number")
        if not tolerance > 0:
            raise UserError(f"{where}: tolerance is missing", "add tolerance = (a number > 0)")
    else:
        if not isinstance(answer, str) or not variables:
            raise UserError(
                f"{where}: a formula quiz needs answer (text) and variables",
                'e.g. answer = "(yhat - y)*x", variables = ["yhat", "y", "x"]',
            )
        if not all(isinstance(v, str) and v.isidentifier() for v in variables):
            raise UserError(f"{where}: variables = {variables!r}", "list names such as x, yhat")
    return Quiz(
        kind=kind,
        question=question,
        answer=answer,
        choices=tuple(choices),
        tolerance=tolerance,
        variables=tuple(variables),
        hint=str(raw.get("hint", "")).strip(),
        explain=str(raw.get("explain", "")).strip(),
    )


def _check_view(name: str, where: str) -> None:
    from tui.session.views import views  # the declarations import widgets: only when needed

    known = views()
    if name not in known:
        raise UserError(f"{where}: unknown view {name!r}", f"views: {', '.join(known)}")


def _check_experiments(lesson: Lesson) -> None:
    """Every step's experiment must build from its preset and changes (the config checks run)."""
    where = lesson.path.name
    if not lesson.steps[0].preset:
        raise UserError(f"{where}: the first step names no preset", 'add preset = "…" to it')
    for i, step in enumerate(lesson.steps):
        if step.config:
            try:
                lesson.experiment_at(i)
            except UserError as exc:
                raise UserError(f"{where} step {step.id!r}: {exc.message}", exc.hint) from None
