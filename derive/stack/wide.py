"""A wide layer on the parameter's paths: one unit written out, then every unit in one step.

Past ``WIDE`` units, a vector the parameter reaches is not expanded unit by unit (an MNIST
network would give hundreds of steps, each a sum of hundreds of terms). Its first unit is worked
out as usual, by SymPy with the numbers put in; one more step then writes the same formula with
a letter for "any unit", zᵢ = Σₖ Wᵢₖ aₖ + bᵢ, and gives all the units' values at once. Those
values are computed with NumPy from the numbers of the steps before it (the weights as arrays,
the previous vector unit by unit), never read from a backward pass, and the unit written out
must agree with its entry, so the chain of steps still carries its own check.
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import replace

import numpy as np
import sympy as sp

from derive.notation import vec
from derive.printers import latex, text
from derive.rules import Rule
from derive.stack.model import Stage, Vec
from derive.steps import StepSpec

WIDE = 8  # a vector with more units than this on the paths is derived in one step
LETTER = "i"  # "any unit" in a wide layer's steps
AGREE = 1e-9  # relative: the unit written out by SymPy and its entry in the arrays

Env = MutableMapping[sp.Basic, float | np.ndarray]
Compute = Callable[[Env], np.ndarray]
_ANY = re.compile(rf"\|{LETTER}(?=\)*$)")  # the letter as a name's subscript: z|2|i, d(L)/d(a|2|i)


def is_wide(units: Sequence[int]) -> bool:
    return len(units) > WIDE


def unit_symbol(s: sp.Symbol, m: int) -> sp.Symbol:
    """The symbol written with the letter, for unit ``m``: z²ᵢ → z²₃, ∂L/∂a²ᵢ → ∂L/∂a²₃."""
    return sp.Symbol(_ANY.sub(f"|{m}", s.name), real=True)


def indexed(s: sp.Basic) -> bool:
    """Whether ``s`` is written with the letter (one value per unit)."""
    return isinstance(s, sp.Symbol) and _ANY.search(s.name) is not None


def units_of(env: Env, at: Callable[[int], sp.Basic], units: Sequence[int]) -> np.ndarray:
    """The values of ``at(m)`` for each unit m, as the steps before left them."""
    return np.array([float(env[at(m)]) for m in units], dtype=np.float64)


def collapse(
    example: StepSpec,
    any_unit: StepSpec,
    units: Sequence[int],
    compute: Compute,
    unit: int | None = None,
) -> list[StepSpec]:
    """One unit's step, then the same step for every unit at once (see the module).

    ``example`` is ``any_unit`` for ``unit`` (default: the first of ``units``); its value, from
    SymPy, must be that unit's entry in ``compute``'s array.
    """
    assert isinstance(any_unit.lhs, sp.Symbol)
    lhs = any_unit.lhs
    at = list(units).index(units[0] if unit is None else unit)

    def checked(env: Env) -> np.ndarray:
        values = compute(env)
        worked, entry = float(env[example.lhs]), float(values[at])
        if abs(worked - entry) > AGREE * max(abs(worked), abs(entry), 1.0):
            raise ArithmeticError(
                f"{text(lhs)} with arrays gives {entry!r} for {text(example.lhs)}, "
                f"the step that writes it out {worked!r}"
            )
        return values

    why, n = any_unit.rule, len(units)
    wide_rule = Rule(
        why.key,
        f"{why.text}; here for all {n} units {LETTER} at once, with arrays"
        f" ({text(example.lhs)} is written out in the step above)",
        rf"{why.latex}; here for all ${n}$ units ${LETTER}$ at once, with arrays"
        rf" (${latex(example.lhs)}$ is written out in the step above)",
    )
    spread = tuple(unit_symbol(lhs, m) for m in units)
    step = replace(
        any_unit, rule=wide_rule, full=None, show_numbers=False, compute=checked, spread=spread
    )
    return [example, step]


# --------------------------------------------------------------------------- the arrays


def elementwise(expr: sp.Basic, units: Sequence[int]) -> Compute:
    """A formula in one unit's quantities (σ(zᵢ), ∂L/∂aᵢ·σ′(zᵢ), ŷᵢ − yᵢ) on whole vectors.

    SymPy's ``lambdify`` turns the formula itself into array code: each symbol written with the
    letter becomes the vector of its units' values, any other symbol its one number.
    """
    symbols = sorted(expr.free_symbols, key=lambda s: s.name)
    fn = sp.lambdify(symbols, expr, ["scipy", "numpy"])

    def compute(env: Env) -> np.ndarray:
        args = [_vector(env, s, units) if indexed(s) else env[s] for s in symbols]
        out = np.asarray(fn(*args), dtype=np.float64)
        return np.broadcast_to(out, (len(units),)).copy()

    return compute


def _vector(env: Env, s: sp.Symbol, units: Sequence[int]) -> np.ndarray:
    return np.array([float(env[unit_symbol(s, m)]) for m in units], dtype=np.float64)


def dense_forward(st: Stage, units: Sequence[int]) -> Compute:
    """zᵢ = Σₖ Wᵢₖ aₖ + bᵢ for the units asked: the weight matrix times the input vector."""
    W = vec("W", st.layer, st.out.width, st.inp.width)
    b = vec("b", st.layer, st.out.width)
    rows = list(units)

    def compute(env: Env) -> np.ndarray:
        a = units_of(env, st.inp.at, range(st.inp.width))
        weights = np.asarray(env[W], dtype=np.float64)[rows]
        return weights @ a + np.ravel(np.asarray(env[b], dtype=np.float64))[rows]

    return compute


def dense_backward(
    st: Stage, grad: Callable[[Vec, int], sp.Basic], units: Sequence[int]
) -> Compute:
    """∂L/∂aᵢ = Σᵣ Wᵣᵢ δᵣ for the input units asked: the transposed weights times δ."""
    W = vec("W", st.layer, st.out.width, st.inp.width)
    cols = list(units)

    def compute(env: Env) -> np.ndarray:
        delta = units_of(env, lambda r: grad(st.out, r), range(st.out.width))
        return np.asarray(env[W], dtype=np.float64)[:, cols].T @ delta

    return compute


def softmax(z: Vec, units: Sequence[int]) -> Compute:
    """ŷᵢ = e^{zᵢ} / Σₘ e^{zₘ}, shifted by the largest logit (the same ratio, no overflow)."""
    rows = list(units)

    def compute(env: Env) -> np.ndarray:
        logits = units_of(env, z.at, range(z.width))
        e = np.exp(logits - logits.max())
        return (e / e.sum())[rows]

    return compute
