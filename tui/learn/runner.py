"""Plays a lesson: which step is shown, what it still waits for, its quiz, and the progress.

:class:`LessonRunner` knows nothing of Textual or of training threads: the screen hands it each
snapshot (:meth:`LessonRunner.observe`) and each key pressed (:meth:`LessonRunner.press`), asks
it what to draw (:meth:`LessonRunner.waits`) and whether → may move on (:meth:`LessonRunner.met`),
and passes the learner's answers to :meth:`LessonRunner.answer`. Setting up a step's experiment
is the session's (:class:`tui.learn.session.LessonSession`); the runner only says which step's
set-up is due (:meth:`LessonRunner.origin`).

A condition met once stays met while the step is shown (a loss that dipped below the line and
bounced back has shown what it was to show); a step done before (progress) lets → through at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tui.learn.lesson import MAX_TRIES, Lesson, Quiz, Step
from tui.learn.progress import LessonProgress, Progress, QuizRecord
from tui.learn.quiz import answer_text, check, formula_checker_ready
from tui.session.records import Snapshot

ENDED = ("finished", "diverged", "stopped")
"""Snapshot states in which a run has ended."""


@dataclass(frozen=True)
class WaitLine:
    """One condition of a step, with how far it has got: ``epochs 12 / 50``."""

    key: str
    text: str
    met: bool


@dataclass(frozen=True)
class Outcome:
    """What answering a quiz gave.

    Attributes:
        right: the answer was right.
        counted: it counted as a try (an answer that is not one, such as text for a number, does
            not).
        revealed: the right answer is now shown (after ``MAX_TRIES`` wrong ones).
        message: what to tell the learner: the checker's and the quiz's hints, or the
            explanation.
    """

    right: bool
    counted: bool
    revealed: bool
    message: str


@dataclass
class Seen:
    """What the runner has seen of the current run (from snapshots)."""

    generation: int = 0
    step: int = 0
    epochs: int = 0
    loss: float | None = None
    accuracy: float | None = None
    state: str = ""
    grad_ratio: float | None = None


def grad_ratio(norms: tuple[float, ...]) -> float | None:
    """‖∂L/∂θ‖ of the first layer with parameters over the last one's (None if not defined)."""
    if len(norms) < 2 or not norms[-1] > 0 or not all(math.isfinite(n) for n in norms):
        return None
    return norms[0] / norms[-1]


