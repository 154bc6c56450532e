"""The optimiser's update of the one parameter, with its state numbers (PyTorch's rules).

What ``engine.optim`` does to the whole flat buffer in one kernel, written out for one entry, in
the notation of the ``torch.optim`` documentation: θ the parameter, gₜ its gradient, t the step
about to be taken. The state (momentum buffer, moments, sums) is read from the optimiser at the
parameter's flat index; nothing is changed.
"""

from __future__ import annotations

from typing import Any, Protocol

import sympy as sp

from derive.batch import BatchGradient
from derive.expr import add, div, mul, power, scaled, sub
from derive.losses import penalty_symbols
from derive.notation import partial, sym
from derive.rules import fill, rule
from derive.stack.context import Context
from derive.steps import StepSpec

THETA0, THETA = sym("theta", None, "t-1"), sym("theta", None, "t")
G = sym("g", None, "t")
ETA, MU, TAU, LAM, EPS = sym("eta"), sym("mu"), sym("tau"), sym("lambda"), sym("epsilon")
B1, B2, ALPHA, T = sym("beta", None, 1), sym("beta", None, 2), sym("alpha"), sym("t")


def _prev(name: str) -> sp.Symbol:
    return sym(name, None, "t-1")


def _now(name: str) -> sp.Symbol:
    return sym(name, None, "t")


class Target(Protocol):
    """The parameter as the update needs it: its symbol, and its place in the flat buffers."""

    @property
    def theta(self) -> sp.Symbol: ...

    @property
    def ref(self) -> Any: ...


def build(
    ctx: Context | Target,
    grad: sp.Symbol,
    optimizer: Any,
    lr: float,
    batch: BatchGradient | None = None,
) -> tuple[list[StepSpec], dict[sp.Symbol, float]]:
    """Update steps for ``ctx.ref``, and the numbers they read: hyper-parameters and state.

    ``grad`` is the derivation's own gradient; ``batch``, when given, the gradient of the
    mini-batch the optimiser's step trains on instead (the shown samples are not that batch).
    """
    numbers: dict[sp.Symbol, float] = {ETA: float(optimizer.lr if optimizer is not None else lr)}
    t = (optimizer.t + 1) if optimizer is not None else 1
    numbers[T] = t
    specs = [StepSpec("update", THETA0, rule("upd_theta"), ctx.theta)]
    if batch is not None:
        specs.append(_batch_step(ctx.theta, batch))
        grad = specs[-1].lhs
    wd = float(getattr(optimizer, "weight_decay", 0.0))
    decoupled = bool(getattr(optimizer, "decoupled", False))
    theta_prev = THETA0
    if wd and decoupled:
        numbers[LAM] = wd
        theta_prev = sym("theta'", None, "t-1")
        specs.append(
            StepSpec("update", theta_prev, rule("adamw_decay"), mul(THETA0, sub(1, mul(ETA, LAM))))
        )
    if wd and not decoupled:
        numbers[LAM] = wd
        specs.append(StepSpec("update", G, rule("upd_grad_wd", wd=wd), add(grad, mul(LAM, THETA0))))
    elif optimizer is None:
        specs.append(StepSpec("update", G, rule("upd_plain", lr=float(lr)), grad))
    else:
        specs.append(StepSpec("update", G, rule("upd_grad", t=t), grad))
    if optimizer is None:
        specs.append(_step(sub(THETA0, mul(ETA, G)), "sgd"))
        return specs, numbers
    for key, value in _state(optimizer, ctx.ref.flat).items():
        numbers[_prev(key)] = value
    if not callable(getattr(optimizer, "derivation", None)):
        raise ValueError(f"{type(optimizer).__name__} does not write out its update rule")
    writer = UpdateWriter(theta_prev, numbers, t)
    optimizer.derivation(writer)
    return specs + writer.specs, numbers


class UpdateWriter:
    """The vocabulary an optimiser writes its update in (``engine.optim.Optimizer.derivation``).

    The optimiser lives in ``engine``, which never imports SymPy; it describes its update through
    this object, which builds the symbols, keeps the numbers they stand for, and collects the
    steps in the order written.
    """

    g, eta, t = G, ETA, T
    add, sub, mul, div, power = (staticmethod(f) for f in (add, sub, mul, div, power))

    def __init__(self, theta: sp.Symbol, numbers: dict[sp.Symbol, float], count: int) -> None:
        self.theta, self.numbers, self.count = theta, numbers, count
        self.specs: list[StepSpec] = []

    @staticmethod
    def sqrt(x: sp.Basic) -> sp.Basic:
        return power(x, sp.S.Half)

    def number(self, base: str, value: float, *sub_: object) -> sp.Symbol:
        """A hyper-parameter (or a number computed from them) shown as a symbol."""
        symbol = sym(base, None, *sub_)
        self.numbers[symbol] = float(value)
        return symbol

    @staticmethod
    def symbol(base: str, *sub_: object) -> sp.Symbol:
        return sym(base, None, *sub_)

    @staticmethod
    def prev(name: str) -> sp.Symbol:
        return _prev(name)

    @staticmethod
    def now(name: str) -> sp.Symbol:
        return _now(name)

    def assign(self, lhs: sp.Symbol, expr: sp.Basic, key: str, text: str, latex: str) -> None:
        self.specs.append(StepSpec("update", lhs, fill(key, text, latex), expr))

    def update(self, expr: sp.Basic, key: str, text: str, latex: str) -> None:
        self.specs.append(StepSpec("update", THETA, fill(key, text, latex), expr))


def _batch_step(theta: sp.Symbol, batch: BatchGradient) -> StepSpec:
    """∂(L̄ + R)/∂θ = (1/B) Σ_s g_s (+ λ₁ sign θ + λ₂ θ), the engine's over the step's batch."""
    s = sp.Symbol("s", integer=True)
    terms = [
        scaled(sp.Rational(1, batch.size), sp.Sum(sym("g", None, "s"), (s, 0, batch.size - 1)))
    ]
    if batch.penalised:
        l1, l2, _, _ = penalty_symbols()
        terms += [mul(l1, sp.sign(theta, evaluate=False)), mul(l2, theta)]
    return StepSpec(
        "update",
        partial("Lbar+R" if batch.penalised else "Lbar", theta),
        rule("upd_batch" + ("_penalty" if batch.penalised else ""), n=batch.size),
        add(*terms),
        given=batch.value,
        show_numbers=False,
    )


def _state(optimizer: Any, flat: int) -> dict[str, float]:
    """The optimiser's state at the parameter, under the names its derivation uses."""
    names = optimizer.state_symbols
    return {names[k]: float(v[flat]) for k, v in optimizer.state_dict().items() if k in names}


def _step(general: sp.Basic, key: str) -> StepSpec:
    return StepSpec("update", THETA, rule(key), general)
