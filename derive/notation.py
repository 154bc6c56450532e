"""The symbols a derivation is written in, and how each is spelled in every output format.

A symbol's SymPy name is a small structured string, so the printers can spell it in plain text,
Unicode and LaTeX without a lookup table per derivation:

* ``"W|1|0,1"``: base ``W``, superscript (the layer) ``1``, subscripts ``0, 1``  →  W¹₀,₁;
* ``"d(L)/d(a|2|0)"``: the partial derivative of ``L`` by a²₀  →  ∂L/∂a²₀;
* ``"sigmoid'(z|2|0)"``: an activation's derivative at z²₀  →  σ′(z²₀).

Names are ASCII (``yhat``, ``delta``); only what is printed is Unicode or LaTeX.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sympy as sp

from engine.activations import ACTIVATIONS

# ASCII base → (Unicode, LaTeX).
BASES: dict[str, tuple[str, str]] = {
    "yhat": ("ŷ", r"\hat{y}"),
    "delta": ("δ", r"\delta"),
    "theta": ("θ", r"\theta"),
    "eta": ("η", r"\eta"),
    "etatilde": ("η̃", r"\tilde{\eta}"),
    "mu": ("μ", r"\mu"),
    "tau": ("τ", r"\tau"),
    "beta": ("β", r"\beta"),
    "epsilon": ("ε", r"\varepsilon"),
    "alpha": ("α", r"\alpha"),
    "lambda": ("λ", r"\lambda"),
    "Delta": ("Δ", r"\Delta"),
    "mhat": ("m̂", r"\hat{m}"),
    "vhat": ("v̂", r"\hat{v}"),
    "gbar": ("ḡ", r"\bar{g}"),
    "Lbar": ("L̄", r"\bar{L}"),
    "L+R": ("(L + R)", r"(L + R)"),
    "Lbar+R": ("(L̄ + R)", r"(\bar{L} + R)"),
    "sumabsW": ("Σ|W|", r"\textstyle\sum |W|"),
    "sumsqW": ("ΣW²", r"\textstyle\sum W^{2}"),
    "cdots": ("⋯", r"\cdots"),
    # the layers beyond Dense: their parameters and the quantities their derivations name
    "gamma": ("γ", r"\gamma"),
    "sigma2": ("σ²", r"\sigma^{2}"),
    "xhat": ("x̂", r"\hat{x}"),
    "W_ih": ("W_ih", r"{W_{ih}}"),
    "W_hh": ("W_hh", r"{W_{hh}}"),
    "b_ih": ("b_ih", r"{b_{ih}}"),
    "b_hh": ("b_hh", r"{b_{hh}}"),
    "W_in": ("W_in", r"{W_{in}}"),
    "b_in": ("b_in", r"{b_{in}}"),
    "W_hn": ("W_hn", r"{W_{hn}}"),
    "b_hn": ("b_hn", r"{b_{hn}}"),
    "W_out": ("W_out", r"{W_{out}}"),
    "b_out": ("b_out", r"{b_{out}}"),
    "delta_h": ("δʰ", r"\delta^{h}"),
    "delta_i": ("δⁱ", r"\delta^{i}"),
    "delta_f": ("δᶠ", r"\delta^{f}"),
    "delta_g": ("δᵍ", r"\delta^{g}"),
    "delta_o": ("δᵒ", r"\delta^{o}"),
    "delta_r": ("δʳ", r"\delta^{r}"),
    "delta_z": ("δᶻ", r"\delta^{z}"),
    "delta_n": ("δⁿ", r"\delta^{n}"),
    "hn": ("ĥ", r"\hat{h}"),
    "blockterm": (
        "[(∂f/∂x)ᵀ∂L̄/∂y]",
        r"\left[(\partial f/\partial x)^{\top}\partial\bar{L}/\partial y\right]",
    ),
    "VT": ("Vᵀ", r"V^{\top}"),
    "jacobianT": ("(∂f/∂x)ᵀ", r"\left(\partial f/\partial x\right)^{\top}"),
    "sumdelta": ("Σδ", r"\textstyle\sum\delta"),
    "sumdeltaxhat": ("Σδx̂", r"\textstyle\sum\delta\hat{x}"),
    "sumg": ("Σg", r"\textstyle\sum g"),
    "sumgxhat": ("Σgx̂", r"\textstyle\sum g\hat{x}"),
    "dh": ("d_h", r"d_{h}"),
    "normdelta": ("‖δ‖", r"\|\delta\|"),
    "gain": ("‖∂h_T/∂h_(T−k)‖", r"\|\partial h_T/\partial h_{T-k}\|"),
    "jacobian": (
        "∏ W_hhᵀ diag(1 − h²)",
        r"\textstyle\prod W_{hh}^{\top}\operatorname{diag}(1 - h^{2})",
    ),
}
FUNCTIONS: dict[str, tuple[str, str]] = {d.name: (d.symbol, d.latex) for d in ACTIVATIONS.values()}
"""Each activation's (Unicode, LaTeX) symbol by its config name, from the engine's registry."""

SUB = str.maketrans("0123456789aehijklmnoprstuvx+-=()", "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ₊₋₌₍₎")
# (a comma has no subscript form; it stays on the line: W¹₃,₁₇)
SUP = str.maketrans("0123456789+-=()nst.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿˢᵗ·")
_SUBABLE = set("0123456789aehijklmnoprstuvx+-=(),")
_SUPABLE = set("0123456789+-=()nst.")  # "1.0": layer 0 inside block 1, a¹·⁰

_PARTIAL = re.compile(r"^d\((?P<of>.+?)\)/d\((?P<wrt>.+)\)$")
_PRIME = re.compile(r"^(?P<fn>[a-z_]+)'\((?P<arg>.+)\)$")


@dataclass(frozen=True)
class Name:
    """A decoded symbol name: a plain symbol, a partial derivative or an activation's derivative."""

    base: str
    sup: str = ""
    sub: tuple[str, ...] = ()
    wrt: Name | None = None  # set for ∂base/∂wrt
    arg: Name | None = None  # set for base'(arg), base being an activation's name


