"""Every activation of ``engine.activations`` as a SymPy function, generated from its definition.

``derive`` names no activation itself: the engine's registry (``engine.activations.ACTIVATIONS``)
gives each one's NumPy form (to evaluate on numbers and, through ``_imp_``, for ``lambdify``), its
derivative as a derivation shows it (``sympy_prime``, which becomes ``fdiff``), its symbol and
LaTeX (which the printers read) and its rule texts. A new activation there is derived, printed
and checked here with no change in this package.

``sympy_prime`` is written in a small vocabulary, :data:`S`: ``S.sp`` is SymPy, ``S.positive(z)``
the Iverson bracket [z > 0] and ``S.where_positive(z, p, q)`` "p if z > 0 else q"; both are
functions below that evaluate on numbers and print as a reader writes them.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import sympy as sp
from sympy.core.parameters import evaluate

from derive.functions import Numeric
from derive.rules import Rule, fill
from engine.activations import ACTIVATIONS, ActivationDef
from engine.errors import UserError


class positive(Numeric):
    """The Iverson bracket [z > 0]: 1 where z > 0, else 0 (ReLU′, with 0 at the kink)."""

    _imp_ = staticmethod(lambda z: np.where(np.asarray(z) > 0, 1.0, 0.0))

    @classmethod
    def eval(cls, z: sp.Basic) -> sp.Basic | None:
        return (sp.S.One if z > 0 else sp.S.Zero) if z.is_Number else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        return sp.S.Zero


class where_positive(Numeric):
    """``p if z > 0 else q``: a derivative with a kink at 0 (LeakyReLU′ = 1 if z > 0 else α)."""

    _imp_ = staticmethod(lambda z, p, q: np.where(np.asarray(z) > 0, p, q))

    @classmethod
    def eval(cls, z: sp.Basic, p: sp.Basic, q: sp.Basic) -> sp.Basic | None:
        return (p if z > 0 else q) if z.is_Number else None

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        z = self.args[0]
        return {1: sp.S.Zero, 2: positive(z), 3: 1 - positive(z)}[argindex]


S = SimpleNamespace(sp=sp, positive=positive, where_positive=where_positive)
"""The vocabulary ``ActivationDef.sympy_prime`` is written in."""


class ActivationBase(Numeric):
    """σ(z) (σ(z, α) when the function has a parameter) for one registered activation.

    Subclasses are generated, one per definition; the printers print any of them from
    ``definition.symbol`` / ``definition.latex`` (``_print_ActivationBase``: SymPy's printers
    dispatch a Function subclass on its own name or a base class whose name ends in "Base").
    """

    definition: ClassVar[ActivationDef]

    @classmethod
    def eval(cls, z: sp.Basic, *alpha: sp.Basic) -> sp.Basic | None:
        if not (z.is_Number and all(a.is_Number for a in alpha)):
            return None
        al = float(alpha[0]) if alpha else 0.0
        return sp.Float(float(cls.definition.forward(np.array(float(z)), al)))

    def fdiff(self, argindex: int = 1) -> sp.Basic:
        d, z = self.definition, self.args[0]
        alpha = self.args[1] if len(self.args) > 1 else None
        if argindex == 2:
            al = sp.Dummy("alpha", real=True)
            return sp.diff(d.sympy(sp, z, al), al).subs(al, alpha)
        if not d.differentiable:
            raise ValueError(no_gradient(d.name).args[0])
        return d.sympy_prime(S, z, self, alpha)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real


def _generate(d: ActivationDef) -> type[ActivationBase]:
    alpha = d.alpha is not None
    imp = (lambda z, al: d.forward(z, al)) if alpha else (lambda z: d.forward(z, 0.0))
    namespace = {
        "definition": d,
        "nargs": 2 if alpha else 1,
        "_imp_": staticmethod(imp),
        "__doc__": f"{d.rule} (from ``engine.activations``).",
        "__module__": __name__,
    }
    return type(d.name, (ActivationBase,), namespace)


SYMPY_FUNCTIONS: dict[str, type[ActivationBase]] = {
    name: _generate(d) for name, d in ACTIVATIONS.items()
}
"""Each registered activation's SymPy function, by its config name."""


def function(name: str) -> type[ActivationBase]:
    """The SymPy function of activation ``name``; a ValueError listing the valid names."""
    try:
        return SYMPY_FUNCTIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(SYMPY_FUNCTIONS)}"
        ) from None


def _alpha(d: ActivationDef, alpha: float | sp.Basic | None) -> tuple[sp.Basic, ...]:
    """α as the function's second argument (a Float, or a symbol in a general rule)."""
    if d.alpha is None:
        return ()
    value = d.alpha if alpha is None else alpha
    return (value if isinstance(value, sp.Basic) else sp.Float(value),)


def apply(name: str, z: sp.Basic, alpha: float | sp.Basic | None = None) -> sp.Basic:
    """σ(z) for activation ``name``, its parameter α put in when it has one."""
    fn = function(name)
    return fn(z, *_alpha(fn.definition, alpha))


