"""The update a derivation shows is the trainer's next step: its θₜ is the weight after it.

The chain rule is shown for one training sample; the optimiser steps along its mini-batch's
gradient. Each case derives, then lets the engine's trainer take that step, and compares.
"""

from __future__ import annotations

import numpy as np
import pytest

from derive import derive
from derive.batch import arrange
from engine.events import Step
from engine.experiment.config import Run
from engine.experiment.presets import get_preset


def _trained(preset: str, steps: int, l2: float = 0.0) -> Run:
    run = get_preset(preset).build()
    run.trainer.l2 = l2
    _take_steps(run, steps)
    return run


def _take_steps(run: Run, steps: int) -> None:
    if steps == 0:
        return
    events = run.trainer.run(run.data.X_train, run.data.y_train, epochs=None)
    done = 0
    for event in events:
        done += isinstance(event, Step)
        if done == steps:
            break
    events.close()


def _derive_next_step(run: Run, row: int, param: str, view: str = "index"):
    X, y, t = run.data.X_train, run.data.y_train, run.trainer
    rows = t.next_batch_rows(len(X))
    one = slice(row, row + 1)
    x_shown, y_shown, sample, batch = arrange(X[one], y[one], row, X[rows], y[rows], rows)
    d = derive(
        run.net, x_shown, y_shown, loss=t.loss, param=param, view=view, sample=sample,
        l1=t.l1, l2=t.l2, optimizer=t.optimizer, batch=batch,
    )  # fmt: skip
    return d, rows


def _weight(run: Run, flat: int) -> float:
    return float(np.asarray(run.net.backend.to_host(run.net.data))[flat])


@pytest.mark.parametrize(
    ("preset", "steps", "l2", "param", "view"),
    [
        ("xor", 0, 0.0, "2.W[0,1]", "index"),  # SGD with momentum, full batch, first step
        ("xor", 3, 0.0, "0.W[1,0]", "vector"),  # momentum buffer carried over
        ("xor", 2, 0.05, "2.W[0,1]", "index"),  # an L2 penalty on the weights
        ("spiral", 0, 0.0, "2.W[0,1]", "index"),  # Adam, mini-batches of 10 out of 500
        ("spiral", 7, 0.01, "0.W[3,1]", "vector"),  # Adam with L2, within an epoch
        ("residual-deep", 1, 0.0, "3.0.W[0,1]", "layer"),  # a layer-by-layer derivation
    ],
)
@pytest.mark.parametrize("in_batch", [True, False])
def test_the_shown_update_is_the_trainers_next_step(
    preset: str, steps: int, l2: float, param: str, view: str, in_batch: bool
) -> None:
    run = _trained(preset, steps, l2)
    rows = run.trainer.next_batch_rows(len(run.data.X_train))
    outside = np.setdiff1d(np.arange(len(run.data.X_train)), rows)
    if not in_batch and outside.size == 0:
        pytest.skip("a full batch holds every sample")
    row = int(rows[-1]) if in_batch else int(outside[0])
    d, _ = _derive_next_step(run, row, param, "index" if view == "layer" else view)
    before = _weight(run, d.param.flat)
    assert d.steps[-1].part == "update"
    _take_steps(run, 1)
    after = _weight(run, d.param.flat)
    assert after != before
    assert float(d.steps[-1].value) == pytest.approx(after, rel=1e-5, abs=1e-7)
    labels = [s.rule.key for s in d.part("update")]
    assert ("upd_batch" in labels or "upd_batch_penalty" in labels) is not in_batch
    if in_batch:  # the chosen sample is one of the batch's B terms
        assert d.n_samples == len(rows)
        assert np.allclose(d.x.ravel(), run.data.X_train[row].ravel(), rtol=1e-6)


def test_next_batch_rows_are_the_rows_the_trainer_gathers() -> None:
    run = _trained("spiral", 49, 0.0)  # the last batch of the first epoch is next
    t, n = run.trainer, len(run.data.X_train)
    last = t.next_batch_rows(n)
    assert t._order is not None and np.array_equal(last, t._order[490:500])
    _take_steps(run, 1)
    upcoming = t.next_batch_rows(n)  # from the next epoch's order, not drawn yet
    _take_steps(run, 1)
    assert np.array_equal(upcoming, t._order[:10])


def test_a_sample_outside_the_batch_says_the_step_uses_the_batch() -> None:
    run = _trained("spiral", 0)
    rows = run.trainer.next_batch_rows(len(run.data.X_train))
    row = int(np.setdiff1d(np.arange(len(run.data.X_train)), rows)[0])
    d, _ = _derive_next_step(run, row, "2.W[0,1]")
    text = d.render("text")
    assert "one sample" in text and "10 samples of the batch it trains on" in text
    assert "∂L̄/∂W²₀,₁ = Σₛ gₛ/10" in text and "gₜ = ∂L̄/∂W²₀,₁" in text
    assert r"\frac{\sum_{s=0}^{9} g_{s}}{10}" in d.render("latex")
    assert "g_{s}" not in d.render("unicode") and "gₛ" in d.render("unicode")