def encode(base: str, sup: object = None, sub: tuple[object, ...] = ()) -> str:
    """The SymPy name of a plain symbol (see the module docstring)."""
    sup_text = "" if sup is None else str(sup)
    return f"{base}|{sup_text}|{','.join(str(i) for i in sub)}"


def decode(name: str) -> Name:
    """Parses a name written by ``encode``, ``partial_name`` or ``prime_name``."""
    m = _PARTIAL.match(name)
    if m:
        return Name(m["of"], wrt=decode(m["wrt"]))
    m = _PRIME.match(name)
    if m:
        return Name(m["fn"], arg=decode(m["arg"]))
    if "|" not in name:
        return Name(name)
    base, sup, sub = name.split("|", 2)
    return Name(base, sup, tuple(sub.split(",")) if sub else ())


def sym(base: str, sup: object = None, *sub: object) -> sp.Symbol:
    """A real scalar symbol, e.g. ``sym("W", 1, 0, 1)`` for W¹₀,₁."""
    return sp.Symbol(encode(base, sup, sub), real=True)


def vec(base: str, sup: object, rows: int, cols: int = 1) -> sp.MatrixSymbol:
    """A vector or matrix symbol, e.g. ``vec("z", 1, 2)`` for the column z¹."""
    return sp.MatrixSymbol(encode(base, sup), rows, cols)


def partial_name(of: str, wrt: str) -> str:
    return f"d({of})/d({wrt})"


def partial(of: str, wrt: sp.Symbol | sp.MatrixSymbol) -> sp.Symbol:
    """∂of/∂wrt as one symbol: the chain rule treats it as a number once it is known."""
    return sp.Symbol(partial_name(of, wrt.name), real=True)


def vpartial(of: str, wrt: sp.MatrixSymbol) -> sp.MatrixSymbol:
    """The gradient ∂of/∂wrt of a vector or matrix, with the shape of ``wrt``."""
    return sp.MatrixSymbol(partial_name(of, wrt.name), *wrt.shape)


def prime(fn: str, arg: sp.Symbol) -> sp.Symbol:
    """fn′(arg), the derivative of activation ``fn`` at ``arg``."""
    return sp.Symbol(f"{fn}'({arg.name})", real=True)


def vprime(fn: str, arg: sp.MatrixSymbol) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(f"{fn}'({arg.name})", *arg.shape)


ELLIPSIS = sp.Symbol("cdots")


# --------------------------------------------------------------------------- spelling


def subscript(text: str) -> str:
    """Unicode subscript when every character has one, else ``_(text)``."""
    return text.translate(SUB) if set(text) <= _SUBABLE else f"_({text})"


def superscript(text: str) -> str:
    return text.translate(SUP) if set(text) <= _SUPABLE else f"^({text})"


def _spelling(core: str) -> tuple[str, str]:
    """(Unicode, LaTeX) of a base: from ``BASES``, else a Greek letter's English name (``Pi``
    → Π, ``psi`` → ψ, so an optimiser's or layer's new symbol needs no entry), else as written."""
    if core in BASES:
        return BASES[core]
    case = "CAPITAL" if core[:1].isupper() else "SMALL"
    try:
        return unicodedata.lookup(f"GREEK {case} LETTER {core.upper()}"), "\\" + core
    except KeyError:
        return core, ""


def base_unicode(base: str) -> str:
    """``a~`` → ã, ``a'`` → a′, ``yhat`` → ŷ."""
    primes = len(base) - len(base.rstrip("'"))
    core = base.rstrip("'")
    tilde = core.endswith("~")
    core = core.rstrip("~")
    text = _spelling(core)[0]
    return unicodedata.normalize("NFC", text + ("\u0303" if tilde else "")) + "′" * primes


