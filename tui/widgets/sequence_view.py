"""A recurrent network on one test sequence: its prediction against the target over time, and
its hidden state h_t, unit by unit, as a heat map below.

Where the network answers once per sequence (the adding problem), the line is the read-out of
every h_t: the answer it would give if the sequence stopped there. It jumps when a marked value
(drawn as a point) arrives, and only its last value is trained towards the target.
"""

from __future__ import annotations

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical

from tui.session.probes_nets import RECURRENT, sequence_fit
from tui.session.records import Scene, SequenceFit
from tui.session.views import ViewDef, register
from tui.widgets.chart import Chart, Series
from tui.widgets.heat_map import HeatMap
from tui.widgets.text_lines import TextLines


class SequenceView(Vertical):
    """Prediction and target over time (chart), hidden state over time (heat map)."""

    DEFAULT_CSS = """
    .view-caption { height: 1; }
    #sequence-chart { height: 3fr; }
    #hidden-map { height: 2fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fit: SequenceFit | None = None

    def compose(self) -> ComposeResult:
        yield TextLines(id="sequence-legend", classes="view-caption")
        yield Chart(id="sequence-chart")
        yield TextLines(id="hidden-caption", classes="view-caption")
        yield HeatMap(id="hidden-map")

    def show(self, scene: Scene, fit: SequenceFit | None) -> None:
        """Draws a new measurement; None keeps the last one."""
        if fit is None:
            return
        self.fit = fit
        steps = np.arange(len(fit.target), dtype=np.float64)
        series = [
            Series(steps, fit.target, "chart--c"),
            Series(steps, fit.predicted, "chart--a"),
        ]
        if len(fit.marks[0]):
            series.append(Series(fit.marks[0], fit.marks[1], "chart--b", points=True))
        self.query_one("#sequence-chart", Chart).plot(series)
        error = float(np.mean((fit.predicted - fit.target) ** 2))
        if not fit.per_step:
            error = float((fit.predicted[-1] - fit.target[-1]) ** 2)
        what = "prediction" if fit.per_step else "read-out of h_t"
        legend = [
            (f"#{fit.sample} (n/N) ", ""),
            ("━", self._colour("chart--c")),
            (" target ", ""),
            ("━", self._colour("chart--a")),
            (f" {what}", ""),
        ]
        if len(fit.marks[0]):
            legend += [(" ⠂", self._colour("chart--b")), (" marked", "")]
        legend.append((f" · err² {error:.2g}", "dim"))
        self.query_one("#sequence-legend", TextLines).show_lines([legend])
        units, steps_n = fit.hidden.shape
        heat = self.query_one("#hidden-map", HeatMap)
        heat.show(
            fit.hidden, (-1.0, 1.0), signed=True, left=[str(u) for u in range(units)], square=False
        )
        rows = heat.rows_that_fit(units) if heat.size.height else units
        more = f"units 0–{rows - 1} of {units}" if rows < units else f"{units} units"
        self.query_one("#hidden-caption", TextLines).show_lines(
            [[(f"h_t of {fit.layer}: {more} × {steps_n} steps  ", "dim"),
              ("■ +", self._colour("heat-map--positive", heat)),
              (" ■ −", self._colour("heat-map--negative", heat))]]
        )  # fmt: skip

    def _colour(self, component: str, widget: Chart | HeatMap | None = None) -> str:
        """A colour of the chart (or ``widget``), as a Rich style."""
        widget = widget or self.query_one(Chart)
        return (widget.background_colors[1] + widget.get_component_styles(component).color).hex


register(
    ViewDef(
        "sequence",
        "prediction vs target · hidden state",
        SequenceView,
        "sequence",
        applies=lambda s: s.has(*RECURRENT) and s.regression,
        probe=lambda p: sequence_fit(p.net, p.data, p.sample),
        record=SequenceFit,
        network=True,
        keys_note="n/N: next test sequence",
        help="a recurrent network: prediction against target over time, and its hidden state",
    ),
)
