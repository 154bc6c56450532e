"""Bounded loss histories: a run's points are thinned as they grow, so memory stays flat.

A run at full speed trains tens of thousands of mini-batches a second; the per-step plot and the
comparison of runs keep a few thousand points of each, spread over the whole run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from tui.session.records import StepCurve

T = TypeVar("T")

KEPT_POINTS = 2000  # a run keeps at most about this many loss points (measured or per step)


def thinned(items: Sequence[T], most: int = KEPT_POINTS) -> list[T]:
    """Every k-th item (the last always kept), so that at most about ``most`` remain."""
    if len(items) <= most:
        return list(items)
    k = -(-len(items) // most)
    kept = list(items[::k])
    if (len(items) - 1) % k:
        kept.append(items[-1])
    return kept


class StepLosses:
    """Each mini-batch's loss, thinned as it grows: past ``most`` points it keeps every other
    one and from then on records every second step (then every fourth …).

    Keeping single mini-batches (rather than averaging them) keeps their noise, which is what
    the per-step plot is there to show. Called once per step on the training thread.
    """

    def __init__(self, most: int = KEPT_POINTS) -> None:
        self.most = most
        self.every = 1
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.version = 0  # grows with every point kept

    def add(self, step: int, loss: float) -> None:
        """Records the loss of ``step`` if the thinning keeps it."""
        if step % self.every:
            return
        self.steps.append(step)
        self.losses.append(loss)
        self.version += 1
        if len(self.steps) > self.most:
            self.every *= 2
            keep = [i for i, s in enumerate(self.steps) if s % self.every == 0]
            self.steps = [self.steps[i] for i in keep]
            self.losses = [self.losses[i] for i in keep]

    def curve(self) -> StepCurve:
        """A copy of the points kept."""
        return StepCurve(
            np.array(self.steps, dtype=np.float64), np.array(self.losses, dtype=np.float64)
        )
