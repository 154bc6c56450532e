"""Checking a quiz's answer: a choice, a number within its tolerance, or a formula.

A formula is checked by ``derive.formula.check_formula`` (a whitelist parser and SymPy; never
``eval``), loaded the first time one is answered. Input that is no answer at all (a word where
a number goes, a choice out of range) is refused without counting as a try.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import UserError
from tui.learn.lesson import Quiz

UNREAD = ("unknown_name", "implicit_multiplication", "syntax", "too_big")
"""The formula checker's verdicts on text it could not read: they do not count as a try."""


@dataclass(frozen=True)
class Verdict:
    """What an answer is worth: ``right``; ``counted`` False for input that is no answer;
    ``message`` the checker's hint (for a formula: what the slip looks like)."""

    right: bool
    counted: bool = True
    message: str = ""


def answer_text(quiz: Quiz) -> str:
    """The right answer, as shown once it is revealed."""
    if quiz.kind == "choice":
        index = int(quiz.answer)
        return f"{index + 1}. {quiz.choices[index]}"
    if quiz.kind == "number":
        return f"{float(quiz.answer):g}"
    return str(quiz.answer)


def check(quiz: Quiz, typed: str) -> Verdict:
    """Checks ``typed`` against the quiz's answer."""
    text = typed.strip()
    if not text:
        return Verdict(False, False, "Type an answer first.")
    if quiz.kind == "choice":
        return _choice(quiz, text)
    if quiz.kind == "number":
        return _number(quiz, text)
    return _formula(quiz, text)


def _choice(quiz: Quiz, text: str) -> Verdict:
    n = len(quiz.choices)
    if not text.isdigit() or not 1 <= int(text) <= n:
        return Verdict(False, False, f"Choose a number from 1 to {n}.")
    return Verdict(int(text) - 1 == quiz.answer)


def _number(quiz: Quiz, text: str) -> Verdict:
    cleaned = text.replace("_", "").replace(" ", "")
    percent = cleaned.endswith("%")
    try:
        value = float(cleaned.rstrip("%"))
    except ValueError:
        return Verdict(False, False, f"{text!r} is not a number: type one, e.g. 0.25 or 1e-3.")
    if not math.isfinite(value):
        return Verdict(False, False, "Type a finite number.")
    if percent:
        value /= 100
    answer = float(quiz.answer)
    if abs(value - answer) <= quiz.tolerance:
        return Verdict(True)
    side = "too high" if value > answer else "too low"
    return Verdict(False, True, f"{value:g} is {side}.")


def formula_checker_ready() -> bool:
    """Whether the formula checker is part of this installation."""
    try:
        from derive.formula import check_formula  # noqa: F401
    except ImportError:
        return False
    return True


def _formula(quiz: Quiz, text: str) -> Verdict:
    try:
        from derive.formula import check_formula
    except ImportError:
        return Verdict(False, False, "The formula checker is not available in this installation.")
    try:
        verdict = check_formula(text, str(quiz.answer), list(quiz.variables))
    except (UserError, ValueError) as exc:  # input it refuses to read: not a try
        message = exc.message if isinstance(exc, UserError) else str(exc)
        return Verdict(False, False, message)
    counted = getattr(verdict, "kind", "") not in UNREAD
    return Verdict(bool(verdict.correct), counted, str(verdict.message or ""))
