"""Formulas a learner types, read without ``eval``: a whitelist tokenizer and a small parser.

The text is read character by character into tokens (numbers, the question's names, a few
functions, ``+ - * / ^ **`` and parentheses); anything else is refused with a message naming it.
A recursive-descent parser then builds the SymPy expression node by node. Nothing here hands
text to ``eval``, ``sympify`` or ``parse_expr``, and the limits (length, nesting, powers) stop
an expression from growing before it is built, so a hostile input is refused quickly.

Grammar (``^`` and ``**`` bind tightest and to the right; ``-x^2`` is ``-(x^2)``)::

    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/") unary)*
    unary   := ("+" | "-") unary | power
    power   := atom (("^" | "**") unary)?
    atom    := NUMBER | NAME | FUNCTION "(" sum ")" | "(" sum ")"
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from engine.errors import UserError

MAX_LENGTH = 200
"""The longest formula read, in characters."""
MAX_DEPTH = 24
"""The deepest nesting of parentheses, powers and signs."""
MAX_POWER = 64
"""The largest |n| in a power x^n with a number n."""
MAX_DIGITS = 300
"""The most digits a number may reach (a number to a number power)."""


def _sigmoid(u: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-u))


def _relu(u: sp.Expr) -> sp.Expr:
    return sp.Max(sp.S.Zero, u)


FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "sigmoid": _sigmoid,
    "tanh": sp.tanh,
    "exp": sp.exp,
    "log": sp.log,
    "relu": _relu,
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
}
"""The functions every formula may use, each as the SymPy expression it stands for."""

# What a learner may type besides ASCII, and what it means.
ALIASES = {
    "σ": "sigmoid",
    "ŷ": "yhat",
    "λ": "lambda",  # the Greek letters a question may name in ASCII
    "η": "eta",
    "δ": "delta",
    "α": "alpha",
    "μ": "mu",
    "θ": "theta",
    "−": "-",  # minus sign
    "–": "-",  # en dash
    "·": "*",
    "⋅": "*",
    "×": "*",
    "∗": "*",
    "÷": "/",
    "²": "^2",
    "³": "^3",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_OPERATORS = ("**", "+", "-", "*", "/", "^", "(", ")")
_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-*/^() \t")


class FormulaError(UserError):
    """A formula that cannot be read, and why.

    Attributes:
        kind: "syntax", "unknown_name", "implicit_multiplication" or "too_big".
        token: the piece of the text at fault ("" when it is the whole text).
    """

    def __init__(self, kind: str, message: str, hint: str = "", token: str = "") -> None:
        super().__init__(message, hint)
        self.kind = kind
        self.token = token


@dataclass(frozen=True)
class Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    at: int  # where it starts in the normalised text


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    shown = repr(char) if char.isprintable() and not char.isspace() else "a character"
    return f"{shown} (U+{ord(char):04X}{' ' + name if name else ''})"


def normalise(text: str) -> str:
    """The text with its Unicode aliases spelled in ASCII (σ → sigmoid, − → -, ŷ → yhat).

    Raises:
        FormulaError: for a text longer than ``MAX_LENGTH``.
    """
    if len(text) > MAX_LENGTH:
        raise FormulaError(
            "too_big",
            f"the formula is {len(text)} characters long",
            f"write it in at most {MAX_LENGTH} characters",
        )
    text = unicodedata.normalize("NFC", text)  # y + combining circumflex → ŷ
    return "".join(ALIASES.get(char, char) for char in text)


def tokenize(text: str) -> Iterator[Token]:
    """Splits normalised text into tokens; a character outside the whitelist is refused, named
    with its code point (a Cyrillic х, a zero-width space, a quote)."""
    i = 0
    while i < len(text):
        if text[i] in " \t":
            i += 1
            continue
        if text[i] not in _ALLOWED:
            raise FormulaError(
                "syntax",
                f"the formula contains {_describe(text[i])}, which a formula cannot use",
                "use numbers, the names listed, + - * / ^ and parentheses",
                text[i],
            )
        number = _NUMBER.match(text, i)
        if number:
            yield Token("number", number.group(), i)
            i = number.end()
            continue
        name = _NAME.match(text, i)
        if name:
            yield Token("name", name.group(), i)
            i = name.end()
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is None:
            token = text[i]
            hint = (
                "a dot belongs only inside a number, as in 0.5"
                if token == "."
                else "use + - * / ^ and parentheses"
            )
            raise FormulaError("syntax", f"cannot read {token!r} in the formula", hint, token)
        yield Token("op", op, i)
        i += len(op)
    yield Token("end", "", len(text))


def rational(text: str) -> sp.Rational:
    """A number token as an exact rational (``0.1`` is 1/10), refusing huge exponents."""
    mantissa, _, exponent = text.lower().partition("e")
    if exponent and abs(int(exponent)) > 30:
        raise FormulaError(
            "too_big",
            f"the number {text} is too large or too small to check",
            "write numbers between 1e-30 and 1e30",
            text,
        )
    if len(mantissa) > 20:
        raise FormulaError(
            "too_big", f"the number {text} has too many digits", "write at most 20 digits", text
        )
    value = Fraction(text)
    return sp.Rational(value.numerator, value.denominator)


class Parser:
    """Builds a SymPy expression from tokens, one grammar rule per method (see the module)."""

    def __init__(self, tokens: Iterator[Token], symbols: dict[str, sp.Symbol]) -> None:
        self.stream = tokens  # read lazily: the first fault met is the one reported
        self.tokens: list[Token] = []
        self.symbols = symbols
        self.pos = 0
        self.depth = 0
        self.calls: list[tuple[str, sp.Expr]] = []  # each function applied, and its argument

    @property
    def token(self) -> Token:
        while len(self.tokens) <= self.pos:
            self.tokens.append(next(self.stream))
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.token
        self.pos += 1
        return token

    def is_op(self, *ops: str) -> bool:
        return self.token.kind == "op" and self.token.text in ops

    def parse(self) -> sp.Expr:
        if self.token.kind == "end":
            raise FormulaError("syntax", "the formula is empty", "type a formula")
        expr = self.sum()
        if self.token.kind != "end":
            self._unexpected()
        return expr

    def _nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FormulaError(
                "too_big",
                f"the formula nests more than {MAX_DEPTH} levels deep",
                "write it with fewer parentheses",
            )

    def sum(self) -> sp.Expr:
        expr = self.product()
        while self.is_op("+", "-"):
            op = self.take().text
            right = self.product()
            expr = expr + right if op == "+" else expr - right
        return expr

    def product(self) -> sp.Expr:
        expr = self.unary()
        while self.is_op("*", "/"):
            op = self.take().text
            right = self.unary()
            expr = expr * right if op == "*" else expr / right
        return expr

    def unary(self) -> sp.Expr:
        self._nested()
        if self.is_op("+", "-"):
            op = self.take().text
            inner = self.unary()
            result = inner if op == "+" else -inner
        else:
            result = self.power()
        self.depth -= 1
        return result

    def power(self) -> sp.Expr:
        base = self.atom()
        if not self.is_op("^", "**"):
            return base
        op = self.take()
        exponent = self.unary()
        check_power(base, exponent, op.text)
        return sp.Pow(base, exponent)

    def atom(self) -> sp.Expr:
        token = self.take()
        if token.kind == "number":
            result: sp.Expr = rational(token.text)
        elif token.kind == "name":
            result = self._name(token)
        elif token.kind == "op" and token.text == "(":
            result = self.sum()
            self._close("(")
        else:
            self.pos -= 1
            self._unexpected()
        self._no_juxtaposition(token)
        return result

    def _name(self, token: Token) -> sp.Expr:
        name = token.text
        if name in FUNCTIONS:
            if not self.is_op("("):
                raise FormulaError(
                    "syntax",
                    f"{name} is a function: it needs its argument in parentheses",
                    f"write {name}(z)",
                    name,
                )
            self.take()
            argument = self.sum()
            self._close(f"{name}(")
            self.calls.append((name, argument))
            return FUNCTIONS[name](argument)
        if name in self.symbols:
            if self.is_op("("):
                raise FormulaError(
                    "implicit_multiplication",
                    f"{name}( reads as a function, and {name} is not one",
                    f"to multiply, write {name}*(…)",
                    name,
                )
            return self.symbols[name]
        number = _NUMBER.match(name[1:]) if name[:1] in "eE" else None
        if number and number.end() == len(name) - 1:
            raise FormulaError("syntax", f"cannot read the number ending in {name}", "", name)
        raise unknown_name(name, list(self.symbols))

    def _close(self, opened: str) -> None:
        if not self.is_op(")"):
            raise FormulaError(
                "syntax",
                f"a parenthesis opened by {opened!r} is never closed",
                "add the missing )",
                opened,
            )
        self.take()

    def _no_juxtaposition(self, before: Token) -> None:
        """Refuses ``2x``, ``x y``, ``(a)(b)`` and ``2(x+1)``: products need their ``*``."""
        after = self.token
        if after.kind in ("number", "name") or (after.kind == "op" and after.text == "("):
            left = before.text if before.kind != "op" else ")"
            right = after.text
            raise FormulaError(
                "implicit_multiplication",
                f"{left} is followed by {right} with nothing between them",
                f"to multiply, put * between them: {left}*{right}",
                f"{left}{right}",
            )

    def _unexpected(self) -> None:
        token = self.token
        if token.kind == "end":
            raise FormulaError("syntax", "the formula ends too early", "finish the expression")
        if token.text == ")":
            raise FormulaError("syntax", "there is a ) with no ( before it", "remove it", ")")
        raise FormulaError(
            "syntax",
            f"{token.text!r} cannot stand here in the formula",
            "check the operators around it",
            token.text,
        )


def check_power(base: sp.Expr, exponent: sp.Expr, op: str) -> None:
    """Refuses powers that would build a huge number (``9^9^9^9``) before SymPy computes them."""
    if not exponent.is_Number:
        return
    if abs(float(exponent)) > MAX_POWER:
        raise FormulaError(
            "too_big",
            f"the power {op}{exponent} is too large",
            f"use powers between -{MAX_POWER} and {MAX_POWER}",
            f"{op}{exponent}",
        )
    if base.is_Number and base != 0:
        digits = abs(float(exponent)) * abs(math.log10(abs(float(base))))
        if digits > MAX_DIGITS:
            raise FormulaError(
                "too_big",
                f"{base}{op}{exponent} is too large a number",
                "use smaller numbers",
                f"{base}{op}{exponent}",
            )


def unknown_name(name: str, names: Sequence[str]) -> FormulaError:
    listed = ", ".join(names) if names else "none"
    return FormulaError(
        "unknown_name",
        f"uses a name not in this question: {name} (the names are {listed})",
        f"the functions are {', '.join(FUNCTIONS)}",
        name,
    )


def symbols_for(variables: Sequence[str]) -> dict[str, sp.Symbol]:
    """A real SymPy symbol for each of the question's names, after checking the names."""
    symbols = {}
    for name in variables:
        if not _VARIABLE.fullmatch(name) or name in FUNCTIONS:
            raise UserError(
                f"{name!r} cannot be a formula's variable",
                "use a letter followed by letters, digits or _, and not a function's name",
            )
        symbols[name] = sp.Symbol(name, real=True)
    return symbols


def read_formula(text: str, variables: Sequence[str]) -> tuple[sp.Expr, list[tuple[str, sp.Expr]]]:
    """The expression a plain-text formula stands for, and each function it applies (with its
    argument), in the order written.

    Raises:
        FormulaError: naming the offending character, token or name, and the fix.
    """
    parser = Parser(tokenize(normalise(text)), symbols_for(variables))
    expr = parser.parse()
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise FormulaError("syntax", "the formula divides by zero", "check every / in it", "/")
    return expr, parser.calls


def parse_formula(text: str, variables: Sequence[str]) -> sp.Expr:
    """The SymPy expression a plain-text formula stands for, in the given variables (no text
    is evaluated: see the module docstring).

    Raises:
        FormulaError: naming the offending character, token or name, and the fix.
    """
    return read_formula(text, variables)[0]
