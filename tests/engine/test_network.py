"""Sequential: flat buffers, gradients against finite differences, files, inputs."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Dense, Dropout, LeakyReLU, ReLU, Sequential, Sigmoid, Tanh, UserError

ACTIVATIONS = [ReLU, lambda: LeakyReLU(0.1), Sigmoid, Tanh]


def target_for(loss: str, rng: np.random.Generator, n: int, out: int) -> np.ndarray:
    if loss == "cross_entropy":
        return rng.integers(0, out, n)
    if loss in ("bce", "bce_logits"):
        return rng.integers(0, 2, (n, out)).astype(float)
    return rng.normal(size=(n, out))


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("loss", ["mse", "huber", "bce", "bce_logits", "cross_entropy"])
def test_gradients_match_finite_differences(act, loss: str, gradient_error) -> None:
    rng = np.random.default_rng(0)
    out = 3 if loss == "cross_entropy" else 2
    layers = [Dense(3, 5), act(), Dense(5, 4), act(), Dense(4, out)]
    if loss == "bce":
        layers.append(Sigmoid())
    net = Sequential(layers, seed=1, dtype="float64")
    x = rng.normal(size=(6, 3)) + 0.05  # keep ReLU kinks away from zero
    y = target_for(loss, rng, 6, out)
    assert gradient_error(net, x, y, loss) < 1e-6


@pytest.mark.parametrize(("l1", "l2"), [(0.01, 0.0), (0.0, 0.05), (0.02, 0.03)])
def test_penalties_match_finite_differences_and_skip_biases(
    l1: float, l2: float, gradient_error
) -> None:
    rng = np.random.default_rng(4)
    net = Sequential([Dense(2, 4), Tanh(), Dense(4, 1)], seed=0, dtype="float64")
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 1))
    total = net.loss_and_grad(x, y, "mse", l1, l2)
    W = np.concatenate([net.params["0.W"].ravel(), net.params["2.W"].ravel()])
    assert net.last_penalty == pytest.approx(l1 * np.abs(W).sum() + 0.5 * l2 * (W**2).sum())
    penalty = net.last_penalty
    assert total == pytest.approx(net.loss_and_grad(x, y, "mse") + penalty)
    assert gradient_error(net, x, y, "mse", l1, l2) < 1e-6


def test_dropout_gradient_uses_the_same_mask() -> None:
    rng = np.random.default_rng(5)
    net = Sequential([Dense(3, 8), Tanh(), Dropout(0.4), Dense(8, 1)], seed=0, dtype="float64")
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    dropout = net.layers[2]
    net.loss_and_grad(x, y, "mse")
    mask = dropout.mask.copy()
    assert set(np.unique(mask)) <= {0.0, 1 / 0.6}
    # with the mask frozen, the layer is a fixed linear map: compare with the analytic gradient
    h = np.tanh(x @ net.params["0.W"].T + net.params["0.b"]) * mask
    y_hat = h @ net.params["3.W"].T + net.params["3.b"]
    expected = 2 * (y_hat - y).T @ h / 4
    np.testing.assert_allclose(net.grads["3.W"], expected, rtol=1e-12)
    np.testing.assert_allclose(net.forward(x), np.tanh(x @ net.params["0.W"].T + net.params["0.b"])
                               @ net.params["3.W"].T + net.params["3.b"], rtol=1e-12)  # fmt: skip


def test_parameters_are_named_views_into_one_flat_buffer() -> None:
    net = Sequential([Dense(2, 8), Tanh(), Dense(8, 8), Tanh(), Dense(8, 1)], seed=0)
    assert list(net.params) == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    assert net.params["0.W"].shape == (8, 2) and net.grads["4.b"].shape == (1,)
    assert net.n_params == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1 and net.data.dtype == np.float32
    net.params["2.b"] = 7.0
    assert np.all(net.data[24 + 64 : 24 + 72] == 7.0)
    assert np.shares_memory(net.params["0.W"], net.data)
    with pytest.raises(KeyError, match="0.W, 0.b"):
        net.params["1.W"]


def test_default_init_follows_pytorch_linear_bounds() -> None:
    net = Sequential([Dense(100, 50)], seed=0, dtype="float64")
    W, b = net.params["0.W"], net.params["0.b"]
    assert np.abs(W).max() <= 0.1 and np.abs(W).max() > 0.09
    assert np.abs(b).max() <= 0.1
    xavier = Sequential([Dense(100, 50, init="xavier")], seed=0).params
    assert np.abs(xavier["0.W"]).max() <= np.sqrt(6 / 150) and not xavier["0.b"].any()
    he = Sequential([Dense(1000, 200, init="he")], seed=0).params["0.W"]
    assert he.std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)


def test_same_seed_same_weights_and_reset() -> None:
    a = Sequential([Dense(2, 4), Tanh(), Dense(4, 1)], seed=3)
    b = Sequential([Dense(2, 4), Tanh(), Dense(4, 1)], seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    before = a.data.copy()
    a.data[...] = 0
    a.reset()
    np.testing.assert_array_equal(a.data, before)
    a.reset(seed=4)
    assert not np.array_equal(a.data, before)


def test_save_and_load_round_trip(tmp_path) -> None:
    net = Sequential(
        [Dense(2, 4), LeakyReLU(0.2), Dropout(0.1), Dense(4, 3)], seed=0, dtype="float64"
    )
    net.save(tmp_path / "model.npz")
    twin = Sequential.load(tmp_path / "model.npz")
    assert twin.spec() == net.spec() and twin.dtype == net.dtype
    np.testing.assert_array_equal(twin.data, net.data)
    x = np.ones((2, 2))
    np.testing.assert_array_equal(twin.forward(x), net.forward(x))
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


@pytest.mark.parametrize("content", [b"", b"not a zip file", None])
def test_loading_a_bad_checkpoint_names_the_file(tmp_path, content) -> None:
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, data=np.zeros(3))  # an npz without dltui metadata
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match="bad.npz"):
        Sequential.load(path)
    with pytest.raises(UserError, match="does not exist"):
        Sequential.load(tmp_path / "missing.npz")


def test_bad_inputs_are_reported() -> None:
    net = Sequential([Dense(2, 3), Tanh(), Dense(3, 3)], seed=0)
    with pytest.raises(ValueError, match=r"expected \(n, 2\)"):
        net.forward(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        net.loss_and_grad(np.zeros((2, 2)), np.array([0, 3]), "cross_entropy")
    with pytest.raises(UserError, match="unknown loss"):
        net.loss_and_grad(np.zeros((2, 2)), np.zeros((2, 3)), "hinge")
    with pytest.raises(UserError, match="dtype"):
        Sequential([Dense(2, 2)], dtype="float16")


def test_copy_is_independent() -> None:
    net = Sequential([Dense(2, 3), Tanh(), Dense(3, 1)], seed=0)
    twin = net.copy()
    twin.data[...] = 0
    assert net.data.any() and "2-3-1" in net.describe()


@pytest.mark.parametrize("fuse", [True, False])
def test_a_deep_copy_trains_its_own_weights(fuse: bool) -> None:
    """``copy.deepcopy`` (as of a trainer): the same numbers, and the copy's layers read the
    copy's own flat weights, so changing or training them changes what the copy computes and
    leaves the original alone."""
    import copy

    from engine.layers.blocks import transformer_block

    rng = np.random.default_rng(0)
    nets = [
        (Sequential([Dense(3, 8), Dropout(0.3), ReLU(), Dense(8, 1)], seed=0), (16, 3), (16, 1)),
        (
            Sequential([*transformer_block(4, 2, 8, causal=True), Dense(4, 1)], seed=0,
                       input_shape=(5, 4)),
            (6, 5, 4),
            (6, 5, 1),
        ),
    ]  # fmt: skip
    for net, xs, ys in nets:
        x, y = rng.normal(size=xs), rng.normal(size=ys)
        net.fuse = fuse
        net.loss_and_grad(x, y, "mse")
        twin = copy.deepcopy(net)
        assert twin.fuse == fuse and np.array_equal(twin.grad, net.grad)
        assert twin.loss_and_grad(x, y, "mse") == net.loss_and_grad(x, y, "mse")  # same masks
        before = net.forward(x)
        twin.data[...] *= 0.5
        assert not np.array_equal(twin.forward(x), before)
        np.testing.assert_array_equal(net.forward(x), before)
