"""Image augmentation: the shift/flip kernel against NumPy, and what Augment does to a batch."""

from __future__ import annotations

import time

import numpy as np
import pytest

from engine.augment import Augment
from engine.errors import UserError
from engine.kernels.cpu.augment import shift_flip


def reference_shift_flip(
    x: np.ndarray, shape: tuple[int, int, int], dy: np.ndarray, dx: np.ndarray, flip: np.ndarray
) -> np.ndarray:
    """Mirror (if asked), then move by (dy, dx) with zeros coming in, using slices."""
    c, h, w = shape
    out = np.zeros_like(x)
    for i in range(len(x)):
        img = x[i].reshape(c, h, w)
        img = img[:, :, ::-1] if flip[i] else img
        a, b = int(dy[i]), int(dx[i])
        moved = out[i].reshape(c, h, w)
        moved[:, max(a, 0) : h + min(a, 0), max(b, 0) : w + min(b, 0)] = img[
            :, max(-a, 0) : h - max(a, 0), max(-b, 0) : w - max(b, 0)
        ]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_the_numpy_reference(dtype: type) -> None:
    rng = np.random.default_rng(0)
    shape = (3, 5, 7)  # several channels and a non-square image catch swapped indices
    x = rng.random((40, 105)).astype(dtype)
    dy, dx = rng.integers(-4, 5, 40), rng.integers(-6, 7, 40)
    flip = rng.random(40) < 0.5
    expected = reference_shift_flip(x, shape, dy, dx, flip)
    shift_flip(x, *shape, dy, dx, flip, np.empty(105, dtype=dtype))
    np.testing.assert_array_equal(x, expected)


def _impulses(n: int, size: int = 28) -> np.ndarray:
    x = np.zeros((n, size * size))
    x[:, (size // 2) * size + size // 2] = 1.0
    return x


def test_nothing_to_do_is_the_identity_even_outside_the_unit_range() -> None:
    x = np.random.default_rng(1).normal(size=(16, 64))
    before = x.copy()
    assert Augment((8, 8), shift=0, flip=False, noise=0.0)(x) is None
    np.testing.assert_array_equal(x, before)


def test_a_shift_moves_an_impulse_by_at_most_shift_pixels_each_way() -> None:
    x = _impulses(300)
    Augment((1, 28, 28), shift=3, seed=2)(x)
    assert np.all(x.sum(axis=1) == 1.0) and np.all(x.max(axis=1) == 1.0)
    row, col = np.divmod(x.argmax(axis=1), 28)
    dy, dx = row - 14, col - 14
    assert set(dy) == set(dx) == set(range(-3, 4))  # every offset is drawn, none beyond


def test_the_drawn_shift_is_the_same_for_every_pixel_and_zeros_come_in() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0.1, 1.0, (50, 2 * 10 * 12))
    original = x.copy()
    aug = Augment((2, 10, 12), shift=4, seed=4)
    aug(x)
    for i in range(len(x)):
        img = x[i].reshape(2, 10, 12)
        rows, cols = np.nonzero(img[0])  # the picture covers rows max(a,0) .. 9+min(a,0)
        a = rows.min() if rows.min() > 0 else rows.max() - 9
        b = cols.min() if cols.min() > 0 else cols.max() - 11
        expected = reference_shift_flip(original[i : i + 1], (2, 10, 12), [a], [b], [False])
        np.testing.assert_array_equal(x[i], expected[0])
        assert (img == 0).sum() == 2 * (abs(a) * 12 + abs(b) * 10 - abs(a * b))


def test_flips_mirror_about_half_of_the_images() -> None:
    x = np.tile(np.arange(16, dtype=np.float64) / 16.0, (200, 1))
    Augment((4, 4), shift=0, flip=True, seed=5)(x)
    plain = np.arange(16).reshape(4, 4) / 16.0
    mirrored = np.all(x == plain[:, ::-1].ravel(), axis=1)
    kept = np.all(x == plain.ravel(), axis=1)
    assert np.all(mirrored ^ kept)
    assert 70 < mirrored.sum() < 130


def test_noise_has_the_requested_spread_and_values_stay_in_the_unit_range() -> None:
    x = np.full((256, 784), 0.5, dtype=np.float32)
    Augment((28, 28), shift=0, noise=0.1, seed=6)(x)
    assert x.dtype == np.float32
    assert abs(float(x.mean()) - 0.5) < 0.002 and abs(float(x.std()) - 0.1) < 0.002
    y = np.random.default_rng(7).random((64, 784))
    Augment((28, 28), shift=2, flip=True, noise=0.5, seed=7)(y)
    assert y.min() == 0.0 and y.max() == 1.0  # clipped, and the clip is reached


def test_same_seed_same_batches_other_seed_other_batches() -> None:
    batches = np.random.default_rng(8).random((3, 32, 64))
    runs = []
    for seed in (0, 0, 1):
        aug, out = Augment((8, 8), shift=2, flip=True, noise=0.05, seed=seed), batches.copy()
        for b in out:
            aug(b)
        runs.append(out)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    assert not np.array_equal(runs[0][0], runs[0][1])  # a new draw for every batch


def test_a_view_of_a_larger_reused_buffer_is_augmented_in_place() -> None:
    buffer = _impulses(64, 8)
    view = buffer[:10]
    Augment((8, 8), shift=2, noise=0.01, seed=9)(view)
    assert not np.array_equal(view, _impulses(10, 8))
    np.testing.assert_array_equal(buffer[10:], _impulses(54, 8))


def test_a_digits_batch_takes_well_under_a_millisecond() -> None:
    x = np.random.default_rng(10).random((64, 64)).astype(np.float32)
    aug = Augment((1, 8, 8), shift=2, flip=True, noise=0.05, seed=0)
    aug(x)  # compile or load the cached kernel
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        aug(x)
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 1e-3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_shape": (8,)},
        {"image_shape": (0, 8)},
        {"image_shape": (8, 8), "shift": 8},
        {"image_shape": (8, 8), "shift": -1},
        {"image_shape": (8, 8), "shift": 1.5},
        {"image_shape": (8, 8), "noise": -0.1},
        {"image_shape": (8, 8), "noise": "lots"},
    ],
)
def test_bad_settings_are_user_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(UserError):
        Augment(**kwargs)  # type: ignore[arg-type]


def test_a_batch_of_the_wrong_shape_or_dtype_is_refused() -> None:
    aug = Augment((8, 8))
    with pytest.raises(ValueError, match="64"):
        aug(np.zeros((4, 63)))
    with pytest.raises(ValueError, match="float32/float64"):
        aug(np.zeros((4, 64), dtype=np.int64))
    with pytest.raises(ValueError, match="C-contiguous"):
        aug(np.zeros((64, 4)).T)
