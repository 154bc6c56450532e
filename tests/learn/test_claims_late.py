"""The claims of lessons 9–16, measured: every number a lesson's text states is trained for here.

Each test builds a step's experiment as the lesson runs it (``experiment_at`` and
``weights_at``), trains it headlessly at the lesson's fixed seed and checks what the text says.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from derive import derive
from derive.formula import check_formula
from engine.events import History
from engine.experiment.config import Run
from engine.experiment.presets import get_preset
from engine.inspect import grad_ratio, layer_grad_norms
from engine.network import Sequential
from tui.learn.lesson import LESSONS_DIR, Lesson, load_lesson
from tui.session.probes_nets import attention_map


@cache
def lesson(number: int) -> Lesson:
    (path,) = LESSONS_DIR.glob(f"{number:02d}-*.toml")
    return load_lesson(path)


def build(number: int, step: str) -> Run:
    """The run that ``step`` of lesson ``number`` starts, its hand-set weights in place."""
    run = lesson(number).experiment_at(step).build()
    weights = lesson(number).weights_at(step)
    if weights:
        run.net.set_params(weights)
    return run


def fit(run: Run) -> History:
    """Trains the experiment's own epochs, measuring the validation (or test) set each epoch."""
    data = run.data
    return run.trainer.fit(data.X_train, data.y_train, run.experiment.train.epochs, run.val_set())


def measured_loss(run: Run) -> float:
    return run.trainer.evaluate(run.data.X_test, run.data.y_test)[0]


def measured_accuracy(run: Run) -> float:
    acc = run.trainer.evaluate(run.data.X_test, run.data.y_test)[1]
    assert acc is not None
    return acc


def ratio_now(run: Run) -> float:
    """First layer's ‖∂L/∂θ‖ over the last's, on the first mini-batch of training data."""
    n = 32
    run.net.loss_and_grad(run.data.X_train[:n], run.data.y_train[:n], run.trainer.loss)
    ratio = grad_ratio(layer_grad_norms(run.net))
    assert ratio is not None
    return ratio


# ---------------------------------------------------------------------- 9 overfitting
@cache
def overfit_runs() -> dict[str, tuple[Run, History]]:
    runs = {}
    for step in ("memorise", "l2", "dropout", "early"):
        run = build(9, step)
        runs[step] = (run, fit(run))
    return runs


def val_loss(run: Run) -> float:
    assert run.data.X_val is not None and run.data.y_val is not None
    return run.trainer.evaluate(run.data.X_val, run.data.y_val)[0]


def test_lesson9_gap_opens_without_regularisation() -> None:
    run, history = overfit_runs()["memorise"]
    assert len(run.data.X_train) == 12 and run.data.X_val is not None
    assert len(run.data.X_val) == 8 and len(run.data.X_test) == 20
    assert history.train_loss[-1] < 0.01
    val = [v for v in history.val_loss if v is not None]
    best = int(np.argmin(val))
    assert best < 50  # lowest in the first few dozen epochs
    assert val[-1] > 3 * val[best]  # then climbs to several times that
    assert run.net.n_params > 4000


def test_lesson9_each_regulariser_ends_lower() -> None:
    runs = overfit_runs()
    none = val_loss(runs["memorise"][0])
    for step in ("l2", "dropout", "early"):
        assert val_loss(runs[step][0]) < none / 2, step
    l2_history = runs["l2"][1]
    assert l2_history.train_loss[-1] > 0.01  # L2 keeps it from threading every point
    early_history = runs["early"][1]
    assert early_history.finished is not None
    assert early_history.finished.reason == "early_stopping"
    assert len(early_history) < 100  # a few dozen epochs instead of a thousand


# ---------------------------------------------------------------------- 10 vanishing gradients
def test_lesson10_sigmoid_stack_vanishes_and_stalls() -> None:
    run = build(10, "sigmoid")
    assert 1e-15 < ratio_now(run) < 1e-13  # about 10⁻¹⁴
    history = fit(run)
    assert abs(history.train_loss[-1] - math.log(2)) < 0.01
    assert abs(history.train_acc[-1] - 0.5) < 0.05  # type: ignore[operator]


def test_lesson10_relu_default_stalls_he_trains() -> None:
    relu = build(10, "relu")
    assert 1e-7 < ratio_now(relu) < 1e-5  # about 10⁻⁶
    history = fit(relu)
    assert abs(history.train_loss[-1] - math.log(2)) < 0.01
    he = build(10, "he")
    assert 0.1 < ratio_now(he) < 10.0  # of order 1
    history = fit(he)
    assert history.train_loss[-1] < 0.6
    assert history.train_acc[-1] > 0.7  # type: ignore[operator]