def base_latex(base: str) -> str:
    primes = len(base) - len(base.rstrip("'"))
    core = base.rstrip("'")
    tilde = core.endswith("~")
    core = core.rstrip("~")
    text = _spelling(core)[1] or core
    if tilde:
        text = rf"\tilde{{{text}}}"
    return text + "'" * primes


def _indices(sub: tuple[str, ...]) -> str:
    """Indices separated by commas (W₀,₁, W₁₂,₃, a convolution's W⁰₁,₀,₂,₂): run together,
    c₁₀ could be c₁,₀ or the one index 10."""
    return ",".join(sub)


def unicode_name(name: str | Name) -> str:
    """The Unicode spelling of a symbol name: W¹₀,₁, ∂L/∂a²₀, σ′(z²₀)."""
    n = decode(name) if isinstance(name, str) else name
    if n.wrt is not None:
        return f"∂{base_unicode(n.base)}/∂{unicode_name(n.wrt)}"
    if n.arg is not None:
        return f"{FUNCTIONS.get(n.base, (n.base, ''))[0]}′({unicode_name(n.arg)})"
    text = base_unicode(n.base)
    if n.sup:
        text += superscript(n.sup)
    if n.sub:
        text += subscript(_indices(n.sub))
    return text


def latex_name(name: str | Name) -> str:
    """The LaTeX spelling: ``W^{1}_{0,1}``, ``\\frac{\\partial L}{\\partial a^{2}_{0}}``."""
    n = decode(name) if isinstance(name, str) else name
    if n.wrt is not None:
        return rf"\frac{{\partial {base_latex(n.base)}}}{{\partial {latex_name(n.wrt)}}}"
    if n.arg is not None:
        return rf"{FUNCTIONS.get(n.base, ('', n.base))[1]}'\left({latex_name(n.arg)}\right)"
    text = base_latex(n.base)
    if n.sup:
        text = f"{text}^{{{n.sup}}}" if not text.endswith("'") else f"{{{text}}}^{{{n.sup}}}"
    if n.sub:
        text += "_{" + ",".join(n.sub) + "}"
    return text


def spelled(symbol: sp.Symbol) -> tuple[str, str]:
    """A symbol's name in Unicode and in LaTeX, for rules that mention it (the parameter θ)."""
    return unicode_name(symbol.name), latex_name(symbol.name)


def component(m: sp.MatrixSymbol, *index: int) -> sp.Symbol:
    """The scalar symbol of one entry: (δ¹)₀ → δ¹₀, (∂L/∂a¹)₁ → ∂L/∂a¹₁."""
    name = m.name
    match = _PARTIAL.match(name)
    if match:
        inner = sp.MatrixSymbol(match["wrt"], *m.shape)
        return sp.Symbol(partial_name(match["of"], component(inner, *index).name), real=True)
    match = _PRIME.match(name)
    if match:
        inner = sp.MatrixSymbol(match["arg"], *m.shape)
        return sp.Symbol(f"{match['fn']}'({component(inner, *index).name})", real=True)
    n = decode(name)
    return sym(n.base, n.sup or None, *index)


# --------------------------------------------------------------------------- LaTeX text mode

_TEXT_ESCAPES = (
    ("\\", r"\textbackslash{}"),
    ("_", r"\_"),
    ("&", r"\&"),
    ("%", r"\%"),
    ("#", r"\#"),
    ("$", r"\$"),
)
# the few symbols plain-text lines and rules use, as LaTeX (after the escapes above)
_TEXT_SYMBOLS = {
    "L̄": r"$\bar L$",
    "ŷ": r"$\hat y$",
    "ĥ": r"$\hat h$",
    "x̂": r"$\hat x$",
    "→": r"$\to$",
    "×": r"$\times$",
    "…": r"\ldots{}",
    "⋯": r"$\cdots$",
    "−": "-",
    "—": "---",
    "⊙": r"$\odot$",
    "∂": r"$\partial$",
    "Σ": r"$\Sigma$",
    "δ": r"$\delta$",
    "σ": r"$\sigma$",
    "γ": r"$\gamma$",
    "β": r"$\beta$",
    "μ": r"$\mu$",
    "ε": r"$\varepsilon$",
    "‖": r"$\|$",
    "ᵀ": r"$^\top$",
    "²": r"$^2$",
}


def latex_text(text: str) -> str:
    """Plain text made safe for LaTeX's text mode: ``weight_decay`` gets its ``_`` escaped, and
    the few symbols plain lines use (→, ×, δ, …) become LaTeX."""
    for char, escaped in _TEXT_ESCAPES:
        text = text.replace(char, escaped)
    for char, tex in _TEXT_SYMBOLS.items():
        text = text.replace(char, tex)
    return text
