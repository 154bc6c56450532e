"""``d``: the derivation of the selected weight's gradient, one step at a time.

Forward pass, loss, every chain-rule factor and the optimiser's update, for the chosen training
sample, each with its rule, its symbolic form, the same with today's numbers, and its value. The
update is the trainer's next step, along the gradient of the mini-batch it trains on next (the
sample one of its terms when the batch holds it), so it ends at the weight that step gives. The
derivation runs on a copy of the network taken when ``d`` was pressed (``NetCopy``), on a thread,
so training goes on meanwhile. Below the steps, the result is checked against the engine's own
backward pass, and every parameter's symbolic gradient against the engine's. Both sides compute
in float64 from the network's weights and the inputs as the network sees them (a float32
network's inputs rounded to float32), so they agree to float64 precision whatever the network's
own dtype: the check allows a relative error of √ε of float64.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from rich.text import Text
from sympy.printing.pretty.pretty_symbology import pretty_use_unicode
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from derive import VIEWS, Derivation, Step, derive, verify_report
from derive.batch import arrange
from derive.expr import abbreviate
from derive.factor_quiz import FactorQuestion, question
from derive.notation import decode, unicode_name
from derive.printers import unicode, wrap
from derive.render import value_text
from derive.verify import float64_twin
from engine.errors import UserError
from tui.deliver import deliver_text
from tui.drawing import number
from tui.screens.help import HelpScreen
from tui.session.params import parse_entry
from tui.session.records import NetCopy
from tui.widgets.too_small import TooSmall

PART_TITLES = {
    "forward": "forward pass",
    "loss": "loss",
    "backward": "backward pass: the chain rule",
    "update": "update",
}


CHECK_DTYPE = np.float64  # what the chain rule and the engine's backward compute in, here


def check_tolerance(dtype: npt.DTypeLike = CHECK_DTYPE) -> float:
    """The relative error two computations in ``dtype`` may show: √ε (1.5e-8 in float64).

    The two sides add the same terms in different orders, so they part by a few ε times the
    sizes of the terms over the sum's: √ε leaves room for that, and is still far below what a
    wrong factor or an input rounded differently (float32, ε ≈ 1.2e-7) gives.
    """
    return float(np.sqrt(np.finfo(dtype).eps))


def relative_error(value: float, reference: float) -> float:
    """|value − reference| over the larger of the two; 0 when both are 0."""
    scale = max(abs(value), abs(reference))
    return abs(value - reference) / scale if scale > 0 else 0.0


TRIES = 3
"""Wrong answers to a step's formula before it is shown."""

# What tells apart two steps that give the same quantity, by the second one's rule.
SAME_LABEL = {
    "path": "along the path",
    "paths": "over the paths",
    "through": "through the layer",
    "chain_dense": "into the block",
}


def export_name(param: str, suffix: str, view: str = "index") -> Path:
    """``derivation-2.W_0_1-index.tex`` for ``"2.W[0,1]"`` in the index view: a file name
    without brackets, one per view, so exporting both views keeps both."""
    stem = re.sub(r"[^0-9A-Za-z.]+", "_", param).strip("_")
    return Path(f"derivation-{stem}-{view}.{suffix}")


def step_names(d: Derivation) -> list[str]:
    """Each step's label, made unique: a quantity given twice (∂L/∂W as δ·a, then as the
    product along the path) has its second step named by its rule, or numbered."""
    names: list[str] = []
    for step in d.steps:
        name = step.label
        if name in names:
            name = f"{name} ({SAME_LABEL.get(step.rule.key, step.part)})"
        count = 2
        while name in names:
            name = f"{step.label} ({count})"
            count += 1
        names.append(name)
    return names


def meaning(step: Step) -> tuple[str, ...]:
    """What a step computes, apart from the view: (part, quantity, layer) — δ²₀ in the index
    view and the vector δ² in the vector view mean the same step."""
    n = decode(getattr(step.lhs, "name", str(step.lhs)))
    if n.wrt is not None:
        return (step.part, "d", n.base, n.wrt.base, n.wrt.sup)
    if n.arg is not None:
        return (step.part, "prime", n.base, n.arg.base, n.arg.sup)
    return (step.part, n.base, n.sup)


