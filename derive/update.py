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
from derive.context import Context
from derive.expr import add, div, mul, power, scaled, sub
from derive.losses import penalty_symbols
from derive.notation import partial, sym
from derive.rules import rule
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
    name = getattr(optimizer, "name", "plain")
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
    state = _state(optimizer, ctx.ref.flat)
    for key, value in state.items():
        numbers[_prev(key)] = value
    if name in ("adam", "adamw"):
        specs += _adam(optimizer, numbers, theta_prev)
    elif name == "rmsprop":
        specs += _rmsprop(optimizer, numbers)
    elif name == "adagrad":
        specs += _adagrad(optimizer, numbers, t)
    else:
        specs += _sgd(optimizer, numbers, t)
    return specs, numbers


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
    """The optimiser's state at the parameter, under the names the steps use."""
    if optimizer is None:
        return {}
    names = {
        "momentum_buffer": "b",
        "exp_avg": "m",
        "exp_avg_sq": "v",
        "square_avg": "s",
        "grad_avg": "gbar",
        "sum": "G",
    }
    return {names[k]: float(v[flat]) for k, v in optimizer.state_dict().items() if k in names}


def _step(general: sp.Basic, key: str = "sgd") -> StepSpec:
    return StepSpec("update", THETA, rule(key), general)


def _sgd(opt: Any, numbers: dict, t: int) -> list[StepSpec]:
    momentum = float(getattr(opt, "momentum", 0.0))
    if not momentum:
        return [_step(sub(THETA0, mul(ETA, G)))]
    numbers[MU], numbers[TAU] = momentum, float(opt.dampening)
    b = _now("b")
    if t == 1:
        specs = [StepSpec("update", b, rule("sgd_buffer"), G)]
    else:
        fresh = G if not opt.dampening else mul(sub(1, TAU), G)
        specs = [StepSpec("update", b, rule("sgd_buffer"), add(mul(MU, _prev("b")), fresh))]
    if opt.nesterov:
        direction = _now("Delta")
        specs.append(StepSpec("update", direction, rule("sgd_direction"), add(G, mul(MU, b))))
        return [*specs, _step(sub(THETA0, mul(ETA, direction)), "sgd_step_nesterov")]
    return [*specs, _step(sub(THETA0, mul(ETA, b)), "sgd_step")]


def _adam(opt: Any, numbers: dict, theta_prev: sp.Symbol) -> list[StepSpec]:
    numbers[B1], numbers[B2] = opt.betas
    numbers[EPS] = opt.eps
    m, v, mhat, vhat = _now("m"), _now("v"), _now("mhat"), _now("vhat")
    return [
        StepSpec("update", m, rule("adam_m"), add(mul(B1, _prev("m")), mul(sub(1, B1), G))),
        StepSpec(
            "update", v, rule("adam_v"), add(mul(B2, _prev("v")), mul(sub(1, B2), power(G, 2)))
        ),
        StepSpec("update", mhat, rule("adam_mhat"), div(m, sub(1, power(B1, T)))),
        StepSpec("update", vhat, rule("adam_vhat"), div(v, sub(1, power(B2, T)))),
        _step(sub(theta_prev, mul(ETA, div(mhat, add(power(vhat, sp.S.Half), EPS)))), "adam_step"),
    ]


def _rmsprop(opt: Any, numbers: dict) -> list[StepSpec]:
    numbers[ALPHA], numbers[EPS] = opt.alpha, opt.eps
    s = _now("s")
    specs = [
        StepSpec(
            "update", s, rule("rms_s"), add(mul(ALPHA, _prev("s")), mul(sub(1, ALPHA), power(G, 2)))
        )
    ]
    radicand: sp.Basic = s
    if opt.centered:
        gbar = _now("gbar")
        specs.append(
            StepSpec(
                "update",
                gbar,
                rule("rms_gbar"),
                add(mul(ALPHA, _prev("gbar")), mul(sub(1, ALPHA), G)),
            )
        )
        radicand = sub(s, power(gbar, 2))
    scaled = div(G, add(power(radicand, sp.S.Half), EPS))
    if opt.momentum:
        numbers[MU] = opt.momentum
        b = _now("b")
        specs.append(StepSpec("update", b, rule("rms_buffer"), add(mul(MU, _prev("b")), scaled)))
        return [*specs, _step(sub(THETA0, mul(ETA, b)), "rms_step")]
    return [*specs, _step(sub(THETA0, mul(ETA, scaled)), "rms_step")]


def _adagrad(opt: Any, numbers: dict, t: int) -> list[StepSpec]:
    numbers[EPS] = opt.eps
    specs = []
    rate: sp.Basic = ETA
    if opt.lr_decay:
        decay = sym("decay")
        numbers[decay] = opt.lr_decay
        rate = sym("etatilde")
        specs.append(
            StepSpec("update", rate, rule("adagrad_lr"), div(ETA, add(1, mul(sub(T, 1), decay))))
        )
    big_g = _now("G")
    specs.append(StepSpec("update", big_g, rule("adagrad_G"), add(_prev("G"), power(G, 2))))
    step = mul(rate, div(G, add(power(big_g, sp.S.Half), EPS)))
    return [*specs, _step(sub(THETA0, step), "adagrad_step")]
