"""Numba CPU kernel of image augmentation: shift and mirror a batch of flattened images in place.

A batch is ``(n, c·h·w)``, each row one channel-first image. The random draws (offsets, which
images flip) are made by the caller from its own generator, so the kernel is deterministic and
checkable against a plain NumPy reference.
"""

from __future__ import annotations

from numba import njit

from engine import _numba_setup  # noqa: F401


@njit(cache=True, nogil=True)
def shift_flip(x, c, h, w, dy, dx, flip, work):
    """Move image i by (dy[i], dx[i]) pixels, after mirroring it left-right if flip[i].

    for i: work = x[i]; for ch, r, q: s = q - dx[i]; s = w-1-s if flip[i]
        x[i, (ch·h + r)·w + q] = work[(ch·h + r - dy[i])·w + s] if inside else 0

    ``work`` holds one image (c·h·w values), so each image is read from an untouched copy.
    """
    n = x.shape[0]
    size = c * h * w
    for i in range(n):
        for k in range(size):
            work[k] = x[i, k]
        for ch in range(c):
            for r in range(h):
                sr = r - dy[i]
                for q in range(w):
                    sq = q - dx[i]
                    if flip[i]:
                        sq = w - 1 - sq
                    k = (ch * h + r) * w + q
                    if 0 <= sr < h and 0 <= sq < w:
                        x[i, k] = work[(ch * h + sr) * w + sq]
                    else:
                        x[i, k] = 0.0
