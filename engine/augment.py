"""Random image augmentation, applied in place to each gathered training batch.

A network that sees every digit a pixel or two to the left, to the right, mirrored or speckled
learns what a digit looks like rather than where its pixels happen to sit, and so generalises
better from few images. The trainer gathers a batch of flattened images into a buffer it reuses
and calls ``augment(batch)``; the buffer is changed in place, so augmentation allocates nothing
per step and the stored data set is never touched.

Example:
    >>> split = datasets.load("digits")
    >>> aug = Augment(split.sample_shape, shift=1, noise=0.05, seed=0)
    >>> batch = split.X_train[:64].copy()
    >>> aug(batch)  # batch now holds shifted, noisy copies of the first 64 digits
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engine.errors import UserError
from engine.kernels.cpu.augment import shift_flip

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_shape(image_shape: Sequence[int]) -> tuple[int, int, int]:
    """Return (channels, rows, cols) from (rows, cols) or (channels, rows, cols)."""
    dims = tuple(image_shape)
    if len(dims) == 2:
        dims = (1, *dims)
    ok = len(dims) == 3 and all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) and d > 0 for d in dims
    )
    if not ok:
        raise UserError(
            f"augment: image_shape={tuple(image_shape)!r} is not (rows, cols) or (c, rows, cols)",
            "pass the data set's sample_shape, e.g. (1, 28, 28)",
        )
    c, h, w = (int(d) for d in dims)
    return c, h, w


class Augment:
    """Shifts, mirrors and adds noise to a batch of flattened images, in place.

    Each call draws, per image, integer offsets dy, dx uniform in [-shift, shift] (pixels moved
    down and right; the uncovered border becomes 0, the background of the image sets), mirrors
    the image left-right with probability 1/2 if ``flip``, and adds Gaussian noise of standard
    deviation ``noise`` to every pixel, clipping the result to [0, 1] so that pixels stay
    intensities. Without noise no clipping is done, so shifts and flips never alter values.

    All draws come from one generator seeded by ``seed``: the same seed and the same sequence of
    batches give the same augmented batches. ``rng`` is public so that a checkpoint can store
    and restore its state with the trainer's.

    Args:
        image_shape: (rows, cols) or channel-first (channels, rows, cols) of one image.
        shift: largest offset in pixels, smaller than both sides of the image.
        flip: mirror half of the images left-right (right for clothes, wrong for digits).
        noise: standard deviation of the added noise, in intensity units (0: none).
        seed: seed of the generator behind every draw.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        shift: int = 2,
        flip: bool = False,
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.channels, self.rows, self.cols = _check_shape(image_shape)
        if isinstance(shift, bool) or not isinstance(shift, int | np.integer):
            raise UserError(f"augment: shift={shift!r} is not a whole number", "use e.g. 2")
        if not 0 <= shift < min(self.rows, self.cols):
            raise UserError(
                f"augment: shift={shift} must lie in [0, {min(self.rows, self.cols) - 1}]",
                "shift by a few pixels at most, e.g. 2 for 28×28 images",
            )
        if isinstance(noise, bool) or not isinstance(noise, int | float) or not noise >= 0.0:
            raise UserError(f"augment: noise={noise!r} is not a number >= 0", "use e.g. 0.05")
        self.shift = int(shift)
        self.flip = bool(flip)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self.size = self.channels * self.rows * self.cols
        self._work: dict[np.dtype, np.ndarray] = {}
        self._noise_buf: dict[np.dtype, np.ndarray] = {}

    def __repr__(self) -> str:
        shape = (self.channels, self.rows, self.cols)
        return f"Augment({shape}, shift={self.shift}, flip={self.flip}, noise={self.noise})"

    def __call__(self, xb: npt.NDArray[np.floating]) -> None:
        """Augment the batch ``xb`` of shape (n, c·h·w) in place."""
        self._check_batch(xb)
        n = xb.shape[0]
        if n == 0:
            return
        if self.shift or self.flip:
            dy = self._offsets(n)
            dx = self._offsets(n)
            flip = self.rng.random(n) < 0.5 if self.flip else np.zeros(n, dtype=np.bool_)
            shift_flip(xb, self.channels, self.rows, self.cols, dy, dx, flip, self._buffer(xb))
        if self.noise > 0.0:
            noise = self._noise(xb)
            self.rng.standard_normal(dtype=xb.dtype, out=noise.reshape(-1))
            noise *= xb.dtype.type(self.noise)
            xb += noise
            np.clip(xb, 0.0, 1.0, out=xb)

    def _offsets(self, n: int) -> npt.NDArray[np.int64]:
        if self.shift == 0:
            return np.zeros(n, dtype=np.int64)
        return self.rng.integers(-self.shift, self.shift + 1, n, dtype=np.int64)

    def _check_batch(self, xb: np.ndarray) -> None:
        """Reject what the kernel cannot change in place; a bug in the caller, not the user."""
        if not isinstance(xb, np.ndarray) or xb.ndim != 2 or xb.shape[1] != self.size:
            shape = getattr(xb, "shape", None)
            raise ValueError(f"augment needs a NumPy batch (n, {self.size}), got shape {shape}")
        if xb.dtype not in FLOATS or not xb.flags.c_contiguous or not xb.flags.writeable:
            raise ValueError(
                f"augment needs a writeable C-contiguous float32/float64 batch, got {xb.dtype}"
            )

    def _buffer(self, xb: np.ndarray) -> np.ndarray:
        """The one-image workspace of the kernel, one per dtype, made once."""
        work = self._work.get(xb.dtype)
        if work is None:
            work = self._work[xb.dtype] = np.empty(self.size, dtype=xb.dtype)
        return work

    def _noise(self, xb: np.ndarray) -> np.ndarray:
        """A noise buffer shaped like ``xb``, grown when a larger batch arrives, then reused."""
        buf = self._noise_buf.get(xb.dtype)
        if buf is None or buf.shape[0] < xb.shape[0]:
            buf = self._noise_buf[xb.dtype] = np.empty((xb.shape[0], self.size), dtype=xb.dtype)
        return buf[: xb.shape[0]]
