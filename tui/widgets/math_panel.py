"""The chain rule of the selected weight, in numbers, updated as the network learns.

For ``w = W[j,k]`` of a Dense layer, ``∂L/∂w = ∂L/∂z_j · ∂z_j/∂w = δ_j · a_k``: the error signal of
the unit ``w`` feeds times the input it multiplies. The panel shows that product for one training
sample with today's numbers, next to the engine's gradient on the last mini-batch; ``d`` opens
the full derivation, factor by factor.
"""

from __future__ import annotations

import textwrap

from tui.drawing import number
from tui.session.probes import parse_param
from tui.session.records import ChainRule, ParamNote
from tui.widgets.text_lines import Line, TextLines

SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def chain_lines(chain: ChainRule, lr: float, optimizer: str) -> list[Line]:
    """The panel's lines for one parameter entry, most important first."""
    _, kind, j, k = parse_param(chain.param)
    sj, sk = str(j).translate(SUBSCRIPTS), str(k).translate(SUBSCRIPTS)
    w = "w" if kind == "W" else "b"
    a = f"a{sk}" if kind == "W" else "1"
    xs = ", ".join(number(v, 3) for v in chain.x)
    where = f"{chain.unit} ← {chain.source}" if kind == "W" else chain.unit
    batch = number(chain.batch_grad, 4)
    return [
        [(chain.param, "bold"), (f" = {number(chain.value, 4)}", "")],
        [(f"∂L/∂{w} = ∂L/∂z{sj} · ∂z{sj}/∂{w}", "")],
        [(f"      = δ{sj} · {a}", "")],
        [(f"      = ({number(chain.delta, 4)}) × ({number(chain.a, 4)})", "")],
        [("      = ", ""), (number(chain.grad, 4), "bold")],
        [(f"sample {chain.sample}: y = {chain.y}, L = {number(chain.loss)}", "")],
        [(f"last batch ∂L/∂{w} = {batch}", "dim")],
        [(f"  {optimizer}, lr {number(lr)}", "dim")],  # own lines: a narrow panel cuts a long one
        [(where, "dim")],
        [(f"x = ({xs})", "dim")],
        [("n: next sample · d: every step", "dim")],
    ]


def note_lines(note: ParamNote, lr: float, optimizer: str, width: int) -> list[Line]:
    """The lines where ``δ·a`` is not drawn: the value, the gradient, what the layer does."""
    shape = "×".join(str(s) for s in note.shape)
    width = max(width, 20)
    lines: list[Line] = [
        [(note.param, "bold"), (f" = {number(note.value, 4)}", "")],
        [("last batch ∂L/∂θ = ", ""), (number(note.batch_grad, 4), "bold")],
    ]
    paragraphs = [
        (f"one of {shape} in {note.layer}; {optimizer}, lr {number(lr)}", "dim"),
        (note.formula, ""),
        (
            "The per-weight chain rule δ·a is drawn for plain Dense stacks. "
            "d: the full derivation, where derive follows these layers · ←→ layer · ↑↓ entry",
            "dim",
        ),
    ]
    for text, style in paragraphs:
        parts = textwrap.wrap(text, width, max_lines=4, placeholder=" …")  # a cut ends in …
        lines += [[(part, style)] for part in parts]
    return lines


class MathPanel(TextLines):
    """``∂L/∂w = δ · a`` for the selected weight and the current sample."""

    def show(self, chain: ChainRule | ParamNote | None, lr: float, optimizer: str) -> None:
        """Writes the chain rule of ``chain`` (None: nothing selected yet)."""
        if chain is None:
            self.show_lines([[("Select a weight with the arrow keys or the mouse.", "dim")]])
        elif isinstance(chain, ParamNote):
            self.show_lines(note_lines(chain, lr, optimizer, self.size.width or 40))
        else:
            self.show_lines(chain_lines(chain, lr, optimizer))
