"""The claims of lessons 1–8, measured: every number a lesson's text states is trained for here.

Each test builds a step's experiment exactly as the lesson runs it (``experiment_at`` and
``weights_at``), trains it headlessly at the lesson's fixed seed and checks what the text says
happens. A lesson whose text drifts from what the engine does fails here.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from derive import derive
from derive.formula import check_formula
from engine import inspect
from engine.events import History, Step
from engine.experiment.config import Run
from engine.inspect import dead_units
from tui.learn.lesson import LESSONS_DIR, Lesson, load_lesson
from tui.session.probes_learn import activity


@cache
def lesson(number: int) -> Lesson:
    (path,) = LESSONS_DIR.glob(f"{number:02d}-*.toml")
    return load_lesson(path)


def build(number: int, step: str, **train: object) -> Run:
    """The run that ``step`` of lesson ``number`` starts, its hand-set weights in place."""
    exp = lesson(number).experiment_at(step)
    if train:
        exp = exp.replace(train=train)
    run = exp.build()
    weights = lesson(number).weights_at(step)
    if weights:
        run.net.set_params(weights)
    return run


def fit(run: Run, epochs: int | None = None) -> History:
    """Trains ``epochs`` epochs (default: the experiment's own count)."""
    n = run.experiment.train.epochs if epochs is None else epochs
    return run.trainer.fit(run.data.X_train, run.data.y_train, n)


def step_losses(run: Run, steps: int) -> np.ndarray:
    """The loss of each of the first ``steps`` mini-batches."""
    losses: list[float] = []
    for event in run.trainer.run(run.data.X_train, run.data.y_train, None):
        if isinstance(event, Step):
            losses.append(event.loss)
            if len(losses) == steps:
                break
    return np.array(losses)


def train_accuracy(run: Run) -> float:
    acc = run.trainer.evaluate(run.data.X_train, run.data.y_train)[1]
    assert acc is not None
    return acc


def first_epoch(history: History, below: float) -> int | None:
    """The first epoch whose training loss is below ``below``."""
    return next((e for e, loss in zip(history.epoch, history.train_loss) if loss < below), None)


def first_perfect(history: History) -> int | None:
    return next((e for e, acc in zip(history.epoch, history.train_acc) if acc == 1.0), None)


# ---------------------------------------------------------------------- 1 one neuron
def test_lesson1_the_perceptron_separates_separable_clusters() -> None:
    run = build(1, "meet")
    history = fit(run)
    epoch = first_perfect(history)
    assert epoch is not None and epoch <= run.experiment.train.epochs
    assert train_accuracy(run) == 1.0
    assert run.trainer.evaluate(run.data.X_train, run.data.y_train)[0] == 0.0


def test_lesson1_one_update_is_the_perceptron_rule() -> None:
    """A mistake moves w by (y − ŷ)·x and b by (y − ŷ); a right answer moves nothing."""
    run = build(1, "by-hand")
    net, X, y = run.net, run.data.X_train, run.data.y_train.reshape(-1)
    moved = kept = 0
    events = run.trainer.run(X, run.data.y_train, 1)
    for _ in range(len(X)):
        row = int(run.trainer.next_batch_rows(len(X))[0])
        W, b = np.array(net.params["0.W"], dtype=np.float64), float(net.params["0.b"][0])
        yhat = float(W[0] @ X[row] + b > 0)
        assert isinstance(next(events), Step)
        error = y[row] - yhat
        np.testing.assert_allclose(net.params["0.W"][0], W[0] + error * X[row], atol=1e-5)
        assert float(net.params["0.b"][0]) == pytest.approx(b + error, abs=1e-6)
        moved, kept = moved + (error != 0), kept + (error == 0)
    assert moved > 0 and kept > 0
    events.close()


def test_lesson1_weights_set_by_hand_put_the_line_on_the_diagonal() -> None:
    run = build(1, "by-hand")
    X = run.data.X_train
    out = run.net.forward(X)[:, 0]
    np.testing.assert_array_equal(out, (X[:, 0] - X[:, 1] > 0).astype(out.dtype))
    quiz = lesson(1).steps[0].quiz  # z for x = (3, 1) with these weights
    z = run.net.params["0.W"][0] @ np.array([3.0, 1.0]) + run.net.params["0.b"][0]
    assert quiz is not None and float(z) == pytest.approx(quiz.answer)
    assert 0.35 <= train_accuracy(run) <= 0.65  # "about half of the points"
    fit(run)
    assert train_accuracy(run) == 1.0


# ---------------------------------------------------------------------- 2 logistic regression
def test_lesson2_overlapping_clusters_settle_near_95_percent() -> None:
    run = build(2, "overlap")
    fit(run, 20)
    after_20 = train_accuracy(run)
    fit(run, 10)
    for acc in (after_20, train_accuracy(run)):
        assert 0.92 <= acc < 1.0


def test_lesson2_the_derived_gradient_is_error_times_input() -> None:
    """At the numbers of a trained neuron, ∂L/∂w = (ŷ − y)·x: from the derivation the app
    shows, and from the engine's backward pass."""
    run = build(2, "derive")
    fit(run, 20)  # the first step waits 20 epochs
    net, X, y = run.net, run.data.X_train, run.data.y_train
    errors = np.abs(net.forward(X)[:, 0] - y[:, 0])
    rows = [*np.argsort(errors)[-3:], int(np.argmin(np.abs(errors - 0.1)))]  # wrong, unsure
    for row in rows:
        x, target = X[row : row + 1], y[row : row + 1]
        yhat = float(net.forward(x)[0, 0])
        error = yhat - float(target[0, 0])
        derivation = derive(net, x, target, loss="bce", param="0.W[0,0]")
        delta = next(s.value for s in derivation.steps if s.label.startswith("δ"))
        assert float(delta) == pytest.approx(error, rel=1e-4, abs=1e-7)  # ∂L/∂z = ŷ − y
        assert derivation.value == pytest.approx(error * x[0, 0], rel=1e-4, abs=1e-7)
        if derivation.check is not None:  # SymPy's diff of the whole loss
            assert derivation.check.value == pytest.approx(derivation.value, rel=1e-4, abs=1e-7)
        net.loss_and_grad(x, target, "bce")
        np.testing.assert_allclose(net.grads["0.W"][0], error * x[0], rtol=1e-3, atol=1e-6)
        assert float(net.grads["0.b"][0]) == pytest.approx(error, rel=1e-3, abs=1e-6)
    batch = run.trainer.next_batch_rows(len(X))  # what the app derives: the next mini-batch
    assert len(batch) == 10
    xb, yb = X[batch], y[batch]
    mean = np.mean((net.forward(xb)[:, 0] - yb[:, 0]) * xb[:, 0])
    derivation = derive(net, xb, yb, loss="bce", param="0.W[0,0]")
    assert derivation.value == pytest.approx(mean, rel=1e-3, abs=1e-6)


def test_lesson2_sigma_prime_cancels_in_the_typed_answers() -> None:
    quizzes = {s.id: s.quiz for s in lesson(2).steps if s.quiz and s.quiz.kind == "formula"}
    dz, dw = quizzes["dz"], quizzes["dw"]
    assert isinstance(dz.answer, str) and isinstance(dw.answer, str)
    product = "(yhat - y)/(yhat*(1 - yhat)) * yhat*(1 - yhat)"  # ∂L/∂ŷ · σ′(z), as the text
    assert check_formula(product, dz.answer, dz.variables).correct
    assert check_formula("(yhat - y)*x2", dw.answer, dw.variables).correct
    assert not check_formula("(yhat - y)*yhat*(1 - yhat)", dz.answer, dz.variables).correct


# ---------------------------------------------------------------------- 3 xor
def test_lesson3_one_neuron_never_passes_75_percent_on_xor() -> None:
    run = build(3, "one-neuron")
    history = fit(run)
    assert max(a for a in history.train_acc if a is not None) == 0.75
    assert history.train_acc[-1] == 0.5
    assert history.train_loss[-1] == pytest.approx(0.25, abs=1e-3)
    np.testing.assert_allclose(run.net.forward(run.data.X_train), 0.5, atol=0.05)


def test_lesson3_a_hidden_layer_of_two_learns_xor() -> None:
    run = build(3, "hidden")
    history = fit(run)
    epoch = first_perfect(history)
    assert epoch is not None and 50 <= epoch <= 200  # "after about a hundred epochs"
    assert history.train_acc[-1] == 1.0


def test_lesson3_each_hidden_unit_cuts_off_one_corner() -> None:
    """Unit 0 is on only at (0,1), unit 1 off only at (1,0); through their eyes (0,0) and
    (1,1) are one spot, with the two others away from it."""
    run = build(3, "hidden")
    fit(run)
    X = run.data.X_train
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    hidden = inspect.layer_outputs(run.net, X)[1]  # the hidden sigmoid units' outputs
    np.testing.assert_array_equal(hidden > 0.5, [[0, 1], [1, 1], [0, 0], [0, 1]])
    assert np.abs(hidden[0] - hidden[3]).max() < 0.05
    assert min(np.abs(hidden[i] - hidden[0]).max() for i in (1, 2)) > 0.8


def test_lesson3_spare_hidden_units_make_bad_starts_rarer() -> None:
    """Of 20 seeds, 2 hidden units learn XOR 16 times and 4 hidden units 20 times."""
    exp = lesson(3).experiment_at("hidden")
    learned = {}
    for width in (2, 4):
        wins = 0
        for seed in range(20):
            run = exp.replace(model={"hidden": [width]}, train={"seed": seed}).build()
            wins += fit(run).train_acc[-1] == 1.0
        learned[width] = wins
    assert learned == {2: 16, 4: 20}


def test_lesson3_a_linear_hidden_layer_adds_nothing() -> None:
    exp = lesson(3).experiment_at("hidden").replace(model={"activation": "linear"})
    history = fit(exp.build())
    assert max(a for a in history.train_acc if a is not None) <= 0.75


# ---------------------------------------------------------------------- 4 activations
@cache
def activation_history(step: str) -> History:
    return fit(build(4, step))


def test_lesson4_slopes_of_the_activations() -> None:
    z = np.linspace(-8.0, 8.0, 16001)
    sigma = 1.0 / (1.0 + np.exp(-z))
    slope = np.gradient(sigma, z)
    assert slope.max() == pytest.approx(0.25, abs=1e-6)
    assert 1.0 / (1.0 + np.exp(-5.0)) * (1.0 - 1.0 / (1.0 + np.exp(-5.0))) < 0.007
    assert np.gradient(np.tanh(z), z)[8000] == pytest.approx(1.0, abs=1e-6)
    answers = {s.id: s.quiz.answer for s in lesson(4).steps if s.quiz and s.quiz.kind == "number"}
    assert answers == {"sigmoid": pytest.approx(0.25), "saturation": pytest.approx(1.0)}


def test_lesson4_sigmoid_layers_train_slower_than_tanh() -> None:
    sigmoid, tanh = activation_history("sigmoid"), activation_history("tanh")
    assert sigmoid.train_loss[-1] > 0.1  # "still above 0.1"
    fast, slow = first_epoch(tanh, 0.3), first_epoch(sigmoid, 0.3)
    assert fast is not None and fast <= 3  # "by epoch 3"
    assert slow is not None and 20 <= slow <= 30  # "about 25"
    assert sigmoid.train_loss[-1] > 10 * tanh.train_loss[-1]  # "over ten times lower"


def test_lesson4_relu_does_as_well_as_tanh_at_a_sane_rate() -> None:
    run = build(4, "relu")
    relu = fit(run)
    assert relu.train_loss[-1] < 2 * activation_history("tanh").train_loss[-1]
    assert relu.train_acc[-1] == 1.0


def test_lesson4_a_huge_step_kills_relu_units_and_leaky_ones_survive() -> None:
    run = build(4, "dead")
    start = dead_units(run.net, run.data.X_train)
    history = fit(run)
    dead = dead_units(run.net, run.data.X_train)
    assert start == (0.0, 0.0)
    assert round(dead[1] * 16) == 11  # "11 of the second layer's 16 units"
    assert history.train_acc[-1] is not None and 0.82 <= history.train_acc[-1] <= 0.92
    shown = activity(run.net, run.data.X_train)  # what the activations view shows
    assert [layer.dead for layer in shown.layers] == pytest.approx(list(dead))
    leaky_run = build(4, "leaky")
    leaky = fit(leaky_run)
    assert leaky.train_acc[-1] == 1.0  # "ends at 100 % training accuracy"
    net, X = leaky_run.net, leaky_run.data.X_train
    z_first = inspect.layer_outputs(net, X)[0]  # the first Dense layer's output: z
    assert np.mean(np.all(z_first <= 0, axis=0)) == 0.5  # "half of the first layer" off
    shown = activity(net, X)
    assert [layer.dead for layer in shown.layers] == [0.0, 0.0]  # "counts none of them dead"
    assert all(layer.saturated == 0.0 for layer in shown.layers)  # slope 0.01, never 0


# ---------------------------------------------------------------------- 5 losses
def test_lesson5_the_hand_set_start_is_confidently_wrong() -> None:
    run = build(5, "curves")
    assert train_accuracy(run) == pytest.approx(0.004)  # "starts at 0.4 %"
    quiz = lesson(5).steps[0].quiz
    assert quiz is not None and -np.log(0.01) == pytest.approx(quiz.answer, abs=0.005)


def test_lesson5_cross_entropy_learns_faster_from_the_same_bad_start() -> None:
    mse_run, ce_run = build(5, "mse"), build(5, "ce")
    np.testing.assert_array_equal(mse_run.net.data, ce_run.net.data)
    start = mse_run.trainer.evaluate(mse_run.data.X_train, mse_run.data.y_train)[0]
    assert 0.95 < start < 1.0  # "almost at its ceiling of 1"
    gradients = {}
    for run in (mse_run, ce_run):
        run.net.loss_and_grad(run.data.X_train, run.data.y_train, run.experiment.train.loss)
        gradients[run.experiment.train.loss] = float(np.linalg.norm(run.net.grad))
    assert 150 <= gradients["bce"] / gradients["mse"] <= 210  # "about 180 times larger"
    mse, ce = fit(mse_run), fit(ce_run)
    reach = [
        next(e for e, a in zip(h.epoch, h.train_acc) if a is not None and a >= 0.95)
        for h in (mse, ce)
    ]
    assert reach == [20, 2]  # "by epoch 2; the squared error needed 20"
    assert all(a is not None and a < 0.05 for a in mse.train_acc[:15])  # "near 0 for 15 epochs"


def test_lesson5_the_typed_mse_gradient_keeps_sigma_prime() -> None:
    quiz = lesson(5).steps[lesson(5).index("why")].quiz
    assert quiz is not None and isinstance(quiz.answer, str)
    assert check_formula("2*(yhat - y) * yhat*(1 - yhat)", quiz.answer, quiz.variables).correct
    slip = check_formula("2*(yhat - y)", quiz.answer, quiz.variables)
    assert not slip.correct


# ---------------------------------------------------------------------- 6 learning rate
@cache
def lr_history(step: str, lr: float | None = None) -> History:
    run = build(6, step) if lr is None else build(6, step, lr=lr)
    return fit(run)


def test_lesson6_a_small_rate_crawls_and_a_good_one_converges() -> None:
    start = build(6, "small").net.data  # "from the same starting weights"
    for step in ("good", "large", "edge"):
        np.testing.assert_array_equal(build(6, step).net.data, start)
    small, good = lr_history("small"), lr_history("good")
    assert small.finished is not None and small.finished.reason == "epochs"
    assert 0.2 <= small.train_loss[-1] <= 0.4  # "still near 0.3"
    assert good.train_loss[-1] < 0.003  # "near 0.002"
    assert small.train_loss[-1] > 100 * good.train_loss[-1]
    assert all(b < a for a, b in zip(small.train_loss, small.train_loss[1:]))


def test_lesson6_a_large_rate_diverges() -> None:
    large = lr_history("large")
    assert large.diverged is not None
    assert large.finished is not None and large.finished.reason == "diverged"
    assert large.diverged.epoch < 100
    assert all(b > a for a, b in zip(large.train_loss, large.train_loss[1:]))


def test_lesson6_the_edge_lies_between_007_and_008() -> None:
    edge, good = lr_history("edge"), lr_history("good")
    assert edge.diverged is None
    assert edge.train_loss[-1] == pytest.approx(good.train_loss[-1], rel=0.01)
    beyond = lr_history("edge", 0.08)
    assert beyond.diverged is not None or beyond.train_loss[-1] > 1e6 * beyond.train_loss[0]


def test_lesson6_the_edge_is_two_over_the_steepest_curvature() -> None:
    """For L = mean((w·x + b − y)²) the curvature is the Hessian 2·mean([x 1]ᵀ[x 1]); gradient
    descent diverges above 2 / its largest eigenvalue, which lies between 0.07 and 0.08."""
    X = build(6, "edge").data.X_train.astype(np.float64)
    A = np.hstack([X, np.ones((len(X), 1))])
    steepest = np.linalg.eigvalsh(2.0 * A.T @ A / len(X)).max()
    assert steepest == pytest.approx(26, abs=0.5)  # "about 26"
    assert 2.0 / steepest == pytest.approx(0.076, abs=0.0005)
    assert 0.07 < 2.0 / steepest < 0.08


# ---------------------------------------------------------------------- 7 batch size
@cache
def batch_losses(step: str) -> np.ndarray:
    return step_losses(build(7, step), 500)


def jitter(losses: np.ndarray) -> float:
    """The mean change of the loss from one step to the next, over the last 200 steps."""
    return float(np.abs(np.diff(losses[-200:])).mean())


def test_lesson7_steps_per_epoch() -> None:
    counts = {}
    for step in ("stochastic", "mini", "full"):
        run = build(7, step)
        fit(run, 1)
        counts[step] = run.trainer.step
    assert len(build(7, "full").data.X_train) == 250
    assert counts == {"stochastic": 250, "mini": 8, "full": 1}


def test_lesson7_each_run_ends_after_about_500_steps() -> None:
    """The plot overlays the three runs step by step: each stops at about 500 steps (its
    epochs), so none runs on past the others while the learner reads."""
    for step in ("stochastic", "mini", "full"):
        run = build(7, step)
        per_epoch = -(-len(run.data.X_train) // (run.trainer.batch_size or 250))
        assert 500 <= run.experiment.train.epochs * per_epoch <= 510, step


def test_lesson7_smaller_batches_are_noisier_per_step() -> None:
    one, mini, full = (jitter(batch_losses(s)) for s in ("stochastic", "mini", "full"))
    assert 0.2 <= one <= 0.4  # "about 0.3"
    assert 0.04 <= mini <= 0.08  # "about 0.06"
    assert 4 <= one / mini <= 6.5  # "five times quieter"
    assert full < mini / 10


def test_lesson7_per_step_and_per_epoch_progress() -> None:
    """In the same 500 steps batch 32 goes further than batch 1; after the same 2 epochs
    batch 1 is far ahead of the full batch."""
    runs = {}
    for step in ("stochastic", "mini"):
        run = build(7, step)
        step_losses(run, 500)
        runs[step] = run.trainer.evaluate(run.data.X_train, run.data.y_train)[0]
    assert runs["mini"] < runs["stochastic"]
    after_two = {}
    for step in ("stochastic", "full"):
        run = build(7, step)
        fit(run, 2)
        after_two[step] = run.trainer.evaluate(run.data.X_train, run.data.y_train)[0]
    assert after_two["stochastic"] < 0.8 * after_two["full"]


# ---------------------------------------------------------------------- 8 optimisers
OPTIMISER_STEPS = ("sgd", "momentum", "rmsprop", "adam")


@cache
def optimiser_history(step: str) -> History:
    return fit(build(8, step))


def test_lesson8_every_optimiser_starts_from_the_same_weights() -> None:
    first = build(8, "sgd").net
    for step in OPTIMISER_STEPS[1:]:
        np.testing.assert_array_equal(build(8, step).net.data, first.data)


def test_lesson8_optimisers_compared() -> None:
    sgd, momentum, rmsprop, adam = (optimiser_history(s) for s in OPTIMISER_STEPS)
    assert sgd.train_loss[-1] > 0.6 and first_epoch(sgd, 0.3) is None
    m, r, a = (first_epoch(h, 0.3) for h in (momentum, rmsprop, adam))
    assert m is not None and r is not None and a is not None
    assert m <= 16 and r <= 4 and a <= 8  # "by epoch 16", "by epoch 4", "by epoch 8"
    assert r < a < m  # RMSprop fastest here, then Adam, then momentum
    assert momentum.train_loss[-1] < 0.1
    for h in (momentum, rmsprop, adam):
        assert h.train_loss[-1] < sgd.train_loss[-1] / 4


def test_lesson8_momentum_multiplies_a_steady_gradient_by_ten() -> None:
    quiz = lesson(8).steps[lesson(8).index("momentum")].quiz
    assert quiz is not None
    mu, v = lesson(8).experiment_at("momentum").train.momentum, 0.0
    for _ in range(500):
        v = mu * v + 1.0
    assert v == pytest.approx(quiz.answer, rel=1e-6)


BOWL_STEPS = ("bowl", "bowl-momentum", "bowl-rmsprop", "bowl-adam")


@cache
def bowl_path(step: str) -> np.ndarray:
    """(w, b) before the first step and after every step of the two-parameter run."""
    run = build(8, step)
    path = [np.array(run.net.data, dtype=np.float64)]
    for event in run.trainer.run(run.data.X_train, run.data.y_train, None):
        if isinstance(event, Step):
            path.append(np.array(run.net.data, dtype=np.float64))
            if len(path) > run.experiment.train.epochs:
                break
    return np.array(path)


def least_squares(step: str) -> np.ndarray:
    data = build(8, step).data
    x = np.asarray(data.X_train[:, 0], dtype=np.float64)
    A = np.stack([x, np.ones_like(x)], axis=1)
    y = np.asarray(data.y_train, dtype=np.float64).reshape(-1)
    solution: np.ndarray = np.linalg.lstsq(A, y, rcond=None)[0]
    return solution


def test_lesson8_the_bowl_has_two_parameters_and_one_bottom() -> None:
    bottom = least_squares("bowl")
    assert bottom == pytest.approx([0.085, 0.0], abs=0.005)  # "w ≈ 0.085, b ≈ 0"
    for step in BOWL_STEPS:
        run = build(8, step)
        assert run.net.n_params == 2 and run.trainer.batch_size is None
        path = bowl_path(step)
        np.testing.assert_allclose(path[0], [-1.0, 2.0])  # "every run starts at w = −1, b = 2"
        assert path[-1] == pytest.approx(bottom, abs=0.015)  # every run ends at the bottom


def test_lesson8_the_bowl_is_steep_along_w_and_gentle_along_b() -> None:
    x = np.asarray(build(8, "bowl").data.X_train[:, 0], dtype=np.float64)
    assert x.min() > -6.0 and x.max() < 6.0 and np.ptp(x) > 11.0  # "x₁ runs from −6 to 6"
    A = np.stack([x, np.ones_like(x)], axis=1)
    curvatures, directions = np.linalg.eigh(2.0 * A.T @ A / len(x))  # the loss's Hessian
    assert curvatures[1] > 10 * curvatures[0]
    assert abs(directions[0, 1]) > 0.99  # the steep direction is (almost) w alone


def test_lesson8_paths_on_the_bowl() -> None:
    sgd, momentum, rmsprop, adam = (bowl_path(s) for s in BOWL_STEPS)
    bottom = least_squares("bowl")
    length = {
        s: float(np.linalg.norm(np.diff(bowl_path(s), axis=0), axis=1).sum()) for s in BOWL_STEPS
    }
    assert (sgd[1, 0] - bottom[0]) * (sgd[0, 0] - bottom[0]) < 0  # the first step jumps across w
    assert np.all(sgd[:, 1] >= bottom[1] - 1e-3)  # then slides down b without crossing
    assert momentum[:, 1].min() == pytest.approx(-1.2, abs=0.1)  # "b swings down to about −1.2"
    assert 5 <= length["bowl-momentum"] / length["bowl"] <= 7  # "about six times longer"
    assert min(length, key=length.__getitem__) == "bowl-rmsprop"  # "the shortest path of all"
    assert np.all(rmsprop[:, 1] >= bottom[1] - 1e-3)  # "almost straight": no overshoot in b
    assert adam[:, 1].min() < bottom[1] - 0.01  # Adam overshoots a little
    assert length["bowl-adam"] < 1.2 * length["bowl-rmsprop"]  # "close to RMSprop's"
