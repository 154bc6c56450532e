"""``[train] validation``: a share of the training set held apart, the test set untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.datasets.split import hold_out
from engine.errors import UserError
from engine.events import Diverged
from engine.experiment.config import Experiment
from engine.experiment.metrics import METRIC_FIELDS, OLD_FIELDS
from engine.experiment.runs import METRICS, RunDir, train
from engine.trainer import EvalSets


def gaussians(**train: object) -> Experiment:
    return Experiment().replace(
        data={"name": "gaussians", "n": 200, "noise": 0.1},
        model={"hidden": [4]},
        train={"epochs": 3, **train},
    )


def rows_of(X: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in X}


def test_validation_share_is_drawn_from_the_training_set_only() -> None:
    plain = gaussians().build().data
    split = gaussians(validation=0.2).build().data
    assert split.X_val is not None and split.y_val is not None
    assert len(split.X_val) == round(0.2 * len(plain.X_train))
    assert len(split.X_train) + len(split.X_val) == len(plain.X_train)
    # the test part is the same array, the validation rows come out of the training rows
    np.testing.assert_array_equal(split.X_test, plain.X_test)
    assert rows_of(split.X_train) | rows_of(split.X_val) == rows_of(plain.X_train)
    assert not rows_of(split.X_train) & rows_of(split.X_val)
    # each label stays with its row
    lookup = {x.tobytes(): y for x, y in zip(plain.X_train, plain.y_train, strict=True)}
    assert all(lookup[x.tobytes()] == y for x, y in zip(split.X_val, split.y_val, strict=True))


def test_the_split_follows_the_seed_and_is_stratified() -> None:
    a = gaussians(validation=0.3, seed=1).build().data
    b = gaussians(validation=0.3, seed=1).build().data
    c = gaussians(validation=0.3, seed=2).build().data
    assert a.X_val is not None and b.X_val is not None and c.X_val is not None
    np.testing.assert_array_equal(a.X_val, b.X_val)
    assert rows_of(a.X_val) != rows_of(c.X_val)
    whole = a.unsplit().y_train
    assert a.y_val is not None
    assert abs(a.y_val.mean() - whole.mean()) <= 1.0 / len(a.y_val)


def test_rebuilding_from_a_runs_data_cuts_the_whole_training_set_again() -> None:
    run = gaussians(validation=0.2).build()
    again = gaussians(validation=0.5).build(data=run.data)
    assert again.data.X_val is not None
    assert len(again.data.X_train) + len(again.data.X_val) == len(run.data.unsplit().X_train)
    assert gaussians().build(data=run.data).data.X_val is None


def test_without_a_split_the_test_set_stands_in_for_validation() -> None:
    run = gaussians().build()
    sets = run.val_set()
    assert sets.test is None and sets.val[0] is run.data.X_test
    history = run.trainer.fit(run.data.X_train, run.data.y_train, 2, val=sets)
    expected = run.trainer.evaluate(run.data.X_test, run.data.y_test)
    assert history.val_loss[-1] == pytest.approx(expected[0])
    assert history.test_loss == [None, None]


def test_epochs_report_validation_and_test_figures_separately() -> None:
    run = gaussians(validation=0.25).build()
    data = run.data
    assert data.X_val is not None and data.y_val is not None
    history = run.trainer.fit(data.X_train, data.y_train, 2, val=run.val_set())
    val = run.trainer.evaluate(data.X_val, data.y_val)
    test = run.trainer.evaluate(data.X_test, data.y_test)
    assert history.val_loss[-1] == pytest.approx(val[0])
    assert history.val_acc[-1] == pytest.approx(val[1])
    assert history.test_loss[-1] == pytest.approx(test[0])
    assert history.test_acc[-1] == pytest.approx(test[1])
    assert history.val_loss[-1] != history.test_loss[-1]


def test_early_stopping_watches_the_validation_set() -> None:
    run = gaussians(validation=0.25, patience=2, epochs=200, lr=0.05).build()
    data = run.data
    assert data.X_val is not None and data.y_val is not None
    history = run.trainer.fit(data.X_train, data.y_train, 200, val=run.val_set())
    assert history.finished is not None and history.finished.reason == "early_stopping"
    best = min(v for v in history.val_loss if v is not None)
    assert run.trainer.best_val == pytest.approx(best)
    assert run.trainer.evaluate(data.X_val, data.y_val)[0] == pytest.approx(best)


def test_a_plain_pair_is_still_a_validation_set() -> None:
    run = gaussians().build()
    d = run.data
    pair = run.trainer.fit(d.X_train, d.y_train, 1, val=(d.X_test, d.y_test))
    fresh = gaussians().build()
    sets = fresh.trainer.fit(d.X_train, d.y_train, 1, val=EvalSets((d.X_test, d.y_test)))
    assert pair.val_loss == sets.val_loss


@pytest.mark.parametrize("share", [-0.1, 0.95, float("nan")])
def test_an_out_of_range_share_is_refused(share: float) -> None:
    with pytest.raises(UserError, match="validation = .* share of the training set"):
        gaussians(validation=share)


def test_a_share_that_leaves_a_part_empty_is_refused() -> None:
    split = Experiment().replace(data={"name": "xor-gate"}).build().data
    with pytest.raises(UserError, match="leaves the training or the validation part empty"):
        hold_out(split, 0.1, 0)


def test_metrics_keep_the_test_columns_and_old_files_still_read(tmp_path: Path) -> None:
    run = gaussians(validation=0.2).build()
    rundir = RunDir.create(tmp_path / "run", run)
    train(run, rundir)
    rows = RunDir.open(tmp_path / "run").rows
    assert len(rows) == 3 and all(r.test_loss is not None for r in rows)
    # a file written before the test columns existed: read, then rewritten whole on save
    path = tmp_path / "run" / METRICS
    lines = path.read_text().splitlines()
    old = [",".join(OLD_FIELDS)] + [",".join(line.split(",")[:8]) for line in lines[1:]]
    path.write_text("\n".join(old) + "\n")
    reopened = RunDir.open(tmp_path / "run")
    assert [r.val_loss for r in reopened.rows] == [r.val_loss for r in rows]
    assert all(r.test_loss is None for r in reopened.rows)
    resumed = gaussians(validation=0.2, epochs=4).build()
    more = RunDir.open(tmp_path / "run")
    more.experiment = resumed.experiment
    more.load_into(resumed)
    train(resumed, more)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(METRIC_FIELDS) and len(lines) == 5
    assert [r.epoch for r in RunDir.open(tmp_path / "run").rows] == [1, 2, 3, 4]


def test_divergence_names_the_step_the_header_shows() -> None:
    run = Experiment().replace(
        data={"name": "plane"}, train={"lr": 1000.0, "optimizer": "sgd", "epochs": 50}
    )
    built = run.build()
    events = list(built.trainer.run(built.data.X_train, built.data.y_train, 50))
    diverged = next(e for e in events if isinstance(e, Diverged))
    assert diverged.step == built.trainer.step
    assert f"after step {diverged.step} " in diverged.message
    assert "clip in setup (c)" in diverged.message and "clip_norm" in diverged.message