def test_lesson10_residual_trains_where_the_plain_stack_stalls() -> None:
    history = fit(build(10, "residual"))
    assert history.train_acc[-1] > 0.95  # type: ignore[operator]
    plain = get_preset("plain-deep")  # the same network without its skip connections
    assert plain.model.activation == "tanh" and plain.train == lesson(10).experiment_at(3).train
    history = fit(plain.build())
    assert abs(history.train_loss[-1] - math.log(2)) < 0.01


def test_lesson10_too_large_init_explodes_and_clipping_tames_it() -> None:
    history = fit(build(10, "explode"))
    assert history.diverged is not None and history.diverged.step < 10
    history = fit(build(10, "clip"))
    assert history.diverged is None and len(history) == 80
    assert history.train_loss[0] > 5.0  # still large at first
    assert history.train_loss[-1] < math.log(2)


# ---------------------------------------------------------------------- 11 backprop by hand
def test_lesson11_numbers_and_the_update() -> None:
    run = build(11, "pick")
    X, y = run.data.X_train, run.data.y_train
    assert X[0].tolist() == [0.0, 0.0] and float(y[0, 0]) == 0.0
    param = "2.W[0,0]"
    assert lesson(11).steps[0].select == param
    d = derive(run.net, X, y, run.trainer.loss, param, optimizer=run.optimizer)
    yhat = float(run.net.forward(X[:1])[0, 0])
    assert yhat == pytest.approx(0.5449, abs=5e-5)
    assert (yhat - 0.0) ** 2 == pytest.approx(0.2969, abs=5e-5)
    assert 2 * yhat == pytest.approx(1.09, abs=5e-3)
    assert yhat * (1 - yhat) == pytest.approx(0.248, abs=5e-4)
    # the three factors for the first point, and the derivation's own chain-rule product
    one = 2 * yhat * yhat * (1 - yhat) * 0.5
    assert one == pytest.approx(0.1351, abs=5e-5)
    per_sample = []
    for i in range(4):
        out = float(run.net.forward(X[i : i + 1])[0, 0])
        hidden = 1 / (1 + math.exp(-(X[i] @ np.array([0.5, -0.5]))))
        per_sample.append(2 * (out - float(y[i, 0])) * out * (1 - out) * hidden)
    assert per_sample == pytest.approx([0.1351, -0.0955, -0.1368, 0.1264], abs=5e-5)
    assert d.value == pytest.approx(np.mean(per_sample), rel=1e-6)
    assert d.value == pytest.approx(0.0073, abs=5e-5)
    predicted = float(d.steps[-1].value)
    assert predicted == pytest.approx(0.6927, abs=5e-5)
    run.trainer.fit(X, y, 1)  # one full-batch step
    assert float(run.net.params["2.W"][0, 0]) == pytest.approx(predicted, abs=1e-6)
    quiz = lesson(11).steps[lesson(11).index("batch")].quiz
    assert quiz is not None and abs(float(quiz.answer) - predicted) < quiz.tolerance


# ---------------------------------------------------------------------- 12 convolution
def test_lesson12_cnn_beats_dense_of_similar_size() -> None:
    mlp, cnn = build(12, "mlp"), build(12, "cnn")
    assert len(mlp.data.X_train) == 539
    assert mlp.net.n_params == 1960 and cnn.net.n_params == 1898
    first_conv = cnn.net.params["0.W"].size + cnn.net.params["0.b"].size
    assert first_conv == 80
    fit(mlp)
    fit(cnn)
    mlp_acc, cnn_acc = measured_accuracy(mlp), measured_accuracy(cnn)
    assert 0.94 < mlp_acc < 0.96  # about 95 %
    assert 0.96 < cnn_acc < 0.98  # near 97 %
    assert cnn_acc > mlp_acc + 0.01


# ---------------------------------------------------------------------- 13 recurrent
def test_lesson13_rnn_fails_as_the_lag_grows_gru_does_not() -> None:
    short = build(13, "short")
    fit(short)
    assert measured_loss(short) < 0.01
    long = build(13, "long")
    fit(long)
    assert abs(measured_loss(long) - 1 / 6) < 0.03  # near 0.16, the mean's error
    d = derive(long.net, long.data.X_train[:1], long.data.y_train[:1], "mse", "0.W_hh[0,0]")
    (gains,) = [np.asarray(s.value) for s in d.steps if str(s.lhs).startswith("gain")]
    assert len(gains) == 39  # ‖∂h_T/∂h_(T−k)‖ for k = 1 … 39
    assert 0.5 < gains[0] < 2.0  # about 1 one step back
    assert gains[-1] < 1e-3 * gains[0]  # below a thousandth of that 39 steps back
    gru = build(13, "gru")
    assert gru.experiment.data.options["length"] == 40
    fit(gru)
    assert measured_loss(gru) < 0.01


