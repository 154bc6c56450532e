"""How fast the app trains: a pace in steps per second, so that learning can be watched.

The engine runs the default spiral's 15,000 steps in about a second; the app holds training to
a pace instead, chosen per experiment so its epochs take about ``WATCH_SECONDS``, and ``>`` /
``<`` step it along ``PACE_LADDER`` up to full speed (``FULL_SPEED``, no cap). Headless
training (``dltui train``, ``Trainer.fit``) never waits.

:class:`Pacer` keeps the schedule: the training thread asks it how many steps may be done by the
next snapshot, trains them at full speed, then sleeps out the rest of the interval. So the
thread sleeps once per snapshot, not once per step, and full speed costs nothing.
:class:`SpeedMeter` measures the steps per second the header shows, over the last second and
never across a change of pace, a pause or a new run. :class:`DrawMeter` measures what drawing a
snapshot costs the interface thread, which the training loop spaces its snapshots by.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

FULL_SPEED = math.inf
"""The pace that means no cap: train as fast as the engine goes."""
WATCH_SECONDS = 25.0
"""How long an experiment's epochs take at its default pace."""
READABLE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
"""Mantissas of the default paces: neighbours differ by at most 4/3, so one of them always
makes the epochs last between 20 and 30 s."""
PACE_LADDER = (*(m * 10**e for e in range(5) for m in (1, 2, 5)), 100_000)
"""The paces ``>`` and ``<`` step through, in steps per second; above the top: full speed."""
CATCH_UP = 0.5
"""Seconds of steps a paced run may make up after falling behind (a slow measurement); a run
further behind starts its schedule again instead of racing to catch up. Steps are whole, so
a run on schedule is up to one step behind it: that step is never counted as falling behind."""
SETTLE_BURSTS = 20
"""Bursts in a row that a default pace never held back (the engine is slower than the pace)
before it gives way to full speed; bursts before the run is warm (:data:`WARM_SECONDS`) do not
count."""
WARM_SECONDS = 1.0
"""Seconds after a run's first step during which slow bursts say nothing about the engine: the
first steps of a network compile kernels and fill caches."""
DRAW_GAP = 1.0
"""Seconds between two snapshots shown beyond which the second is not counted as a frame of the
first's drawing (:class:`DrawMeter`)."""
SPEED_WINDOW = 1.0
"""Seconds of training the steps/s readout averages over, from the last change of pace, pause
or run at most."""


def steps_per_epoch(n_train: int, batch_size: int | None) -> int:
    """Mini-batches in one epoch: the last one may be short (``None``: full batch)."""
    bs = n_train if batch_size is None else min(batch_size, n_train)
    return math.ceil(n_train / max(bs, 1))


def default_pace(total_steps: int) -> float:
    """A readable pace (``600``, ``1,500``, ``40``) that trains ``total_steps`` in ~25 s.

    Never under one step per second; an engine slower than the pace just runs at full speed.
    """
    wanted = total_steps / WATCH_SECONDS
    if wanted <= 1:
        return 1.0
    exponent = math.floor(math.log10(wanted))
    choices = [m * 10.0**e for e in (exponent, exponent + 1) for m in READABLE]
    return min(choices, key=lambda pace: abs(math.log(pace / wanted)))


def next_pace(pace: float, direction: int, engine_speed: float = 0.0) -> float:
    """The next pace of ``PACE_LADDER`` above (direction > 0) or below ``pace``.

    Above the top rung, or above what the engine is measured to do (``engine_speed`` steps per
    second, 0 when unknown), comes ``FULL_SPEED``; below full speed, the rung under what the
    engine does. The bottom rung stays where it is.
    """
    if direction > 0:
        higher = [v for v in PACE_LADDER if v > pace * (1 + 1e-9)]
        if not higher or (engine_speed > 0 and higher[0] >= engine_speed):
            return FULL_SPEED
        return float(higher[0])
    if math.isinf(pace):
        pace = engine_speed if engine_speed > 0 else 2 * PACE_LADDER[-1]
    lower = [v for v in PACE_LADDER if v < pace * (1 - 1e-9)]
    return float(lower[-1] if lower else PACE_LADDER[0])


def pace_text(pace: float) -> str:
    """``pace 600 steps/s``, ``pace 1.5k steps/s``, ``pace 1 step/s`` or ``full speed``."""
    if math.isinf(pace):
        return "full speed"
    if pace >= 1000:
        return f"pace {pace / 1000:g}k steps/s"
    return f"pace {pace:g} {'step' if pace == 1 else 'steps'}/s"


