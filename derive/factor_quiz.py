"""A derivation's steps as formula questions: "type ∂L/∂ŷ₀ before it is shown".

A backward step whose symbolic form a learner can type (sums, products, powers and the whitelisted
functions of the step's own quantities) becomes a ``FactorQuestion``: the answer in plain text,
and the names it may use, each beside the quantity it stands for as the derivation prints it
(``yhat`` for ŷ₀, ``dL_dyhat`` for ∂L/∂ŷ₀, ``sigmoid_prime`` for σ′(z²₀)). A few quantities of
the backward steps just before join the names, so the names alone do not give the answer away.
Only the index view of a Dense stack is asked (its symbols are scalars; the vector and layer views
hold vectors and matrices, which a plain formula cannot write).
``derive.formula.check_formula`` then checks what is typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from derive.formula import Verdict, check_formula, plain_text
from derive.notation import Name, decode, unicode_name
from derive.steps import Step

MAX_NAMES = 8  # names listed beside the input
DISTRACTORS = 3  # quantities of earlier steps listed besides the answer's own
MAX_ANSWER = 160  # characters: a longer form (a sum over many units) is shown, not asked


@dataclass(frozen=True)
class FactorQuestion:
    """One step to type: ``lhs`` (as printed) = ``answer`` (plain text, in ``names``).

    Attributes:
        lhs: the quantity asked for, in Unicode (∂L/∂ŷ₀).
        answer: the step's symbolic form in plain text, e.g. ``2*(yhat - y)``.
        names: each plain name the learner may use, and what it stands for (``yhat`` → ŷ₀).
    """

    lhs: str
    answer: str
    names: tuple[tuple[str, str], ...]

    @property
    def variables(self) -> list[str]:
        return [plain for plain, _ in self.names]

    def check(self, typed: str) -> Verdict:
        return check_formula(typed, self.answer, self.variables)

    def vocabulary(self) -> str:
        """``yhat = ŷ₀ · y = y₀ · dL_dyhat = ∂L/∂ŷ₀``: the names, as listed beside the input."""
        return " · ".join(f"{plain} = {shown}" for plain, shown in self.names)


def question(steps: Sequence[Step], index: int) -> FactorQuestion | None:
    """The question for ``steps[index]``, or None when that step is not one to type.

    Backward steps only; their form must be a scalar expression in plain symbols that reads
    back as typed text (no vectors, no shortened sums, no kinks' brackets).
    """
    step = steps[index]
    general = step.general
    if step.part != "backward" or not isinstance(general, sp.Expr) or general.is_Symbol:
        return None
    own = sorted(general.free_symbols, key=lambda s: s.name)
    if not own or any(not isinstance(s, sp.Symbol) or _ellipsis(s) for s in own):
        return None
    earlier = [
        s.lhs
        for s in reversed(steps[:index])
        if s.part == "backward"
        and isinstance(s.lhs, sp.Symbol)
        and s.lhs not in own
        and s.lhs != step.lhs
    ]
    chosen = (own + earlier[:DISTRACTORS])[:MAX_NAMES]
    if len(chosen) < len(own):
        return None
    names = plain_names(chosen)
    answer = plain_text(general, names)
    if answer is None or len(answer) > MAX_ANSWER:
        return None
    listed = tuple(sorted(((p, unicode_name(s.name)) for s, p in names.items()), key=_order))
    return FactorQuestion(step.label, answer, listed)


def _ellipsis(symbol: sp.Symbol) -> bool:
    return decode(symbol.name).base == "cdots"


def _order(item: tuple[str, str]) -> tuple[bool, str]:
    return item[0].startswith("d"), item[0]  # quantities first, then derivatives


# --------------------------------------------------------------------------- plain names


def _ascii(text: str) -> str:
    """A base as an identifier: ``a~`` → ``atilde``, ``a'`` → ``aprime``, ``L+R`` → ``LR``."""
    text = text.replace("~", "tilde").replace("'", "prime")
    text = re.sub(r"[^A-Za-z0-9_]", "", text)
    return text if text[:1].isalpha() else f"v{text}"


def _spellings(n: Name) -> list[str]:
    """Plain names for one quantity, shortest first; later ones tell more apart."""
    if n.wrt is not None:
        return [f"d{_ascii(n.base)}_d{w}" for w in _spellings(n.wrt)]
    if n.arg is not None:
        return [f"{_ascii(n.base)}_prime"] + [
            f"{_ascii(n.base)}_prime_{a}" for a in _spellings(n.arg)[1:]
        ]
    base = _ascii(n.base)
    sub = "".join(n.sub)
    sup = re.sub(r"[^A-Za-z0-9]", "", n.sup)
    options = [base, f"{base}{sub}", f"{base}_{'_'.join(n.sub)}", f"{base}{sup}_{'_'.join(n.sub)}"]
    return [re.sub(r"_+$", "", o) for o in options]


def plain_names(symbols: Sequence[sp.Symbol]) -> dict[sp.Symbol, str]:
    """A plain, typable name for each symbol: as short as keeps them apart in this group.

    ``yhat`` for ŷ₀ when it is the only ŷ; ``W00`` and ``W01`` for W²₀,₀ and W²₀,₁ side by
    side; ``W2_0_0`` when two layers' weights meet.
    """
    spellings = {s: _spellings(decode(s.name)) for s in symbols}
    depth = dict.fromkeys(symbols, 0)
    for _ in range(5):
        chosen = {s: spellings[s][min(depth[s], len(spellings[s]) - 1)] for s in symbols}
        clashes = [s for s in symbols if list(chosen.values()).count(chosen[s]) > 1]
        if not clashes:
            return chosen
        for s in clashes:
            depth[s] += 1
    return {s: f"{chosen[s]}_{i}" for i, s in enumerate(symbols)}
