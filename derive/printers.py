"""SymPy's printers, taught this project's notation: one ``_print_X`` override per thing.

Three printers share the same decisions: symbols are spelled from their structured names
(``derive.notation``), numbers are rounded to a few significant digits, activations print as
σ, ReLU …, and the vector form's ⊙ and ᵀ look as in textbooks. Factors keep the order they were
written in (``order="none"``), so a chain-rule product reads as derived.
"""

from __future__ import annotations

import re
from typing import ClassVar

import sympy as sp
from sympy.matrices.expressions import HadamardProduct, MatAdd, MatMul
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pretty.pretty import PrettyPrinter
from sympy.printing.pretty.stringpict import prettyForm
from sympy.printing.str import StrPrinter

from derive.notation import FUNCTIONS, Name, decode, latex_name, superscript, unicode_name

DIGITS = 4


def number_text(value: float, digits: int = DIGITS) -> str:
    """A number to ``digits`` significant digits: 0.5987, -0.2, 1, 3.1e-05."""
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def more_text(expr: sp.Basic) -> str:
    """``52 more terms`` for ``More(52)``."""
    count = int(expr.args[0])
    return f"{count} more term{'s' if count != 1 else ''}"


def _fn_unicode(name: str) -> str:
    return FUNCTIONS.get(name, (name, ""))[0]


def _is_column(m: sp.MatrixBase) -> bool:
    return m.shape[1] == 1 and m.shape[0] > 1


class TextPrinter(StrPrinter):
    """One line of Unicode text: ``δ²₀ = ∂L/∂ŷ₀·σ′(z²₀)``."""

    _default_settings: ClassVar[dict] = {
        **StrPrinter._default_settings,
        "order": "none",
        "digits": DIGITS,
    }

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        return unicode_name(expr.name)

    _print_MatrixSymbol = _print_Symbol

    def _print_Float(self, expr: sp.Float) -> str:
        return number_text(float(expr), self._settings["digits"])

    def _print_Mul(self, expr: sp.Mul) -> str:
        if len(expr.args) == 2 and expr.args[0] is sp.S.NegativeOne:
            return "-" + self.parenthesize(expr.args[1], PRECEDENCE["Mul"], strict=True)
        return super()._print_Mul(expr).replace("*", "·")

    def _print_Paren(self, expr: sp.Basic) -> str:
        return f"({self._print(expr.args[0])})"

    def _print_More(self, expr: sp.Basic) -> str:
        return f"… {more_text(expr)}"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, e = expr.args
        if e == -1:
            return "1/" + self.parenthesize(base, PRECEDENCE["Pow"])
        if e == sp.S.Half:
            return "√" + self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
        if e.is_Integer and 1 < e < 10:
            return self.parenthesize(base, PRECEDENCE["Pow"], strict=True) + superscript(str(e))
        return self.parenthesize(base, PRECEDENCE["Pow"], strict=True) + "^" + self._print(e)

    def _print_Function(self, expr: sp.Function) -> str:
        name = type(expr).__name__
        if name in FUNCTIONS:
            return f"{_fn_unicode(name)}({self._print(expr.args[0])})"
        return super()._print_Function(expr)

    def _print_ActivationBase(self, expr: sp.Function) -> str:
        return f"{expr.definition.symbol}({self._print(expr.args[0])})"

    def _print_positive(self, expr: sp.Function) -> str:
        return f"[{self._print(expr.args[0])} > 0]"

    def _print_where_positive(self, expr: sp.Function) -> str:
        z, p, q = (self._print(a) for a in expr.args)
        return f"({p} if {z} > 0 else {q})"

    def _print_huber(self, expr: sp.Function) -> str:
        return f"h({self._print(expr.args[0])})"

    def _print_huber_grad(self, expr: sp.Function) -> str:
        d, delta = (self._print(a) for a in expr.args)
        return f"clip({d}, -{delta}, {delta})"

    def _print_exp(self, expr: sp.Function) -> str:
        return f"exp({self._print(expr.args[0])})"

    def _print_log_clamped(self, expr: sp.Function) -> str:
        return f"log({self._print(expr.args[0])})"

    def _print_Max(self, expr: sp.Max) -> str:
        return "max(" + ", ".join(self._print(a) for a in expr.args) + ")"

    _print_window_max = _print_Max

    def _print_Abs(self, expr: sp.Abs) -> str:
        return f"|{self._print(expr.args[0])}|"

    def _print_Sum(self, expr: sp.Sum) -> str:
        term = self.parenthesize(expr.function, PRECEDENCE["Mul"], strict=True)
        return f"Σ{unicode_name(expr.limits[0][0].name).translate(_SUBS)} {term}"

    def _print_MatrixBase(self, m: sp.MatrixBase) -> str:
        rows = [", ".join(self._print(v) for v in m.row(i)) for i in range(m.rows)]
        if _is_column(m):
            return "(" + ", ".join(rows) + ")ᵀ"
        return "[" + "; ".join(rows) + "]"

    _print_ImmutableDenseMatrix = _print_MatrixBase

    def _print_HadamardProduct(self, expr: HadamardProduct) -> str:
        return " ⊙ ".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in expr.args)

    def _print_MatMul(self, expr: MatMul) -> str:
        args = list(expr.args)
        sign = ""
        if args[0] == -1:
            sign, args = "-", args[1:]
        return sign + "·".join(self.parenthesize(a, PRECEDENCE["Mul"], strict=True) for a in args)

    def _print_MatAdd(self, expr: MatAdd) -> str:
        out = self._print(expr.args[0])
        for term in expr.args[1:]:
            text = self._print(term)
            out += f" - {text[1:]}" if text.startswith("-") else f" + {text}"
        return out

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        arg = expr.arg
        if isinstance(arg, sp.MatrixBase):  # numbers put in: the row itself
            return self._print(arg.T)
        inner = self._print(arg)
        return (
            f"({inner})" if not isinstance(arg, sp.MatrixSymbol) or "^" in inner else inner
        ) + "ᵀ"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return "𝟙"

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        return f"{_fn_name(expr)}({self._print(expr.expr)})"