class LessonRunner:
    """A lesson being played, from the step its progress saved.

    Args:
        lesson: the lesson.
        progress: every lesson's progress; this lesson's entry is read and kept up to date,
            and saved after every change when ``save`` is set.
        save: write the progress file after each change (tests of the logic leave it off).
    """

    def __init__(self, lesson: Lesson, progress: Progress, save: bool = True) -> None:
        self.lesson = lesson
        self.progress = progress
        self.save_each = save
        self.record: LessonProgress = progress.lesson(lesson.number)
        ids = lesson.step_ids
        self.index = ids.index(self.record.step) if self.record.step in ids else 0
        self.seen = Seen()
        self.min_generation = 0
        self.waiting = False
        self.keys: set[str] = set()
        self._met: set[str] = set()
        self.message = ""
        """The last quiz outcome's message (cleared on entering a step)."""
        self.enter(self.index)

    # ------------------------------------------------------------------ where we are
    @property
    def step(self) -> Step:
        return self.lesson.steps[self.index]

    @property
    def count(self) -> int:
        return len(self.lesson.steps)

    @property
    def last(self) -> bool:
        return self.index == self.count - 1

    def origin(self, index: int | None = None) -> int:
        """The step whose set-up the run of step ``index`` is: the last one at or before it that
        sets up an experiment or sets weights (the first step always names a preset)."""
        at = self.index if index is None else index
        for i in range(at, -1, -1):
            s = self.lesson.steps[i]
            if s.sets_up or s.weights:
                return i
        return 0

    def enter(self, index: int, fresh: bool = False) -> Step:
        """Shows step ``index``: what it waits for starts afresh, the progress notes it.

        Args:
            fresh: the step starts a new run: snapshots count only from :meth:`started` on
                (until then they may still be the old run's).
        """
        self.index = index
        self.keys.clear()
        self._met.clear()
        self.message = ""
        if fresh:
            self.waiting = True
        self.record.step = self.step.id
        self._save()
        return self.step

    def started(self, generation: int) -> None:
        """The step's run is up: its snapshots (scene ``generation`` on) count for the waits.

        A run that goes on from the step before keeps what was seen of it (its last loss)."""
        self.min_generation, self.waiting = generation, False
        if self.seen.generation != generation:
            self.seen = Seen(generation=generation)
        self._check()

    # ------------------------------------------------------------------ what happens
    def observe(self, snap: Snapshot) -> None:
        """Takes what a snapshot shows; snapshots of runs older than the step's are ignored."""
        scene = snap.scene
        if scene.generation < self.seen.generation:
            return  # a snapshot of a run that has been replaced
        if scene.generation != self.seen.generation:
            self.seen = Seen(generation=scene.generation)
        seen = self.seen
        seen.step = snap.step
        seen.epochs = snap.step // max(snap.per_epoch, 1)
        seen.state = snap.state
        if snap.losses:
            point = snap.losses[-1]
            seen.loss, seen.accuracy = point.train_loss, point.train_acc
        ratio = grad_ratio(snap.layer_norms)
        if ratio is not None and snap.step > 0:
            seen.grad_ratio = ratio
        self._check()

    def press(self, key: str) -> None:
        """A key the learner pressed on the main screen."""
        self.keys.add(key)
        self._check()

    @property
    def counting(self) -> bool:
        """Whether what is seen is the step's run (not the one before its set-up was done)."""
        return not self.waiting and self.seen.generation >= self.min_generation

    def _check(self) -> None:
        for line in self._lines():
            if line.met:
                self._met.add(line.key)
        if self.met and self.step.id not in self.record.done_steps:
            self.record.done_steps.append(self.step.id)
            if all(i in self.record.done_steps for i in self.lesson.step_ids):
                self.record.done = True
            self._save()

    # ------------------------------------------------------------------ what it waits for
    def _lines(self) -> list[WaitLine]:
        wait, seen = self.step.wait, self.seen if self.counting else Seen()
        lines = []
        if wait.epochs is not None:
            done = min(seen.epochs, wait.epochs)
            lines.append(WaitLine("epochs", f"epochs {done} / {wait.epochs}", done >= wait.epochs))
        if wait.steps is not None:
            done = min(seen.step, wait.steps)
            lines.append(WaitLine("steps", f"steps {done} / {wait.steps}", done >= wait.steps))
        if wait.loss_below is not None:
            now = "—" if seen.loss is None else f"{seen.loss:.3g}"
            met = seen.loss is not None and seen.loss < wait.loss_below
            lines.append(WaitLine("loss", f"loss {now} → below {wait.loss_below:g}", met))
        if wait.accuracy_at_least is not None:
            now = "—" if seen.accuracy is None else f"{seen.accuracy:.1%}"
            met = seen.accuracy is not None and seen.accuracy >= wait.accuracy_at_least
            goal = f"{wait.accuracy_at_least:.1%}"
            lines.append(WaitLine("accuracy", f"accuracy {now} → at least {goal}", met))
        if wait.finished:
            met = seen.state in ENDED
            text = f"the run ends ({seen.state})" if met else "the run ends (its epochs done)"
            lines.append(WaitLine("finished", text, met))
        if wait.grad_ratio_below is not None:
            r = seen.grad_ratio
            now = "—" if r is None else f"{r:.2g}"
            met = r is not None and r < wait.grad_ratio_below
            text = f"gradient ratio first/last {now} → below {wait.grad_ratio_below:g}"
            lines.append(WaitLine("grad_ratio", text, met))
        if wait.key is not None:
            lines.append(WaitLine("key", f"press {wait.key}", wait.key in self.keys))
        quiz = self.step.quiz
        if quiz is not None:
            rec = self.quiz_record
            # a formula that cannot be checked here must not hold the lesson up
            unchecked = quiz.kind == "formula" and not formula_checker_ready()
            met = unchecked or (rec is not None and rec.settled)
            lines.append(WaitLine("quiz", "answer the question", met))
        return lines

    def waits(self) -> list[WaitLine]:
        """The step's conditions, each with its progress; one met before counts as met."""
        return [
            WaitLine(line.key, line.text, line.met or line.key in self._met)
            for line in self._lines()
        ]

    @property
    def met(self) -> bool:
        """Whether → may move on: every condition met (or the step done on an earlier visit)."""
        if self.step.id in self.record.done_steps:
            return True
        return all(line.met for line in self.waits())

    def awaited(self) -> str:
        """What is still awaited, in one line ("" when nothing)."""
        if self.met:
            return ""
        return "; ".join(line.text for line in self.waits() if not line.met)

    # ------------------------------------------------------------------ moving
    def forward(self) -> bool:
        """Whether → may move to the next step now (the screen then sets it up and enters it)."""
        return self.met and not self.last

    def finish(self) -> bool:
        """On the last step with its wait met: the lesson is done (saved). Returns whether."""
        if not (self.last and self.met):
            return False
        self.record.done = True
        self._save()
        return True

    # ------------------------------------------------------------------ quiz
    @property
    def quiz(self) -> Quiz | None:
        return self.step.quiz

    @property
    def quiz_record(self) -> QuizRecord | None:
        return self.record.quiz.get(self.step.id) if self.step.quiz else None

    def answer(self, typed: str) -> Outcome:
        """Checks an answer to the step's quiz, records it and says what to tell the learner.

        Raises:
            ValueError: when the step has no quiz.
        """
        quiz = self.step.quiz
        if quiz is None:
            raise ValueError(f"step {self.step.id!r} has no quiz")
        rec = self.record.quiz.setdefault(self.step.id, QuizRecord())
        if rec.settled:  # answered already: say so again, count nothing
            return Outcome(rec.right, False, rec.revealed, self._settled_text(quiz, rec))
        verdict = check(quiz, typed)
        if not verdict.counted:
            self.message = verdict.message
            return Outcome(False, False, False, verdict.message)
        rec.typed.append(typed.strip())
        rec.tries += 1
        rec.right = verdict.right
        if verdict.right:
            message = "Right. " + quiz.explain if quiz.explain else "Right."
        elif rec.tries >= MAX_TRIES:
            rec.revealed = True
            message = self._settled_text(quiz, rec)
        else:
            hints = [h for h in (verdict.message, quiz.hint) if h]
            left = MAX_TRIES - rec.tries
            more = f"{left} more {'try' if left == 1 else 'tries'} before the answer is shown."
            message = "Not quite. " + " ".join(hints) + " " + more
        self.message = message.strip()
        self._check()
        self._save()
        return Outcome(verdict.right, True, rec.revealed, self.message)

    @staticmethod
    def _settled_text(quiz: Quiz, rec: QuizRecord) -> str:
        if rec.right:
            return ("Right. " + quiz.explain).strip()
        return f"The answer: {answer_text(quiz)}. {quiz.explain}".strip()

    # ------------------------------------------------------------------ saving
    def _save(self) -> None:
        if self.save_each:
            try:
                self.progress.save()
            except OSError as exc:  # a read-only home must not end the lesson
                self.progress.warning = f"Progress not saved: {exc}"
