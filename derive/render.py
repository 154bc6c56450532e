"""A derivation as plain text, Unicode pretty-print, LaTeX or Markdown. Nothing is computed here.

Every format has the same layout: a header (which parameter, which network, which sample), then
the steps part by part — forward pass, loss, backward pass, SymPy's direct check, the update —
each step as ``quantity = general = numbers = value`` with its rule.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.printing.pretty.stringpict import prettyForm

from derive import printers
from derive.notation import latex_name, latex_text, unicode_name
from derive.printers import number_text
from derive.stack.model import ParamRef
from derive.steps import Derivation, DirectCheck, Step

FORMATS = ("text", "unicode", "latex", "markdown")
TITLES = {
    "forward": "Forward pass",
    "loss": "Loss",
    "backward": "Backward pass: the chain rule",
    "update": "Update",
}
WIDTH = 100  # a text chain longer than this breaks at its "=" signs
SHOWN = 8  # entries of an array value shown before "…"
EXACT = 10  # significant digits of the numbers the check compares
TINY = 1e-15  # a difference below this is rounding, and is printed as such
CHECK_TITLE = "Check: the whole loss as one expression, differentiated by SymPy itself"
VIEW_LINES = {
    "index": "index notation: only the terms on the paths from the parameter to the loss",
    "vector": "vector form: layer by layer, one sample as a column",
    "layer": "layer by layer: the δ arriving at the parameter's layer as the engine's backward"
    " computes it (float64), then the layer's own gradient in its own terms, with numbers",
}


def render(d: Derivation, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return {"text": _text, "unicode": _unicode, "latex": _latex, "markdown": _markdown}[fmt](d)


# --------------------------------------------------------------------------- shared pieces


def _describe(d: Derivation) -> str:
    ref = d.param
    if not isinstance(ref, ParamRef):
        return ref.describe()
    # the maths counts layers from 1, the engine from 0: name both where they differ
    layer = f"layer {ref.layer}" + (
        f" (the engine's layer {ref.pos})" if ref.pos != ref.layer else ""
    )
    what = (
        f"{layer}'s weight from input {ref.k} to unit {ref.j}"
        if ref.k is not None
        else f"{layer}'s bias of unit {ref.j}"
    )
    return f"{ref.text}, {what}"


def _numbers(values: np.ndarray, count: bool = True) -> str:
    flat = [number_text(float(v)) for v in np.ravel(values)]
    if len(flat) > SHOWN:
        more = f" ({len(flat)} values)" if count else ""
        return ", ".join([*flat[:3], "…", *flat[-2:]]) + more
    return ", ".join(flat)


def _final(d: Derivation) -> Step:
    """The step whose value is the engine's gradient (batch mean, penalty included)."""
    return d.part("backward")[-1]


def value_text(value: float | np.ndarray) -> str:
    """A step's value in text: a number, a vector ``(…)ᵀ`` or a matrix ``[…; …]``."""
    if not isinstance(value, np.ndarray):
        return number_text(float(value))
    if value.ndim == 2 and value.shape[1] > 1:
        if max(value.shape) > SHOWN:
            return f"a {value.shape[0]}×{value.shape[1]} matrix"
        return "[" + "; ".join(_numbers(r, count=False) for r in value) + "]"
    suffix = "ᵀ" if value.ndim == 2 else ""
    return f"({_numbers(value)}){suffix}"


def value_latex(value: float | np.ndarray) -> str:
    if not isinstance(value, np.ndarray):
        return printers.latex(sp.Float(float(value)))
    if value.ndim == 2 and value.shape[1] > 1 and max(value.shape) > SHOWN:
        return rf"\text{{a ${value.shape[0]} \times {value.shape[1]}$ matrix}}"
    rows = value if value.ndim == 2 and value.shape[1] > 1 else np.ravel(value).reshape(1, -1)
    body = r" \\ ".join(
        _numbers(r, count=False).replace(", ", " & ").replace("…", r"\cdots") for r in rows[:SHOWN]
    )
    env = "pmatrix"
    if value.ndim == 2 and value.shape[1] == 1:
        return rf"\begin{{{env}}} {body} \end{{{env}}}^{{\top}}"
    return rf"\begin{{{env}}} {body} \end{{{env}}}"


def _header_lines(d: Derivation) -> list[str]:
    x = f"x = ({_numbers(d.x)})"
    if d.loss != "cross_entropy":
        y = f"y = ({_numbers(d.y)})"
    else:
        y = f"label {int(np.ravel(d.y)[0])}" if np.size(d.y) == 1 else f"labels ({_numbers(d.y)})"
    view = VIEW_LINES[d.view]
    batch = f"sample {d.sample} of a batch of {d.n_samples}" if d.n_samples > 1 else "one sample"
    return [
        f"network {d.network}; loss {d.loss}; {batch}: {x}, {y}",
        f"{view}",
    ]