_SUBS = str.maketrans("ikmrs", "ᵢₖₘᵣₛ")


def _fn_name(expr: sp.Basic) -> str:
    fn = expr.function
    body = getattr(fn, "expr", None)
    name = type(body).__name__ if body is not None else getattr(fn, "__name__", str(fn))
    return _fn_unicode(name)


class UnicodePrinter(PrettyPrinter):
    """SymPy's two-dimensional pretty-printing: fractions stacked, Σ and √ drawn."""

    _default_settings: ClassVar[dict] = {
        **PrettyPrinter._default_settings,
        "order": "none",
        "use_unicode": True,
        "wrap_line": False,
        "digits": DIGITS,
    }

    def _print_Symbol(self, expr: sp.Symbol, bold_name: bool = False) -> prettyForm:
        return self._name(expr.name)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> prettyForm:
        return self._name(expr.name)

    def _name(self, name: str) -> prettyForm:
        """A partial derivative as a stacked fraction ∂L over ∂a¹₀; other names in one line."""
        n = decode(name)
        if n.wrt is None:
            return prettyForm(unicode_name(n))
        top = prettyForm("∂" + unicode_name(Name(n.base)))
        return prettyForm(*top.__truediv__(prettyForm("∂" + unicode_name(n.wrt))).parens("", ""))

    def _print_Float(self, expr: sp.Float) -> prettyForm:
        text = number_text(float(expr), self._settings["digits"])
        return prettyForm(text, binding=prettyForm.NEG if text.startswith("-") else prettyForm.ATOM)

    def _print_Paren(self, expr: sp.Basic) -> prettyForm:
        return prettyForm(*self._print(expr.args[0]).parens())

    def _print_More(self, expr: sp.Basic) -> prettyForm:
        return prettyForm(f"… {more_text(expr)}")

    def _named(self, expr: sp.Function, name: str, nargs: int = 1) -> prettyForm:
        return self._print_Function(sp.Function(name)(*expr.args[:nargs]))

    def _print_ActivationBase(self, expr: sp.Function) -> prettyForm:
        return self._named(expr, expr.definition.symbol)

    def _print_huber(self, expr: sp.Function) -> prettyForm:
        return self._named(expr, "h")

    def _print_window_max(self, expr: sp.Function) -> prettyForm:
        return self._named(expr, "max", len(expr.args))

    def _print_log_clamped(self, expr: sp.Function) -> prettyForm:
        return self._named(expr, "log")

    def _print_huber_grad(self, expr: sp.Function) -> prettyForm:
        d, delta = expr.args
        return self._print_Function(sp.Function("clip")(d, -delta, delta))

    def _print_positive(self, expr: sp.Function) -> prettyForm:
        p = self._print(expr.args[0])
        p = prettyForm(*p.right(" > 0"))
        return prettyForm(*p.parens("[", "]"))

    def _print_where_positive(self, expr: sp.Function) -> prettyForm:
        z, if_positive, otherwise = (self._print(a) for a in expr.args)
        p = prettyForm(*if_positive.right(" if "))
        p = prettyForm(*p.right(z))
        p = prettyForm(*p.right(" > 0 else "))
        p = prettyForm(*p.right(otherwise))
        return prettyForm(*p.parens())

    def _print_MatAdd(self, expr: MatAdd) -> prettyForm:
        form = self._print(expr.args[0])
        for term in expr.args[1:]:
            negative = isinstance(term, MatMul) and term.args[0] == -1
            if negative:
                term = MatMul(*term.args[1:]) if len(term.args) > 2 else term.args[1]
            form = prettyForm(*form.right(" - " if negative else " + ", self._print(term)))
        return form

    def _print_HadamardProduct(self, expr: HadamardProduct) -> prettyForm:
        return self._print_seq(
            expr.args,
            None,
            None,
            " ⊙ ",
            parenthesize=lambda x: isinstance(x, (MatAdd, MatMul, HadamardProduct)),
        )

    def _print_Transpose(self, expr: sp.Transpose) -> prettyForm:
        if isinstance(expr.arg, sp.MatrixBase):
            return self._print(expr.arg.T)
        return super()._print_Transpose(expr)

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> prettyForm:
        return self._print_Function(sp.Function(_fn_name(expr))(expr.expr))


