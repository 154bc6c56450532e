"""Checks of a trainer's saved state before a resume uses any of it.

A checkpoint is a file a person can damage: the sample order goes into a kernel that trusts its
indices, counts become loop bounds, optimiser buffers feed every later step. ``check_saved``
checks every value first and raises ValueError naming the one that does not fit (``RunDir``
adds the file and the fix).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_saved(
    arrays: dict[str, np.ndarray],
    meta: dict[str, Any],
    opt: dict[str, np.ndarray],
    state_names: Any,
    size: tuple[int, ...],
    n: int | None,
    batch_size: int | None,
) -> None:
    """Raises ValueError unless the saved counts, sums, optimiser state (``state_names``, each
    of ``size``), best weights and sample order fit a trainer over ``n`` samples."""
    for key in ("step", "epoch", "cursor", "opt_t"):
        _count(meta.get(key), key)
    if meta.get("best_epoch") is not None:
        _count(meta["best_epoch"], "best_epoch")
    sums = meta.get("sums")
    if not (isinstance(sums, list) and len(sums) == 3 and all(map(_is_number, sums))):
        raise ValueError(f"sums is {sums!r}, not three numbers")
    if not all(math.isfinite(v) and v >= 0 for v in sums) or int(sums[2]) != sums[2]:
        raise ValueError(f"sums {sums!r} are not a loss sum and two counts")
    if not _is_number(meta.get("best_val")) or math.isnan(meta["best_val"]):
        raise ValueError(f"best_val is {meta.get('best_val')!r}, not a number")
    for name in state_names:
        check_floats(opt.get(name), f"opt.{name}", size)
    if "best_data" in arrays:
        check_floats(arrays["best_data"], "best_data", size)
    if "order" in arrays:
        check_order(arrays["order"], n, meta["cursor"], batch_size)
    elif n is not None and meta["cursor"] > batches(n, batch_size):
        raise ValueError(f"cursor {meta['cursor']} lies past the epoch's batches")


def batches(n: int, batch_size: int | None) -> int:
    """Mini-batches in an epoch of ``n`` samples (one, the whole set, without a batch size)."""
    return math.ceil(n / (n if batch_size is None else min(batch_size, n))) if n else 0


def check_order(order: np.ndarray, n: int | None, cursor: int, batch_size: int | None) -> None:
    """Raises ValueError unless ``order`` is a permutation of range(n) and ``cursor`` a batch
    of it (the order indexes the data inside a kernel that trusts it)."""
    if order.ndim != 1 or order.dtype.kind not in "iu":
        raise ValueError(f"order is a {order.ndim}-D {order.dtype} array, not 1-D integers")
    if n is None:
        return
    if len(order) != n:
        raise ValueError(f"order holds {len(order)} sample indices, the data has {n} samples")
    if n and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"order holds indices outside 0..{n - 1}")
    seen = np.zeros(n, dtype=bool)
    seen[order] = True
    if not seen.all():
        raise ValueError("order repeats some samples and misses others")
    count = batches(n, batch_size)
    if cursor > count:
        raise ValueError(f"cursor {cursor} lies past the epoch's {count} batches")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} is {value!r}, not a whole number >= 0")


def check_floats(array: np.ndarray | None, name: str, shape: tuple[int, ...] | None = None) -> None:
    """Raises ValueError unless ``array`` holds real floats, all finite (of ``shape``, given one):
    weights, layer state and optimiser buffers all go back into kernels as they are."""
    if array is None:
        raise ValueError(f"{name} is missing")
    if array.dtype.kind != "f" or (shape is not None and array.shape != shape):
        wanted = "floats" if shape is None else f"{shape} floats"
        raise ValueError(f"{name} is a {array.shape} {array.dtype} array, not {wanted}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
