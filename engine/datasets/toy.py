"""The small generated data sets: TensorFlow Playground's 2-D sets, moons, and a 1-D sine.

The 2-D generators follow the Playground's ``dataset.ts`` (circle, xor, two gaussians, spiral,
regress plane, regress gaussian): points lie in the square [-6, 6]², the coordinates the app's
decision-boundary map draws in, and a tanh network trains well on that range. Where the
Playground adds noise to the *label* (circle, xor, the regressions) the point itself stays where
it was drawn, so noise shows up as wrongly coloured points near the boundary, as it does there.
Playground labels -1/+1 become 0/1 here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import numpy.typing as npt

from engine.datasets import options as opt
from engine.datasets.registry import DataSet, register
from engine.datasets.split import DataSplit, make_rng, make_split, split_indices

Array = npt.NDArray[np.float64]
Generator2D = Callable[[int, float, np.random.Generator], tuple[Array, Array]]

FEATURES: tuple[str, ...] = ("x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2")
"""The Playground's input features, computed from the two coordinates."""

_FEATURE_FUNCS: dict[str, Callable[[Array, Array], Array]] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1^2": lambda x1, x2: x1 * x1,
    "x2^2": lambda x1, x2: x2 * x2,
    "x1x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: np.sin(x1),
    "sin_x2": lambda x1, x2: np.sin(x2),
}


def check_features(features: object, source: str = "features") -> tuple[str, ...]:
    """Return the chosen feature names as a tuple, or say which names are valid.

    A comma-separated string is accepted too, as a config file or command line gives it.

    Raises:
        UserError: on an empty choice, a repeated name or a name not in :data:`FEATURES`.
    """
    return opt.check_choices(source, "features", features, FEATURES)


def expand_features(X2d: npt.ArrayLike, features: Sequence[str]) -> Array:
    """Compute the chosen Playground features from 2-D points.

    The app calls this on the grid of its decision-boundary map, so that the network sees grid
    points exactly as it saw the training points.

    Args:
        X2d: points of shape (n, 2), columns x1 and x2.
        features: names from :data:`FEATURES`, in the order the columns should have.

    Returns:
        float64 array of shape (n, len(features)).
    """
    names = check_features(features)
    X2d = np.asarray(X2d, dtype=np.float64)
    if X2d.ndim != 2 or X2d.shape[1] != 2:
        raise ValueError(f"expand_features needs points of shape (n, 2), got {X2d.shape}")
    x1, x2 = X2d[:, 0], X2d[:, 1]
    return np.stack([_FEATURE_FUNCS[f](x1, x2) for f in names], axis=1)


def _halves(n: int) -> tuple[int, int]:
    return n // 2, n - n // 2


