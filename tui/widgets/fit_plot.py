"""Regression without a plane to colour: the fitted curve over the data (1-D), or predicted
against true values (any other regression)."""

from __future__ import annotations

import numpy as np

from tui.session.probes import curve_view, scatter_view
from tui.session.records import Curve, Scatter, Scene
from tui.session.views import ViewDef, register
from tui.widgets.chart import Chart, Series


class FitPlot(Chart):
    """The data as points and the network's fit as a line."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.scene: Scene | None = None

    def show(self, scene: Scene, view: Curve | Scatter | None) -> None:
        """Draws the newest fit; ``view`` None keeps the last one."""
        if view is None:
            if scene is not self.scene:
                self.scene = scene
            return
        self.scene = scene
        if isinstance(view, Curve):
            data = scene.data
            self.plot(
                [
                    Series(data.X_test[:, 0], data.y_test.reshape(-1), "chart--c", points=True),
                    Series(data.X_train[:, 0], data.y_train.reshape(-1), "chart--d", points=True),
                    Series(view.x, view.y, "chart--a"),
                ]
            )
        else:
            lo = float(np.nanmin(view.true)) if view.true.size else 0.0
            hi = float(np.nanmax(view.true)) if view.true.size else 1.0
            line = np.array([lo, hi])
            self.plot(
                [
                    Series(line, line, "chart--c"),
                    Series(view.true, view.predicted, "chart--a", points=True),
                ]
            )


register(
    ViewDef(
        "curve",
        "fitted curve · data · prediction",
        FitPlot,
        "fit",
        applies=lambda s: not s.plane and s.regression and s.data.n_features == 1,
        probe=lambda p: curve_view(p.scene, p.net),
        record=Curve,
        help="one input: the fitted function over the data points",
    ),
    ViewDef(
        "scatter",
        "predicted vs true (test set)",
        FitPlot,
        "fit",
        applies=lambda s: not s.plane and s.regression and s.data.n_features != 1,
        probe=lambda p: scatter_view(p.scene, p.net),
        record=Scatter,
        help="any other regression: predicted against true values on the test set",
    ),
)