def _check_lines(d: Derivation, c: DirectCheck) -> list[str]:
    over = f" (mean over the {d.n_samples} samples)" if d.n_samples > 1 else ""
    if "R" in _final(d).label:
        over += " + the penalty's"
    return [
        f"SymPy's diff at today's numbers: {c.value:.{EXACT}g}{over}",
        f"the chain rule above:            {c.chain_value:.{EXACT}g}",
        f"difference:                      {_difference(c.difference)}",
    ]


def _difference(value: float) -> str:
    return f"below {TINY:.0e} (rounding)" if value < TINY else f"{value:.3g}"


def _grouped(d: Derivation) -> list[tuple[str, list[Step]]]:
    groups: list[tuple[str, list[Step]]] = []
    for step in d.steps:
        if not groups or groups[-1][0] != step.part:
            groups.append((step.part, []))
        groups[-1][1].append(step)
    return groups


def _update_title(d: Derivation) -> str:
    return f"Update: the next step of {d.optimizer} for this parameter"


# --------------------------------------------------------------------------- plain text


def _chain(parts: list[str], indent: int) -> str:
    one = " = ".join(parts)
    if len(one) + indent <= WIDTH:
        return one
    pad = " " * len(parts[0])
    return parts[0] + " = " + f"\n{' ' * indent}{pad} = ".join(parts[1:])


def _text_step(i: int, step: Step) -> str:
    parts = [printers.text(step.lhs), printers.text(step.general)]
    if step.substituted is not None:
        parts.append(printers.text(step.substituted))
    parts.append(value_text(step.value))
    if parts[-1] == parts[-2]:
        parts.pop()
    head = f"{i:>3}. "
    return head + _chain(parts, len(head)) + f"\n{' ' * len(head)}[{step.rule.text}]"


def _text(d: Derivation) -> str:
    title = f"∂L/∂{unicode_name(d.symbol.name)}: the gradient of the loss by {_describe(d)}"
    lines = [title, *_header_lines(d)]
    n = 0
    for part, steps in _grouped(d):
        if part == "update" and d.check is not None:
            lines += ["", *_text_check(d, d.check)]
        lines += ["", _update_title(d) if part == "update" else TITLES[part]]
        for step in steps:
            n += 1
            lines.append(_text_step(n, step))
    lines += ["", f"{_final(d).label} = {d.value:.{EXACT}g}"]
    return "\n".join(lines) + "\n"


def _text_check(d: Derivation, c: DirectCheck) -> list[str]:
    name = f"∂L/∂{unicode_name(d.symbol.name)}"
    return [
        CHECK_TITLE,
        f"  L = {printers.text(c.loss)}",
        "  SymPy's diff of it, with its repeated parts named:",
        *(f"    {printers.text(u)} = {printers.text(e)}" for u, e in c.shared),
        f"    {name} = {printers.text(c.reduced)}",
        *(f"  {line}" for line in _check_lines(d, c)),
    ]


# --------------------------------------------------------------------------- Unicode


def _unicode_step(i: int, step: Step) -> str:
    pp = printers.UnicodePrinter()
    head = f"{i:>3}. "
    pad = " " * len(head)
    lhs = pp._print(step.lhs)
    blocks = [pp._print(step.general)]
    if step.substituted is not None and not step.substituted.is_Number:
        blocks.append(pp._print(step.substituted))
    if not step.general.is_Number:
        blocks.append(prettyForm(value_text(step.value)))
    rendered = []
    for k, form in enumerate(blocks):
        lead = lhs if k == 0 else prettyForm(" " * lhs.width())
        line = prettyForm(*prettyForm(pad).right(lead, " = ", form))
        rendered.append(line.render(wrap_line=False))
    tall = any("\n" in r for r in rendered)
    return f"{head}{step.label}   [{step.rule.text}]\n\n" + ("\n\n" if tall else "\n").join(
        rendered
    )


def _unicode(d: Derivation) -> str:
    title = f"∂L/∂{unicode_name(d.symbol.name)}: the gradient of the loss by {_describe(d)}"
    lines = [title, *_header_lines(d)]
    n = 0
    for part, steps in _grouped(d):
        if part == "update" and d.check is not None:
            lines += ["", *_unicode_check(d, d.check)]
        heading = _update_title(d) if part == "update" else TITLES[part]
        lines += ["", heading, "─" * len(heading)]
        for step in steps:
            n += 1
            lines += ["", _unicode_step(n, step)]
    lines += ["", f"{_final(d).label} = {d.value:.{EXACT}g}"]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _unicode_check(d: Derivation, c: DirectCheck) -> list[str]:
    name = sp.Symbol(f"d(L)/d({d.symbol.name})")
    lines = [CHECK_TITLE, "─" * len(CHECK_TITLE), "", _eq(sp.Symbol("L"), c.loss), ""]
    lines += ["SymPy's diff of it, with its repeated parts named:", ""]
    for u, e in c.shared:
        lines += [_eq(u, e), ""]
    lines += [_eq(name, c.reduced), "", *_check_lines(d, c)]
    return lines