def prime(name: str, z: sp.Basic, a: sp.Basic, alpha: float | sp.Basic | None = None) -> sp.Basic:
    """σ′(z) as a derivation writes it, with the cheapest of z and a = σ(z), kept as written.

    Raises a UserError for a function no gradient flows through (the step).
    """
    d = function(name).definition
    if not d.differentiable:
        raise no_gradient(name)
    al = _alpha(d, alpha)
    with evaluate(False):
        return d.sympy_prime(S, z, a, al[0] if al else None)


def no_gradient(name: str, where: str = "") -> UserError:
    """The error for backpropagating through an activation whose derivative is zero."""
    d = function(name).definition
    return UserError(
        f"no gradient flows through {d.type_name}{where}: its derivative is zero wherever it"
        " exists, so the chain rule stops there",
        "derive a parameter above that layer, or use a differentiable activation"
        f" ({', '.join(n for n, f in SYMPY_FUNCTIONS.items() if _smooth(f.definition))})",
    )


def _smooth(d: ActivationDef) -> bool:
    return d.differentiable and d.name != "identity"


def differentiable(name: str) -> bool:
    """Whether a gradient flows through activation ``name`` (not through the step)."""
    return function(name).definition.differentiable


def act_rule(name: str, alpha: float | None = None) -> Rule:
    """The forward rule an activation's step cites, from the registry's texts."""
    d = function(name).definition
    value = d.alpha if alpha is None else alpha
    return fill(f"act_{name}", d.rule, d.rule_latex, alpha=float(value or 0.0))


def prime_rule(name: str) -> Rule:
    """The rule for an activation's derivative, from the registry's texts."""
    d = function(name).definition
    return fill(f"prime_{name}", d.prime_rule, d.prime_rule_latex)


@cache
def numpy_fns(name: str) -> tuple[Any, Any]:
    """σ and σ′ as NumPy functions of (z, α), σ′ being SymPy's ``diff`` of σ, lambdified.

    σ′ raises the UserError of :func:`no_gradient` for the step function.
    """
    z, al = sp.Symbol("z", real=True), sp.Symbol("alpha", real=True)
    fn = function(name)
    expr = fn(z, al) if fn.definition.alpha is not None else fn(z)
    forward = sp.lambdify([z, al], expr, ["scipy", "numpy"])
    if not fn.definition.differentiable:

        def slope(u: Any, alpha: float) -> Any:
            raise no_gradient(name)

        return forward, slope
    return forward, sp.lambdify([z, al], sp.diff(expr, z), ["scipy", "numpy"])


sigmoid = function("sigmoid")
"""The logistic function, which the losses with logits and the recurrent gates use too."""


def vector_prime(
    name: str, U: sp.MatrixSymbol, A: sp.MatrixSymbol, alpha: float | None = None
) -> sp.Basic | None:
    """σ′ of a whole column, element-wise: σ′ = A ⊙ (𝟙 − A) for σ, 𝟙 − A ⊙ A for tanh.

    The scalar form of :func:`prime` is rewritten over the columns U = z and A = a: products
    become ⊙, a number c becomes c·𝟙. None when the form uses a function other than the
    brackets of :data:`S` (GELU's erf), which has no such element-wise spelling here.
    """
    z, a = sp.Symbol("z", real=True), sp.Symbol("a", real=True)
    try:
        return _elementwise(prime(name, z, a, alpha), z, a, U, A)
    except NotImplementedError:
        return None


def _elementwise(e: sp.Basic, z: sp.Symbol, a: sp.Symbol, U: sp.Basic, A: sp.Basic) -> sp.Basic:
    one = sp.OneMatrix(*U.shape)

    def matrix(x: sp.Basic) -> sp.Basic:
        if isinstance(x, sp.MatrixExpr):
            return x
        return one if x == 1 else sp.MatMul(x, one, evaluate=False)

    def walk(x: sp.Basic) -> sp.Basic:
        if not x.has(z, a):
            return x
        if x in (z, a):
            return U if x == z else A
        if isinstance(x, sp.Add):
            return sp.MatAdd(*[matrix(walk(t)) for t in x.args], evaluate=False)
        if isinstance(x, sp.Mul):
            parts = [walk(f) for f in x.args]
            mats = [p for p in parts if isinstance(p, sp.MatrixExpr)]
            scalars = [p for p in parts if not isinstance(p, sp.MatrixExpr)]
            product = mats[0] if len(mats) == 1 else sp.HadamardProduct(*mats)
            return sp.MatMul(*scalars, product, evaluate=False) if scalars else product
        if isinstance(x, sp.Pow) and x.exp.is_Integer and x.exp > 1:
            return sp.HadamardProduct(*[walk(x.base)] * int(x.exp))
        if isinstance(x, (positive, where_positive)):
            return x.func(*[walk(arg) for arg in x.args], evaluate=False)
        raise NotImplementedError(x)

    return walk(e)
