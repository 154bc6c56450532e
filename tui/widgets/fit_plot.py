"""Regression without a plane to colour: the fitted curve over the data (1-D), or predicted
against true values (any other regression)."""

from __future__ import annotations

import numpy as np

from tui.session.records import Curve, Scatter, Scene
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
