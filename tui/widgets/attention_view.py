"""A text model on one test window: where it looks (attention weights) and what it writes.

The heat map is one head's weights A[query, key] of the last forward pass: row t shows how much
position t draws on each earlier position (causal: never a later one), the key's character above
its column, the query's at the left. ``h`` steps through the heads of every block, numbered from 1
as the derivation numbers them ("head 1 of 2"). Below, the window, the true next characters, the
network's most likely next characters (green where right) and what it writes on its own after the
window, one most likely character at a time.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical

from engine.layers.sequence import MultiHeadSelfAttention
from tui.messages import Requested
from tui.session.probes_nets import attention_map
from tui.session.records import AttentionMap, Scene
from tui.session.views import ViewDef, ViewKey, register
from tui.widgets.heat_map import HeatMap
from tui.widgets.text_lines import Line, TextLines

VISIBLE = str.maketrans({"\n": "↵", "\t": "→", "\r": "↵"})
LABEL_W = 9


def visible(text: str) -> str:
    """Line breaks and tabs as one visible character each, so columns stay aligned."""
    return text.translate(VISIBLE)


def text_lines(att: AttentionMap, right: str, wrong: str) -> list[Line]:
    """The window, the target, the prediction (coloured by ``right``/``wrong``), the writing."""
    predicted: Line = [("predicts".ljust(LABEL_W), "dim")]
    hits = sum(p == t for p, t in zip(att.predicted, att.target))
    for p, t in zip(visible(att.predicted), visible(att.target)):
        predicted.append((p, right if p == t else wrong))
    predicted.append((f"  {hits}/{len(att.target)}", "dim"))
    return [
        [("reads".ljust(LABEL_W), "dim"), (visible(att.text), "")],
        [("next".ljust(LABEL_W), "dim"), (visible(att.target), "")],
        predicted,
        [("writes".ljust(LABEL_W), "dim"), (visible(att.text[-8:]), "dim"),
         (visible(att.generated), "bold")],
    ]  # fmt: skip


class AttentionView(Vertical):
    """Attention weights of one head as a heat map, and the text read and written."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"attention-view--right", "attention-view--wrong"}
    DEFAULT_CSS = """
    AttentionView > .attention-view--right { color: $success; }
    AttentionView > .attention-view--wrong { color: $error; }
    .view-caption { height: 1; }
    #attention-map { height: 1fr; }
    #attention-text { height: 4; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.attention: AttentionMap | None = None

    def compose(self) -> ComposeResult:
        yield TextLines(id="attention-caption", classes="view-caption")
        yield HeatMap(id="attention-map")
        yield TextLines(id="attention-text")

    def action_next_head(self) -> None:
        """Shows the next head (through every head of every attention layer)."""
        self.post_message(Requested(lambda session: session.next_head()))

    def show(self, scene: Scene, att: AttentionMap | None) -> None:
        """Draws a new measurement; None keeps the last one."""
        if att is None:
            return
        self.attention = att
        heat = self.query_one("#attention-map", HeatMap)
        if att.weights is None:
            caption = f"test window #{att.sample} (n/N) · this network has no attention layer"
            heat.show(None, (0.0, 1.0))
        else:
            caption = (
                f"head {att.head + 1} of {att.heads}, layer {att.layer} (block {att.block + 1} of "
                f"{att.blocks}) · h: next head · test window #{att.sample} (n/N) · "
                "row: query, column: key"
            )
            text = visible(att.text)
            heat.show(att.weights, (0.0, 1.0), top=text, left=list(text), gamma=0.5, pairs=True)
        self.query_one("#attention-caption", TextLines).show_lines([[(caption, "dim")]])
        right = self.get_component_styles("attention-view--right").color.hex
        wrong = self.get_component_styles("attention-view--wrong").color.hex
        self.query_one("#attention-text", TextLines).show_lines(text_lines(att, right, wrong))


register(
    ViewDef(
        "attention",
        "attention weights · text",
        AttentionView,
        "attention",
        applies=lambda s: s.has(MultiHeadSelfAttention) or s.text,
        probe=lambda p: attention_map(p.net, p.data, p.sample, p.head),
        record=AttentionMap,
        network=True,
        keys_note="h: next head · n/N: next test window",
        keys=(
            ViewKey(
                "h",
                "next_head",
                does="steps through attention heads",
                missing="this network has none",
                help="attention: next head (of every block)",
            ),
        ),
        help="a text model: one head's attention weights, the text it reads and writes",
    ),
)