class TexPrinter(LatexPrinter):
    """LaTeX for amsmath: ``\\delta^{2}_{0} = \\frac{\\partial L}{\\partial \\hat{y}_{0}} …``."""

    _default_settings: ClassVar[dict] = {
        **LatexPrinter._default_settings,
        "order": "none",
        "mul_symbol": "dot",
        "digits": DIGITS,
    }

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        return latex_name(expr.name)

    def _print_MatrixSymbol(self, expr: sp.MatrixSymbol) -> str:
        return latex_name(expr.name)

    def _print_Float(self, expr: sp.Float) -> str:
        text = number_text(float(expr), self._settings["digits"])
        if "e" in text:
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \cdot 10^{{{int(exponent)}}}"
        return text

    def _print_Paren(self, expr: sp.Basic) -> str:
        return rf"\left({self._print(expr.args[0])}\right)"

    def _print_More(self, expr: sp.Basic) -> str:
        return rf"\ldots\ \text{{{more_text(expr)}}}"

    def _fn(self, name: str, *args: sp.Basic) -> str:
        inner = ", ".join(self._print(a) for a in args)
        return rf"{name}\left({inner}\right)"

    def _print_ActivationBase(self, expr: sp.Function, exp: str | None = None) -> str:
        return self._fn(expr.definition.latex, expr.args[0])

    def _print_huber(self, expr: sp.Function, exp: str | None = None) -> str:
        return self._fn("h", expr.args[0])

    def _print_window_max(self, expr: sp.Function, exp: str | None = None) -> str:
        return self._fn(r"\max", *expr.args)

    def _print_log_clamped(self, expr: sp.Function, exp: str | None = None) -> str:
        return self._fn(r"\log", expr.args[0])

    def _print_huber_grad(self, expr: sp.Function, exp: str | None = None) -> str:
        d, delta = expr.args
        return self._fn(r"\operatorname{clip}", d, -delta, delta)

    def _print_positive(self, expr: sp.Function, exp: str | None = None) -> str:
        return rf"\left[{self._print(expr.args[0])} > 0\right]"

    def _print_where_positive(self, expr: sp.Function, exp: str | None = None) -> str:
        z, p, q = (self._print(a) for a in expr.args)
        return rf"\begin{{cases}} {p} & {z} > 0 \\ {q} & \text{{otherwise}} \end{{cases}}"

    def _print_HadamardProduct(self, expr: HadamardProduct) -> str:
        return r" \odot ".join(
            self.parenthesize(a, PRECEDENCE["Pow"], strict=True) for a in expr.args
        )

    def _print_Transpose(self, expr: sp.Transpose) -> str:
        if isinstance(expr.arg, sp.MatrixBase):
            return self._print(expr.arg.T)
        return rf"\left({self._print(expr.arg)}\right)^{{\top}}"

    def _print_OneMatrix(self, expr: sp.OneMatrix) -> str:
        return r"\mathbf{1}"

    def _print_ElementwiseApplyFunction(self, expr: sp.Basic) -> str:
        name = FUNCTIONS.get(type(expr.function.expr).__name__, ("", r"f"))[1]
        return self._fn(name, expr.expr)