def _eq(lhs: sp.Basic, rhs: sp.Basic) -> str:
    pp = printers.UnicodePrinter()
    form = prettyForm(*pp._print(lhs).right(" = "))
    return prettyForm(*form.right(pp._print(rhs))).render(wrap_line=False)


# --------------------------------------------------------------------------- LaTeX and Markdown


def _tex_text(text: str) -> str:
    """Plain text made safe for LaTeX's text mode (see ``printers.latex_text``)."""
    return latex_text(text)


def _latex_chain(step: Step, align: bool) -> str:
    parts = [printers.latex(step.general)]
    if step.substituted is not None:
        parts.append(printers.latex(step.substituted))
    value = value_latex(step.value)
    if value != parts[-1]:
        parts.append(value)
    lhs = printers.latex(step.lhs)
    if align:
        return f"{lhs} &= " + " \\\\\n  &= ".join(parts)
    return f"{lhs} = " + " = ".join(parts)


def _latex(d: Derivation) -> str:
    sym_tex = latex_name(d.symbol.name)
    lines = [
        "% A derivation by dltui; needs \\usepackage{amsmath}.",
        rf"\section*{{$\partial L / \partial {sym_tex}$: the gradient of the loss by "
        rf"\texttt{{{d.param.text}}}}}",
        *[_tex_text(line) + r"\\" for line in _header_lines(d)],
    ]
    n = 0
    for part, steps in _grouped(d):
        if part == "update" and d.check is not None:
            lines += _latex_check(d, d.check)
        heading = _update_title(d) if part == "update" else TITLES[part]
        lines += ["", rf"\subsection*{{{_tex_text(heading)}}}"]
        for step in steps:
            n += 1
            lines += [
                "",
                rf"\paragraph{{{n}. ${printers.latex(step.lhs)}$}} {step.rule.latex}",
                r"\begin{align*}",
                "  " + _latex_chain(step, align=True),
                r"\end{align*}",
            ]
    lines += ["", rf"\[ {printers.latex(_final(d).lhs)} = {d.value:.{EXACT}g} \]"]
    return "\n".join(lines) + "\n"


def _check_tex(d: Derivation, c: DirectCheck) -> list[str]:
    """The check's equations in LaTeX, one per line."""
    name = rf"\frac{{\partial L}}{{\partial {latex_name(d.symbol.name)}}}"
    return [
        f"L = {printers.latex(c.loss)}",
        *(f"{printers.latex(u)} = {printers.latex(e)}" for u, e in c.shared),
        f"{name} = {printers.latex(c.reduced)}",
    ]


def _latex_check(d: Derivation, c: DirectCheck) -> list[str]:
    eqs = _check_tex(d, c)
    return [
        "",
        rf"\subsection*{{{CHECK_TITLE}}}",
        r"\begin{gather*}",
        f"  {eqs[0]} \\\\",
        r"  \text{SymPy's diff of it, with its repeated parts named:} \\",
        *(f"  {e} \\\\" for e in eqs[1:-1]),
        f"  {eqs[-1]}",
        r"\end{gather*}",
        *[line + r"\\" for line in _check_lines(d, c)],
    ]


def _markdown(d: Derivation) -> str:
    sym_tex = latex_name(d.symbol.name)
    lines = [
        f"# $\\partial L / \\partial {sym_tex}$: the gradient of the loss by `{d.param.text}`",
        "",
        *[f"{line}  " for line in _header_lines(d)],
    ]
    n = 0
    for part, steps in _grouped(d):
        if part == "update" and d.check is not None:
            lines += _markdown_check(d, d.check)
        heading = _update_title(d) if part == "update" else TITLES[part]
        lines += ["", f"## {heading}", ""]
        for step in steps:
            n += 1
            lines += [
                f"{n}. **${printers.latex(step.lhs)}$**: {step.rule.latex}",
                "",
                f"   $${_latex_chain(step, align=False)}$$",
                "",
            ]
    lines += [f"$${printers.latex(_final(d).lhs)} = {d.value:.{EXACT}g}$$"]
    return "\n".join(lines) + "\n"


def _markdown_check(d: Derivation, c: DirectCheck) -> list[str]:
    eqs = _check_tex(d, c)
    lines = ["", f"## {CHECK_TITLE}", "", f"$${eqs[0]}$$", ""]
    lines += ["SymPy's diff of it, with its repeated parts named:", ""]
    lines += [f"$${e}$$" for e in eqs[1:]]
    return [*lines, "", *[f"{line}  " for line in _check_lines(d, c)]]