def matching_step(step: Step, d: Derivation) -> int:
    """The step of ``d`` that means what ``step`` means; else the first of its part."""
    want = meaning(step)
    for i, other in enumerate(d.steps):
        if meaning(other) == want:
            return i
    if step.lhs in {s.lhs for s in d.steps}:
        return next(i for i, s in enumerate(d.steps) if s.lhs == step.lhs)
    return next((i for i, s in enumerate(d.steps) if s.part == step.part), 0)


def plain_number(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, never ``-0``."""
    return f"{value + 0.0:.{digits}g}" if value != 0 else "0"


class DerivationScreen(Screen[None]):
    """Steps through ∂L/∂w for one weight and one sample; escape returns to training.

    ``f`` turns on "type it first": each backward step of the index view that a plain formula
    can write is hidden until the learner types its formula (``derive.factor_quiz``), in the
    names listed beside the box. A wrong formula gets a hint naming the slip; after three, the
    step is shown; a right one shows it and moves on.
    """

    DEFAULT_CSS = """
    DerivationScreen #step-detail {
        scrollbar-gutter: stable;
    }
    DerivationScreen #factor-prompt, DerivationScreen #factor-hint {
        width: 1fr;
        height: auto;
    }
    DerivationScreen #factor-input {
        width: 1fr;
    }
    DerivationScreen #factor-hint {
        color: $warning;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("right", "move(1)", "Next"),
        Binding("left", "move(-1)", "Previous"),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("v", "toggle_view", "Index/vector"),
        Binding("f", "toggle_quiz", "Type it first"),
        Binding("x", "export('latex')", "LaTeX"),
        Binding("m", "export('markdown')", "Markdown"),
        Binding("question_mark", "help", "Keys", key_display="?"),
    ]

    class FactorChecked(Message):
        """A typed formula was checked: ``correct``, or wrong with the checker's ``kind``;
        ``shown`` once the step is shown (right, or after the last try)."""

        def __init__(self, label: str, correct: bool, kind: str, shown: bool) -> None:
            super().__init__()
            self.label, self.correct, self.kind, self.shown = label, correct, kind, shown

    index: reactive[int] = reactive(0)
    """The step shown (0-based)."""
    view: reactive[str] = reactive("index")
    """"index" (per weight, along its paths) or "vector" (layer by layer)."""

    def __init__(self, copy: NetCopy, param: str) -> None:
        super().__init__()
        self.copy = copy
        self.param = param
        self.derivations: dict[str, Derivation | str] = {}
        self.engine_value: float | None = None
        self.verify_summary = "checking every parameter…"
        self.exported: Path | None = None
        self.quiz = False
        """Whether backward steps are typed before they are shown (``f``)."""
        self.answered: dict[tuple[str, int], str] = {}
        """(view, step) → "right" or "shown" (after the last wrong try)."""
        self.tries: dict[tuple[str, int], int] = {}
        self._hint = ""
        self._meaning: Step | None = None  # the step to find again after ``v``

    @property
    def derivation(self) -> Derivation | None:
        """The derivation of the current view, once computed."""
        found = self.derivations.get(self.view)
        return found if isinstance(found, Derivation) else None

    def compose(self) -> ComposeResult:
        yield Static("", id="derivation-header")
        with Horizontal(id="derivation-body"):
            with VerticalScroll(id="steps", can_focus=False):
                yield Static("", id="steps-list")
            with VerticalScroll(id="step-detail", can_focus=False):
                yield Static("", id="step-rule")
                yield Static("deriving…", id="step-text")
                yield Static("", id="factor-prompt")
                yield Input(placeholder="type the formula, then enter", id="factor-input")
                yield Static("", id="factor-hint")
        yield Static("", id="derivation-check")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        # SymPy picks Unicode or ASCII drawing from sys.stdout's encoding when first imported;
        # inside the app stdout is captured and has none, so say it: the terminal draws Unicode.
        pretty_use_unicode(True)
        self.query_one("#steps").border_title = "steps"
        self._show_quiz(None)
        self._derive(self.view)
        self._check_all()

    # ------------------------------------------------------------------ computing, on threads
    def shown(self) -> tuple[Any, Any, int, tuple[Any, Any] | None]:
        """``derive``'s x, y, sample and batch: the next step's batch, the sample as one of it."""
        c = self.copy
        if c.batch_rows is None:
            return c.x, c.y, 0, None
        return arrange(c.x, c.y, c.sample, c.batch_x, c.batch_y, c.batch_rows)

    @work(thread=True, group="derive")
    def _derive(self, view: str) -> None:
        c, t = self.copy, self.copy.experiment.train
        x, y, sample, batch = self.shown()
        try:
            d: Derivation | str = derive(
                c.net, x, y, loss=t.loss, param=self.param, view=view, sample=sample,
                l1=t.l1, l2=t.l2, optimizer=c.optimizer, batch=batch,
            )  # fmt: skip
        except UserError as exc:
            d = f"{exc.message}. {exc.hint}"
        except Exception as exc:  # a derivation that fails must leave training alone
            d = f"the derivation failed: {type(exc).__name__}: {exc}"
        if self.engine_value is None:
            try:
                self.engine_value = self.engine_gradient()
            except (ValueError, KeyError, IndexError) as exc:
                d = d if isinstance(d, str) else f"cannot read {self.param}: {exc}"
        self.app.call_from_thread(self._derived, view, d)

    def _derived(self, view: str, d: Derivation | str) -> None:
        self.derivations[view] = d
        if view == self.view:
            self._arrive()
            self._show()

    @work(thread=True, group="verify")
    def _check_all(self) -> None:
        c, t = self.copy, self.copy.experiment.train
        try:
            text = verify_report(c.net, c.x, c.y, t.loss, t.l1, t.l2).summary()
        except Exception as exc:
            text = f"verify failed: {type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._checked_all, text)

    def _checked_all(self, text: str) -> None:
        self.verify_summary = text
        self._show_check()

    def engine_gradient(self) -> float:
        """The engine's gradient of this parameter for the derivation's samples, in float64."""
        c, t = self.copy, self.copy.experiment.train
        x_shown, y_shown, _, _ = self.shown()
        twin = float64_twin(c.net)
        x = np.asarray(c.net.as_input(x_shown), dtype=np.float64)  # the numbers the network sees
        twin.loss_and_grad(x, y_shown, t.loss, t.l1, t.l2)
        name, index = parse_entry(self.param)
        return float(twin.grads[name][index])

    # ------------------------------------------------------------------ showing
    def _count(self) -> int:
        d = self.derivation
        return len(d.steps) if d is not None else 0

    def watch_index(self) -> None:
        self._show()

    def on_resize(self) -> None:
        self._show()  # wide expressions are cut to the panel's new width

    def watch_view(self) -> None:
        if self.view not in self.derivations:
            self.query_one("#step-text", Static).update(f"deriving the {self.view} view…")
            self._derive(self.view)
        else:
            self._arrive()
        self._show()

    def _arrive(self) -> None:
        """On the view's derivation, the step that means what the other view's step meant."""
        d = self.derivation
        if d is None:
            self.index = 0
            return
        if self._meaning is not None:
            self.index = matching_step(self._meaning, d)
            self._meaning = None
        self.index = min(self.index, len(d.steps) - 1)

    @property
    def is_open(self) -> bool:
        """Whether the screen is still open: a thread may finish after escape closed it."""
        return self.is_mounted and self in self.app.screen_stack

    def _show(self) -> None:
        if not self.is_open:
            return
        found = self.derivations.get(self.view)
        if isinstance(found, str):
            self.query_one("#step-text", Static).update(Text(found, style="bold red"))
            return
        if found is None:
            return
        self.query_one("#derivation-header", Static).update(self._header(found))
        listing, line = self._list(found)
        self.query_one("#steps-list", Static).update(listing)
        steps = self.query_one("#steps", VerticalScroll)
        steps.scroll_to(y=max(0, line - steps.size.height // 2), animate=False)
        step, name = found.steps[self.index], step_names(found)[self.index]
        asked = self.asking()
        rule = "?" if asked else step.rule.text
        self.query_one("#step-rule", Static).update(Text(f"{name}: {rule}"))
        self.query_one("#step-text", Static).update(self._detail(found))
        self._show_quiz(asked)
        self.query_one("#step-detail").border_title = PART_TITLES[found.steps[self.index].part]
        self.query_one("#step-detail", VerticalScroll).scroll_home(animate=False)
        self._show_check()

    def _header(self, d: Derivation) -> Text:
        x, y = _few_numbers(d.x), _few_numbers(d.y)
        text = Text(f"∂L/∂{unicode_name(d.symbol.name)}", style="bold")
        text.append(f" (engine: {self.param})")  # the maths counts layers from 1, the engine 0
        text.append(f"   {d.view} view", style="bold")
        keys = " · v view" if d.view in VIEWS else ""  # a layer derivation has one view
        quiz = " · f: typing each step first" if self.quiz else ""
        text.append(f" · step {self.index + 1} of {len(d.steps)} · ← → step{keys}{quiz}\n")
        text.append(f"{d.network} · loss {d.loss} · training sample {self.copy.sample}: ")
        text.append(f"x = ({x}), y = ({y}) · weights of step {self.copy.step}", style="dim")
        return text

    def _list(self, d: Derivation) -> tuple[Text, int]:
        """The steps grouped by part, the current one highlighted; and that one's line."""
        text, part, lines, current = Text(no_wrap=True, overflow="ellipsis"), "", 0, 0
        for i, (step, name) in enumerate(zip(d.steps, step_names(d))):
            if step.part != part:
                part = step.part
                text.append(f"{PART_TITLES[part]}\n", style="bold underline")
                lines += 1
            if i == self.index:
                current = lines
            style = "reverse bold" if i == self.index else ""
            hidden = self.quiz and self._question(i) is not None and not self._answered(i)
            text.append(f"{i + 1:>3} {name}{' ?' if hidden else ''}\n", style=style)
            lines += 1
        return text, current

    def _detail(self, d: Derivation) -> Text:
        """The step's forms, long sums shortened and wide lines wrapped to the panel."""
        step = d.steps[self.index]
        width = self.query_one("#step-detail").scrollable_content_region.width or None

        def fit(line: str) -> str:  # a line of text, wrapped at its spaces to the panel
            return "\n".join(wrap(line, width, indent="  ")) if width else line

        asked = self.asking()
        if asked is not None:
            text = Text(no_wrap=True)
            text.append(fit(f"{asked.lhs} = ?") + "\n\n", style="bold")
            text.append(fit("Type it as a formula of the names below, then enter."), style="dim")
            return text
        general = step.general
        if width and max(len(line) for line in unicode(general).splitlines()) > width:
            general = abbreviate(general)
        text = Text(no_wrap=True)
        text.append("symbolic\n", style="dim")
        text.append(unicode(general, width=width) + "\n")
        if general is not step.general:
            note = "shortened to fit the panel; x and m export it as derived"
            text.append(fit(note) + "\n", style="dim")
        text.append("\n")
        if step.substituted is not None:
            text.append("with today's numbers\n", style="dim")
            text.append(unicode(step.substituted, width=width) + "\n\n")
        text.append("value\n", style="dim")
        text.append(fit(f"{step.label} = {value_text(step.value)}"), style="bold")
        answered = self.answered.get((self.view, self.index))
        if self.quiz and answered:
            how = "you typed it" if answered == "right" else f"shown after {TRIES} wrong tries"
            text.append(f"\n({how})", style="dim")
        return text

    def _show_check(self) -> None:
        if not self.is_open:
            return
        d = self.derivation
        line = Text()
        engine = self.engine_value
        if d is not None and engine is not None:
            error, tolerance = relative_error(d.value, engine), check_tolerance()
            ok = error <= tolerance
            line.append("✓ " if ok else "✗ ", style="bold green" if ok else "bold red")
            line.append(f"chain rule ∂L/∂w = {plain_number(d.value, 10)}   engine backward ")
            line.append(f"(float64) = {plain_number(engine, 10)}   relative error {error:.2g} ")
            line.append(f"({'within' if ok else 'beyond'} {tolerance:.1g}, float64)", style="dim")
            if d.check is not None:
                line.append(f"   SymPy diff of the whole loss: |error| = {d.check.difference:.2g}")
        line.append(f"\nall parameters: {self.verify_summary}", style="dim")
        self.query_one("#derivation-check", Static).update(line)

    # ------------------------------------------------------------------ keys
    def action_move(self, delta: int) -> None:
        if self._count():
            self.index = max(0, min(self._count() - 1, self.index + delta))

    def action_jump(self, where: int) -> None:
        if self._count():
            self.index = where % self._count()

    def action_toggle_view(self) -> None:
        d = self.derivation
        if d is not None and d.view not in VIEWS:
            self.notify(
                "The index and vector views are for Dense stacks; this network's derivation "
                "goes layer by layer, in one view.",
                title="v: one view here",
            )
            return
        if d is not None:
            self._meaning = d.steps[self.index]
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]

    def action_export(self, fmt: str) -> None:
        d = self.derivation
        if d is None:
            self.notify("The derivation is not ready yet.", severity="warning")
            return
        path = export_name(self.param, "tex" if fmt == "latex" else "md", d.view)
        try:
            where = deliver_text(self.app, path, d.render(fmt))
        except OSError as exc:
            self.notify(f"Cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(where)
        self.exported = path

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_back(self) -> None:
        box = self.query_one("#factor-input", Input)
        if box.has_focus:  # first escape leaves the box, so ← → move between steps again
            self.set_focus(None)
            return
        self.app.pop_screen()

    # ------------------------------------------------------------------ type it first (f)
    def _question(self, index: int) -> FactorQuestion | None:
        d = self.derivation
        if d is None or d.view != "index":
            return None
        return question(d.steps, index)

    def _answered(self, index: int) -> bool:
        return (self.view, index) in self.answered

    def asking(self) -> FactorQuestion | None:
        """The question of the step shown, while it waits for its formula; else None."""
        if not self.quiz or self.derivation is None or self._answered(self.index):
            return None
        return self._question(self.index)

    def action_toggle_quiz(self) -> None:
        self.quiz = not self.quiz
        self._hint = ""
        d = self.derivation
        if self.quiz and d is not None and d.view != "index":
            self.notify(
                "Formulas are typed in the index view of a Dense stack, where every quantity "
                "is one number: press v for it." if d.view in VIEWS else
                "Formulas are typed in the index view of a Dense stack; this network's "
                "derivation goes layer by layer, with vectors.",
                title="f: type it first",
            )  # fmt: skip
        self._show()

    def _show_quiz(self, asked: FactorQuestion | None) -> None:
        prompt = self.query_one("#factor-prompt", Static)
        box = self.query_one("#factor-input", Input)
        hint = self.query_one("#factor-hint", Static)
        for widget in (prompt, box, hint):
            widget.display = asked is not None
        if asked is None:
            if box.has_focus:
                self.set_focus(None)
            return
        tries = self.tries.get((self.view, self.index), 0)
        prompt.update(
            Text.assemble(
                ("names: ", "dim"),
                asked.vocabulary(),
                ("\nfunctions: sigmoid tanh exp log relu sqrt abs · ^ or ** for powers", "dim"),
                (f"\ntry {tries + 1} of {TRIES} · enter checks · esc leaves the box", "dim"),
            )
        )
        hint.update(self._hint)
        if not box.has_focus:
            box.focus()

    @on(Input.Submitted, "#factor-input")
    def _typed(self, event: Input.Submitted) -> None:
        asked = self.asking()
        if asked is None or not event.value.strip():
            return
        key = (self.view, self.index)
        verdict = asked.check(event.value)
        event.input.value = ""
        if verdict.correct:
            self.answered[key] = "right"
            self._hint = ""
            self.notify(f"{asked.lhs} = {asked.answer}", title="Right")
            self.post_message(self.FactorChecked(asked.lhs, True, verdict.kind, True))
            if self.index < self._count() - 1:
                self.index += 1  # watch_index shows the next step
            else:
                self._show()
            return
        self.tries[key] = tries = self.tries.get(key, 0) + 1
        shown = tries >= TRIES
        if shown:
            self.answered[key] = "shown"
            self._hint = ""
            self.notify(f"{verdict.message} Here it is: {asked.answer}", title="Shown")
        else:
            self._hint = verdict.message
        self.post_message(self.FactorChecked(asked.lhs, False, verdict.kind, shown))
        self._show()


def _few_numbers(values: npt.ArrayLike, shown: int = 6) -> str:
    """Up to ``shown`` numbers; a longer vector (a sequence, an image) as its ends and its size."""
    flat = [number(float(v) + 0.0, 4) for v in np.ravel(values)]  # + 0.0: never "-0"
    if len(flat) <= shown:
        return ", ".join(flat)
    return ", ".join([*flat[:3], "…", *flat[-2:]]) + f" ({len(flat)} values)"