# ---------------------------------------------------------------------- 14 attention
def test_lesson14_mask_rows_and_loss() -> None:
    run = build(14, "text")
    assert run.data.n_classes == 57
    start = measured_loss(run)
    assert abs(start - math.log(57)) < 0.2  # near ln 57
    history = fit(run)
    assert history.train_loss[-1] < 2.7
    maps = [attention_map(run.net, run.data, 0, head).weights for head in range(2)]
    for weights in maps:
        assert weights is not None
        assert np.all(np.triu(weights, 1) == 0.0)  # exactly 0 above the diagonal
        assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)
        assert weights[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert maps[0] is not None and maps[1] is not None
    assert np.abs(maps[0] - maps[1]).max() > 0.05  # the heads look differently


# ---------------------------------------------------------------------- 15 autoencoders
def test_lesson15_wider_bottleneck_lower_error() -> None:
    errors = {}
    for step in ("narrow", "eight", "wide"):
        run = build(15, step)
        fit(run)
        errors[step] = measured_loss(run)
    assert 0.05 < errors["narrow"] < 0.07  # about 0.06
    assert 0.025 < errors["eight"] < 0.035  # about 0.03
    assert 0.01 < errors["wide"] < 0.018  # about 0.014
    assert errors["narrow"] - errors["eight"] > errors["eight"] - errors["wide"]


# ---------------------------------------------------------------------- 16 transfer, augmentation
def test_lesson16_the_shipped_network_is_the_pretrain_step_trained() -> None:
    pre = build(16, "pretrain")
    assert len(pre.data.X_train) == 721 and len(pre.data.X_test) == 180
    fit(pre)
    assert measured_accuracy(pre) == 1.0
    transfer = lesson(16).experiment_at("transfer")
    shipped = Sequential.load(transfer.model.init_from)
    assert shipped.spec() == pre.net.spec()
    assert np.allclose(np.asarray(shipped.data), np.asarray(pre.net.data), atol=1e-3)


def test_lesson16_transfer_and_augmentation_measured() -> None:
    few = build(16, "few")
    assert len(few.data.X_train) == 25 and len(few.data.X_test) == 179
    assert np.bincount(few.data.y_train.astype(int)).tolist() == [5] * 5
    fit(few)
    scratch = measured_accuracy(few)
    assert scratch == pytest.approx(0.94, abs=0.01)  # about 94 %

    run = build(16, "transfer")
    assert run.net.n_params == 1573
    assert run.net.params["7.W"].size + run.net.params["7.b"].size == 325  # the new head
    frozen = {k: np.array(v) for k, v in run.net.params.items() if k.split(".")[0] in ("0", "3")}
    fit(run)
    for name, value in frozen.items():
        assert np.array_equal(np.asarray(run.net.params[name]), value), name
    transferred = measured_accuracy(run)
    assert transferred == pytest.approx(0.82, abs=0.01)  # near 82 %

    random = build(16, "random")
    assert random.experiment.model.freeze == [0, 3] and not random.experiment.model.init_from
    fit(random)
    assert measured_accuracy(random) == pytest.approx(0.74, abs=0.01)  # near 74 %
    assert measured_accuracy(random) < transferred < scratch

    augmented = build(16, "augment")
    assert augmented.experiment.train.augment_shift == 1
    assert augmented.experiment.model == few.experiment.model
    fit(augmented)
    assert measured_accuracy(augmented) == pytest.approx(0.92, abs=0.01)  # about 92 %
    assert measured_accuracy(augmented) < scratch


def test_lesson16_over_six_seeds() -> None:
    """Transfer loses to scratch and augmentation hurts at every seed; the frozen 0-4 filters
    beat frozen random ones at five of six."""
    wins = 0
    for seed in range(6):
        acc = {}
        for step in ("few", "transfer", "random", "augment"):
            run = lesson(16).experiment_at(step).replace(train={"seed": seed}).build()
            fit(run)
            acc[step] = measured_accuracy(run)
        assert acc["transfer"] < acc["few"] and acc["augment"] < acc["few"], seed
        wins += acc["transfer"] > acc["random"]
    assert wins == 5


# ---------------------------------------------------------------------- the quizzes
@pytest.mark.parametrize("number", range(9, 17))
def test_quizzes_accept_their_answers(number: int) -> None:
    """Every lesson has a quiz; a formula's answer passes the checker and its negation fails."""
    quizzes = [s.quiz for s in lesson(number).steps if s.quiz is not None]
    assert quizzes
    for quiz in quizzes:
        if quiz.kind == "formula":
            answer = str(quiz.answer)
            assert check_formula(answer, answer, quiz.variables).correct
            assert not check_formula(f"-({answer})", answer, quiz.variables).correct