class Pacer:
    """The pace of a run and its schedule: step ``s0`` at time ``t0``, then ``rate`` a second.

    Args:
        rate: steps per second, chosen by the user (``FULL_SPEED`` for no cap), kept for every
            experiment; None: each experiment's default (:meth:`fit`).
    """

    def __init__(self, rate: float | None = None) -> None:
        self.rate = FULL_SPEED if rate is None else rate
        self.chosen = rate is not None
        self._anchor: tuple[float, int] | None = None
        self._unheld = 0  # bursts in a row that the pace did not hold back

    def fit(self, total_steps: int) -> None:
        """Takes the default pace for an experiment of ``total_steps``, unless one was chosen."""
        if not self.chosen:
            self.rate, self._unheld = default_pace(total_steps), 0
            self.restart()

    def choose(self, rate: float) -> None:
        """The user's pace: it holds from the next burst on, and for later experiments too."""
        self.rate, self.chosen = rate, True
        self.restart()

    def restart(self) -> None:
        """The schedule starts again at the next burst (after a pause, a new pace or run)."""
        self._anchor = None

    def settle(self, ended: str) -> bool:
        """Counts how a burst ended: a default pace the engine cannot reach becomes full speed.

        Args:
            ended: "pace" (the pace held the burst back), "time" (it ran to its deadline) or
                "" (a pause or a command cut it short: no sign either way).

        Returns:
            Whether the pace changed.
        """
        if self.chosen or math.isinf(self.rate) or ended not in ("pace", "time"):
            return False
        self._unheld = self._unheld + 1 if ended == "time" else 0
        if self._unheld < SETTLE_BURSTS:
            return False
        self.rate = FULL_SPEED
        return True

    def limit(self, now: float, step: int, until: float) -> float:
        """The last step the run may have done by ``until`` (``inf`` at full speed).

        Args:
            now: the time now (``time.perf_counter``).
            step: steps done so far.
            until: the end of the burst about to start.
        """
        if math.isinf(self.rate):
            return math.inf
        # a slow pace (1 step/s) is most of a step behind until its next step is due
        if self._anchor is None or self._behind(now, step) > 1 + self.rate * CATCH_UP:
            self._anchor = (now, step)
        t0, s0 = self._anchor
        return s0 + self.rate * (until - t0)

    def _behind(self, now: float, step: int) -> float:
        assert self._anchor is not None
        t0, s0 = self._anchor
        return s0 + self.rate * (now - t0) - step


class SpeedMeter:
    """Steps per second over the last :data:`SPEED_WINDOW`, never across a change.

    :meth:`restart` at a change of pace, a resume or a new run starts the measurement afresh, so
    the readout shows the new pace as soon as it has a step to count, not a blend with the old.
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()

    def restart(self, now: float, step: int) -> None:
        """Measures from ``step`` at ``now`` on; nothing is known until the next step."""
        self._samples = deque([(now, step)])

    def add(self, now: float, step: int) -> None:
        """Counts the steps done by ``now`` (a time without a new step is not a sample)."""
        samples = self._samples
        if not samples:
            self.restart(now, step)
            return
        if step <= samples[-1][1]:
            return
        samples.append((now, step))
        while len(samples) > 2 and samples[1][0] <= now - SPEED_WINDOW:
            samples.popleft()

    @property
    def rate(self) -> float:
        """Steps per second since the oldest sample kept; 0 until a step was counted."""
        if len(self._samples) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._samples[0], self._samples[-1]
        return (s1 - s0) / max(t1 - t0, 1e-9)


class DrawMeter:
    """The interface thread's processor time per snapshot shown, as a moving average.

    Called on the interface thread as each snapshot is shown: the time since the last one is
    what drawing that frame took, layout and compositing included. A gap longer than
    :data:`DRAW_GAP` (a pause, another screen) is not a frame: it is left out of the average.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        self._clock, self._cpu = clock, cpu
        self._mark: tuple[float, float] | None = None
        self.cost = 0.0
        """Seconds of the interface thread's processor per frame; 0 until two frames came."""

    def frame(self) -> float:
        """Counts one frame shown now; returns the cost per frame so far."""
        wall, cpu = self._clock(), self._cpu()
        mark, self._mark = self._mark, (wall, cpu)
        if mark is not None and wall - mark[0] <= DRAW_GAP:
            spent = cpu - mark[1]
            self.cost = spent if self.cost == 0.0 else 0.8 * self.cost + 0.2 * spent
        return self.cost