def _circle(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Playground ``classifyCircleData``: class 1 inside radius 2.5, class 0 on a ring 3.5..5."""
    radius = 5.0
    n_in, n_out = _halves(n)
    r = np.concatenate(
        [rng.uniform(0.0, radius * 0.5, n_in), rng.uniform(radius * 0.7, radius, n_out)]
    )
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    X = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    shifted = X + rng.uniform(-radius, radius, (n, 2)) * noise
    y = (np.hypot(shifted[:, 0], shifted[:, 1]) < radius * 0.5).astype(np.float64)
    return X, y


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Playground ``classifyXORData``: class 1 where x1·x2 >= 0, kept 0.3 away from the axes."""
    X = rng.uniform(-5.0, 5.0, (n, 2))
    X += np.where(X > 0, 0.3, -0.3)
    shifted = X + rng.uniform(-5.0, 5.0, (n, 2)) * noise
    y = (shifted[:, 0] * shifted[:, 1] >= 0).astype(np.float64)
    return X, y


def _gaussians(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Playground ``classifyTwoGaussData``: class 1 around (2, 2), class 0 around (-2, -2).

    Noise widens both clouds: the variance runs linearly from 0.5 to 4 as noise goes 0 to 0.5.
    """
    std = np.sqrt(0.5 + 7.0 * noise)
    n_neg, n_pos = _halves(n)
    X = np.concatenate(
        [rng.normal(-2.0, std, (n_neg, 2)), rng.normal(2.0, std, (n_pos, 2))], axis=0
    )
    y = np.concatenate([np.zeros(n_neg), np.ones(n_pos)])
    return X, y


def _spiral(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Playground ``classifySpiralData``: two arms of 1.75 turns out to radius 5."""
    parts = []
    for label, (count, delta) in enumerate(zip(_halves(n), (np.pi, 0.0))):
        i = np.arange(count) / max(count, 1)
        r = i * 5.0
        t = 1.75 * i * 2.0 * np.pi + delta
        arm = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        arm += rng.uniform(-1.0, 1.0, (count, 2)) * noise
        parts.append((arm, np.full(count, float(label))))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Two interleaved half circles (scikit-learn's ``make_moons``), scaled into [-6, 6]².

    ``noise`` is the standard deviation of the Gaussian jitter in the unscaled units of
    ``make_moons``, so noise=0.1 looks like ``make_moons(noise=0.1)``.
    """
    scale = 3.5
    n_top, n_bottom = _halves(n)
    t_top, t_bottom = rng.uniform(0.0, np.pi, n_top), rng.uniform(0.0, np.pi, n_bottom)
    top = np.stack([np.cos(t_top), np.sin(t_top)], axis=1)
    bottom = np.stack([1.0 - np.cos(t_bottom), 0.5 - np.sin(t_bottom)], axis=1)
    X = np.concatenate([top, bottom]) + rng.normal(0.0, noise, (n, 2))
    X = (X - np.array([0.5, 0.25])) * scale
    y = np.concatenate([np.zeros(n_top), np.ones(n_bottom)])
    return X, y


def _plane(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Playground ``regressPlane``: target (x1 + x2) / 10, so about -1..1 over the square."""
    X = rng.uniform(-6.0, 6.0, (n, 2))
    shifted = X + rng.uniform(-6.0, 6.0, (n, 2)) * noise
    return X, (shifted[:, 0] + shifted[:, 1]) / 10.0


_BUMPS = np.array(
    [[-4, 2.5, 1], [0, 2.5, -1], [4, 2.5, 1], [-4, -2.5, -1], [0, -2.5, 1], [4, -2.5, -1]],
    dtype=np.float64,
)


def _multigauss(n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Playground ``regressGaussian``: six signed cones of radius 2; the strongest one wins."""
    X = rng.uniform(-6.0, 6.0, (n, 2))
    shifted = X + rng.uniform(-6.0, 6.0, (n, 2)) * noise
    dist = np.hypot(
        shifted[:, None, 0] - _BUMPS[None, :, 0], shifted[:, None, 1] - _BUMPS[None, :, 1]
    )
    values = _BUMPS[None, :, 2] * np.clip(1.0 - dist / 2.0, 0.0, 1.0)
    strongest = np.argmax(np.abs(values), axis=1)
    return X, values[np.arange(n), strongest]


# name -> (generator, task, default noise, one-line description)
PLAYGROUND: dict[str, tuple[Generator2D, str, float, str]] = {
    "circle": (_circle, "binary", 0.0, "2-D: a disc inside a ring (Playground)"),
    "xor": (_xor, "binary", 0.0, "2-D: the four quadrants, x1·x2 >= 0 (Playground)"),
    "gaussians": (_gaussians, "binary", 0.0, "2-D: two Gaussian clouds (Playground)"),
    "spiral": (_spiral, "binary", 0.0, "2-D: two interleaved spiral arms (Playground)"),
    "moons": (_moons, "binary", 0.1, "2-D: two interleaved half moons"),
    "plane": (_plane, "regression", 0.0, "2-D regression: a tilted plane (Playground)"),
    "multigauss": (_multigauss, "regression", 0.0, "2-D regression: six bumps (Playground)"),
}


def load_playground(
    name: str,
    *,
    n: int = 500,
    noise: float | None = None,
    test_fraction: float = 0.5,
    seed: int | np.random.Generator = 0,
    features: Sequence[str] = ("x1", "x2"),
) -> DataSplit:
    """Generate one of the 2-D sets in :data:`PLAYGROUND` and split it.

    Args:
        name: a key of :data:`PLAYGROUND`.
        n: total number of points, training and test together.
        noise: 0 to 0.5 like the Playground's 0 % to 50 %; None takes the set's default.
        test_fraction: share held out for testing (the Playground's default is half).
        seed: seed or generator; the same seed gives the same points and the same split.
        features: Playground input features, one column each, in this order.
    """
    generate, task, default_noise, _ = PLAYGROUND[name]
    n = opt.check_count(name, "n", n, minimum=2)
    noise = opt.check_noise(name, default_noise if noise is None else noise)
    test_fraction = opt.check_fraction(name, test_fraction)
    rng = make_rng(opt.check_seed(name, seed))
    features = check_features(features)
    X, y = generate(n, noise, rng)
    rows = split_indices(n, test_fraction, rng, source=name)
    return make_split(
        expand_features(X, features),
        y,
        rows,
        name=name,
        task=task,
        n_classes=2 if task == "binary" else 0,
        feature_names=features,
    )


def load_sine(
    *,
    n: int = 200,
    noise: float = 0.1,
    test_fraction: float = 0.5,
    seed: int | np.random.Generator = 0,
) -> DataSplit:
    """Generate y = sin(x) + noise for x uniform in [-π, π]: the smallest curve to fit.

    Args:
        n: total number of points.
        noise: standard deviation of the Gaussian noise added to y, 0 to 0.5.
        test_fraction: share held out for testing.
        seed: seed or generator.
    """
    n = opt.check_count("sine", "n", n, minimum=2)
    noise = opt.check_noise("sine", noise)
    test_fraction = opt.check_fraction("sine", test_fraction)
    rng = make_rng(opt.check_seed("sine", seed))
    x = rng.uniform(-np.pi, np.pi, n)
    y = np.sin(x) + rng.normal(0.0, noise, n)
    rows = split_indices(n, test_fraction, rng, source="sine")
    return make_split(
        x[:, None], y, rows, name="sine", task="regression", n_classes=0, feature_names=("x1",)
    )


FEATURES_OPTION = opt.Option("features", label="input features", kind="choices", choices=FEATURES)

for _name, (_generate, _task, _noise, _about) in PLAYGROUND.items():
    register(
        DataSet(
            _name,
            partial(load_playground, _name, noise=_noise),
            task=_task,
            description=_about,
            inputs="plane",
            described={"features": FEATURES_OPTION},
            small={"n": 40},
        )
    )

register(
    DataSet(
        "sine",
        load_sine,
        task="regression",
        description="1-D regression: y = sin(x) + noise",
        small={"n": 40},
    )
)
