"""The training session and the probes, without any interface."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest

from engine.experiment.presets import get_preset
from tui.session import probes
from tui.session.changes import change_kind, next_lr
from tui.session.pace import FULL_SPEED
from tui.session.records import NetCopy, Notice, Snapshot
from tui.session.worker import TrainingSession


class Running:
    """A session looping on a thread, collecting what it posts."""

    def __init__(self, session: TrainingSession) -> None:
        self.session = session
        self.posted: list[Snapshot | Notice] = []
        self.thread = threading.Thread(target=session.loop, args=(self.posted.append,))

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.stop()
        self.thread.join(10)

    def wait(self, condition: Callable[[Snapshot], bool], timeout: float = 10.0) -> Snapshot:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snaps = [p for p in self.posted if isinstance(p, Snapshot)]
            if snaps and condition(snaps[-1]):
                return snaps[-1]
            time.sleep(0.005)
        raise AssertionError("the session never reached the state waited for")


def test_a_paused_session_trains_one_step_per_request() -> None:
    with Running(TrainingSession(get_preset("spiral"), paused=True)) as run:
        run.wait(lambda s: s.step == 0 and s.state == "paused")
        for n in (1, 2, 3):
            run.session.step()
            snap = run.wait(lambda s, n=n: s.step == n)
            assert snap.paused and snap.losses[-1].step == n
        time.sleep(0.2)
        assert run.session.run.trainer.step == 3


def test_a_running_session_reports_about_ten_times_a_second() -> None:
    exp = get_preset("spiral").replace(train={"epochs": 10_000})  # 300 take under a second
    with Running(TrainingSession(exp, paused=False, pace=FULL_SPEED)) as run:
        time.sleep(1.0)
        snaps = [p for p in run.posted if isinstance(p, Snapshot)]
        assert 3 <= len(snaps) <= 25  # ~10; a loaded machine can stall the thread for a while
        assert snaps[-1].speed > 100 and snaps[-1].state == "training"


def test_pause_takes_effect_at_once() -> None:
    with Running(TrainingSession(get_preset("spiral"), paused=False, pace=FULL_SPEED)) as run:
        run.wait(lambda s: s.step > 100)
        run.session.toggle_pause()
        start = time.monotonic()
        run.wait(lambda s: s.paused)
        assert time.monotonic() - start < 0.5  # within a burst, not at the end of an epoch
        step = run.session.run.trainer.step
        time.sleep(0.2)
        assert run.session.run.trainer.step == step


def test_the_learning_rate_ladder() -> None:
    assert next_lr(0.01, 1) == 0.03 and next_lr(0.01, -1) == 0.003
    assert next_lr(0.02, 1) == 0.03 and next_lr(0.02, -1) == 0.01
    assert next_lr(10.0, 1) == 10.0 and next_lr(1e-5, -1) == 1e-5


def test_change_kind_says_what_a_new_experiment_needs() -> None:
    exp = get_preset("spiral")
    assert change_kind(exp, exp) == "none"
    assert change_kind(exp, exp.replace(train={"lr": 0.1})) == "live"
    assert change_kind(exp, exp.replace(train={"batch_size": 32, "optimizer": "sgd"})) == "keep"
    assert change_kind(exp, exp.replace(model={"hidden": [4]})) == "new"
    assert change_kind(exp, exp.replace(data={"noise": 0.2})) == "new"
    assert change_kind(exp, exp.replace(train={"loss": "bce"})) == "new"  # adds a sigmoid


def test_a_rebuild_that_keeps_the_network_keeps_the_weights() -> None:
    session = TrainingSession(get_preset("spiral"), paused=True)
    before = session.run.net.data.copy()
    session._rebuild(session.run.experiment.replace(train={"batch_size": 32}))
    assert session.run.trainer.batch_size == 32
    np.testing.assert_array_equal(session.run.net.data, before)
    session._rebuild(session.run.experiment.replace(model={"hidden": [3]}))
    assert session.run.net.widths() == [2, 3, 1]


def test_copy_network_is_independent_and_keeps_the_optimiser_state() -> None:
    session = TrainingSession(get_preset("spiral"), paused=True)
    got: list[NetCopy] = []
    with Running(session) as run:
        for _ in range(3):
            session.step()
        run.wait(lambda s: s.step == 3)
        session.copy_network(got.append)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
    copy = got[0]
    assert copy.step == 3 and copy.x.shape == (1, 2)
    np.testing.assert_array_equal(copy.net.data, session.run.net.data)
    assert copy.net.data is not session.run.net.data
    for name, buffer in session.run.trainer.optimizer.state.items():
        np.testing.assert_array_equal(copy.optimizer.state[name], buffer)
    assert copy.optimizer.t == 3


def test_an_engine_error_stops_training_but_not_the_session(monkeypatch) -> None:
    session = TrainingSession(get_preset("spiral"), paused=True)

    def broken(*args, **kwargs):
        raise RuntimeError("kernel on fire")

    monkeypatch.setattr(session.run.trainer, "run", broken)
    with Running(session) as run:
        session.step()
        deadline = time.monotonic() + 5
        while not any(isinstance(p, Notice) for p in run.posted) and time.monotonic() < deadline:
            time.sleep(0.01)
        notice = next(p for p in run.posted if isinstance(p, Notice))
        assert not notice.ok and "kernel on fire" in notice.text
        assert run.thread.is_alive()


@pytest.mark.parametrize(
    ("preset", "changes"),
    [
        ("spiral", {}),
        ("sine", {}),
        ("iris", {}),
        ("xor", {}),
        ("moons", {"train": {"loss": "huber"}}),
        ("circle", {"model": {"activation": "leaky_relu"}}),
        ("gaussians", {"train": {"loss": "bce"}}),
    ],
)
def test_the_chain_rule_in_numbers_matches_the_engine(preset: str, changes: dict) -> None:
    exp = get_preset(preset).replace(**changes) if changes else get_preset(preset)
    run = exp.build()
    X, y = run.data.X_train, run.data.y_train
    last = max(i for i, layer in enumerate(run.net.layers) if layer.params)
    for param in ("0.W[1,0]", "0.b[1]", f"{last}.W[0,0]"):
        chain = probes.chain_rule(run.net, run.trainer, X, y, param, sample=1)
        twin = run.net.copy()
        twin.loss_and_grad(X[1:2], y[1:2], exp.train.loss)
        layer, kind, j, k = probes.parse_param(param)
        grad = twin.grads[f"{layer}.{kind}"]
        expected = grad[j, k] if kind == "W" else grad[j]
        assert chain.grad == pytest.approx(float(expected), rel=1e-4, abs=1e-6)


def test_parse_param() -> None:
    assert probes.parse_param("2.W[0,1]") == (2, "W", 0, 1)
    assert probes.parse_param("0.b[3]") == (0, "b", 3, 0)
    with pytest.raises(ValueError):
        probes.parse_param("2.W")


def test_the_plane_points_survive_feature_choices() -> None:
    plain = get_preset("circle")
    squares = plain.replace(data={"features": ["x1^2", "x2^2"]})
    a = probes.plane_points(plain, plain.build().data)
    b = probes.plane_points(squares, squares.build().data)
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def test_training_pauses_when_the_experiments_epochs_are_done() -> None:
    exp = get_preset("gaussians").replace(train={"epochs": 2})
    session = TrainingSession(exp, paused=False, pace=FULL_SPEED)
    per_epoch = -(-len(session.run.data.X_train) // exp.train.batch_size)
    with Running(session) as run:
        snap = run.wait(lambda s: s.state == "finished")
        assert snap.paused and snap.epoch == 2 and snap.epochs == 2
        assert snap.note.startswith("Finished 2 epochs") and "Space trains on" in snap.note
        time.sleep(0.2)
        assert session.run.trainer.step == 2 * per_epoch  # stopped at the epoch's end
        session.toggle_pause()  # the user trains on, past the epochs set
        snap = run.wait(lambda s: s.epoch > 3 and s.state == "training")
        assert snap.note == ""


def test_a_new_number_of_epochs_applies_while_training() -> None:
    exp = get_preset("gaussians").replace(train={"epochs": 1})
    session = TrainingSession(exp, paused=False, pace=FULL_SPEED)
    with Running(session) as run:
        run.wait(lambda s: s.state == "finished" and s.epoch == 1)
        weights = session.run.net.data.copy()
        assert change_kind(exp, exp.replace(train={"epochs": 3})) == "live"
        session.rebuild(exp.replace(train={"epochs": 3}))
        snap = run.wait(lambda s: s.state == "paused" and s.epochs == 3)
        assert snap.note == "" and snap.step == session.run.trainer.step
        np.testing.assert_array_equal(session.run.net.data, weights)  # nothing started again
        session.toggle_pause()
        snap = run.wait(lambda s: s.state == "finished" and s.epoch == 3)
        assert "Finished 3 epochs" in snap.note
        session.rebuild(exp.replace(train={"epochs": 2}))  # fewer than done: finished at once
        run.wait(lambda s: s.state == "finished" and s.epochs == 2)


def test_the_default_entry_is_chosen_on_the_training_thread(monkeypatch) -> None:
    """Finding an entry with a gradient runs the network (kernels may compile for seconds on
    a cold cache): it happens on the training thread, before the first snapshot."""
    from tui.session import worker

    threads: list[str] = []
    choose = worker.default_entry

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return choose(*args, **kwargs)

    monkeypatch.setattr(worker, "default_entry", spy)
    session = TrainingSession(get_preset("digits"), paused=True)
    assert threads == [] and session.selected == "0.W[0,0]"
    with Running(session) as running:
        running.wait(lambda snap: True)
        first = next(p for p in running.posted if isinstance(p, Snapshot))
    assert threads and threads[0] == running.thread.name
    assert session.selected != "0.W[0,0]"  # pixel 0 is blank in every digit
    assert first.chain is not None and first.chain.param == session.selected


def test_the_chain_rule_names_its_entry_as_the_derivation_does() -> None:
    """Dense layers count from 1 in the maths; the engine's index (activations count there)
    is named beside it where the two differ."""
    run = get_preset("spiral").build()  # Dense, Tanh, Dense, Tanh, Dense
    X, y = run.data.X_train, run.data.y_train
    first = probes.chain_rule(run.net, run.trainer, X, y, "0.W[1,0]", 0)
    assert first.unit == "W¹₁,₀: unit 1 of layer 1 (the engine's layer 0)"
    bias = probes.chain_rule(run.net, run.trainer, X, y, "4.b[0]", 0)
    assert bias.unit == "b³₀: bias of unit 0 of layer 3 (the engine's layer 4)"
    same = probes.chain_rule(run.net, run.trainer, X, y, "2.W[0,3]", 0)
    assert same.unit == "W²₀,₃: unit 0 of layer 2"