def text(expr: sp.Basic, digits: int = DIGITS) -> str:
    return TextPrinter({"digits": digits}).doprint(expr)


def unicode(expr: sp.Basic, digits: int = DIGITS, width: int | None = None) -> str:
    """Pretty-printed in two dimensions, in at most ``width`` columns when one is given.

    A one-line expression wider than that breaks at its spaces (between the terms, so no
    number is cut), the lines after the first indented; a taller one (stacked fractions, Σ) is
    cut into pieces of ``width`` columns, each under the last, SymPy marking the cuts with ↪.
    """
    text = UnicodePrinter({"digits": digits}).doprint(expr)
    if width is None or max(len(line) for line in text.splitlines()) <= width:
        return text
    width = max(width, 10)
    if "\n" not in text:
        return "\n".join(wrap(text, width))
    settings = {"digits": digits, "wrap_line": True, "num_columns": width}
    return UnicodePrinter(settings).doprint(expr)


_BREAKS = re.compile(r"(?<=[ ⋅·])")  # a line may end after a space or a product's dot


def wrap(text: str, width: int, indent: str = "    ") -> list[str]:
    """One line of maths in lines of at most ``width`` characters, the later ones indented.

    Lines break after a space or a product's dot (``⋅``), so no symbol or number is split and no
    character is lost (a space at a break is dropped); only a piece wider than a whole line is
    cut, where it must be.
    """
    lines: list[str] = []
    line = ""
    for piece in _BREAKS.split(text):
        room = width - (len(indent) if lines else 0)
        if line and len(line.rstrip(" ")) + len(piece.rstrip(" ")) > room:
            lines.append(line.rstrip(" "))
            line = ""
        line += piece
        while len(line) > width - (len(indent) if lines else 0):
            cut = width - (len(indent) if lines else 0)
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip() or not lines:
        lines.append(line.rstrip(" "))
    return [(indent if i else "") + text for i, text in enumerate(lines)]


def latex(expr: sp.Basic, digits: int = DIGITS) -> str:
    return TexPrinter({"digits": digits}).doprint(expr)
