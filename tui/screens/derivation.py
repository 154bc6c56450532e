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
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static

from derive import VIEWS, Derivation, derive, verify_report
from derive.batch import arrange
from derive.expr import abbreviate
from derive.printers import unicode
from derive.render import value_text
from derive.verify import float64_twin
from engine.errors import UserError
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


def export_name(param: str, suffix: str) -> Path:
    """``derivation-2.W_0_1.tex`` for ``"2.W[0,1]"`` — a file name without brackets."""
    return Path(f"derivation-{re.sub(r'[^0-9A-Za-z.]+', '_', param).strip('_')}.{suffix}")


class DerivationScreen(Screen[None]):
    """Steps through ∂L/∂w for one weight and one sample; escape returns to training."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("right", "move(1)", "Next"),
        Binding("left", "move(-1)", "Previous"),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("v", "toggle_view", "Index/vector"),
        Binding("x", "export('latex')", "LaTeX"),
        Binding("m", "export('markdown')", "Markdown"),
        Binding("question_mark", "help", "Keys", key_display="?"),
    ]

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
        yield Static("", id="derivation-check")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        # SymPy picks Unicode or ASCII drawing from sys.stdout's encoding when first imported;
        # inside the app stdout is captured and has none, so say it: the terminal draws Unicode.
        pretty_use_unicode(True)
        self.query_one("#steps").border_title = "steps"
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
            self.index = min(self.index, self._count() - 1) if self._count() else 0
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
        self._show()

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
        step = found.steps[self.index]
        self.query_one("#step-rule", Static).update(Text(f"{step.label}: {step.rule.text}"))
        self.query_one("#step-text", Static).update(self._detail(found))
        self.query_one("#step-detail").border_title = PART_TITLES[found.steps[self.index].part]
        self.query_one("#step-detail", VerticalScroll).scroll_home(animate=False)
        self._show_check()

    def _header(self, d: Derivation) -> Text:
        x, y = _few_numbers(d.x), _few_numbers(d.y)
        text = Text(f"∂L/∂{self.param}", style="bold")
        text.append(f"   {d.view} view", style="bold")
        keys = " · v view" if d.view in VIEWS else ""  # a layer derivation has one view
        text.append(f" · step {self.index + 1} of {len(d.steps)} · ← → step{keys}\n")
        text.append(f"{d.network} · loss {d.loss} · training sample {self.copy.sample}: ")
        text.append(f"x = ({x}), y = ({y}) · weights of step {self.copy.step}", style="dim")
        return text

    def _list(self, d: Derivation) -> tuple[Text, int]:
        """The steps grouped by part, the current one highlighted; and that one's line."""
        text, part, lines, current = Text(no_wrap=True, overflow="ellipsis"), "", 0, 0
        for i, step in enumerate(d.steps):
            if step.part != part:
                part = step.part
                text.append(f"{PART_TITLES[part]}\n", style="bold underline")
                lines += 1
            if i == self.index:
                current = lines
            style = "reverse bold" if i == self.index else ""
            text.append(f"{i + 1:>3} {step.label}\n", style=style)
            lines += 1
        return text, current

    def _detail(self, d: Derivation) -> Text:
        """The step's forms, long sums shortened and wide lines cut to the panel (↪ … ↪)."""
        step = d.steps[self.index]
        width = self.query_one("#step-detail").scrollable_content_region.width or None
        general = step.general
        if width and max(len(line) for line in unicode(general).splitlines()) > width:
            general = abbreviate(general)
        text = Text(no_wrap=True)
        text.append("symbolic\n", style="dim")
        text.append(unicode(general, width=width) + "\n")
        if general is not step.general:
            text.append("shortened to fit the panel; x and m export it as derived\n", style="dim")
        text.append("\n")
        if step.substituted is not None:
            text.append("with today's numbers\n", style="dim")
            text.append(unicode(step.substituted, width=width) + "\n\n")
        text.append("value\n", style="dim")
        text.append(f"{step.label} = {value_text(step.value)}", style="bold")
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
            line.append(f"chain rule ∂L/∂w = {d.value:.10g}   engine backward (float64) = ")
            line.append(f"{engine:.10g}   relative error {error:.2g} ")
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
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]

    def action_export(self, fmt: str) -> None:
        d = self.derivation
        if d is None:
            self.notify("The derivation is not ready yet.", severity="warning")
            return
        path = export_name(self.param, "tex" if fmt == "latex" else "md")
        try:
            path.write_text(d.render(fmt), encoding="utf-8")
        except OSError as exc:
            self.notify(f"Cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"Wrote {path.resolve()}")
        self.exported = path

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_back(self) -> None:
        self.app.pop_screen()


def _few_numbers(values: npt.ArrayLike, shown: int = 6) -> str:
    """Up to ``shown`` numbers; a longer vector (a sequence, an image) as its ends and its size."""
    flat = [number(float(v), 4) for v in np.ravel(values)]
    if len(flat) <= shown:
        return ", ".join(flat)
    return ", ".join([*flat[:3], "…", *flat[-2:]]) + f" ({len(flat)} values)"
