"""``numba.cuda`` kernels for what the sequence layers do around their main kernels.

On the CPU these are NumPy one-liners — a transpose, ``x + h``, ``W[ids]``, ``np.add.at`` — that
a numba device array does not offer, so each is a small grid-stride kernel here:

* ``swap01``: (a, b, c) → (b, a, c), between batch-major sequences and the recurrent layers'
  time-major layout;
* ``add_tiled``: out = a + b with ``b`` repeated along ``a`` (the residual skip, where both have
  one shape, and the positional code, one (T, d) table for every sample);
* ``embedding_forward`` / ``embedding_backward``: the table lookup and its gradient, which sums
  ∂L/∂out over the positions holding each token in a per-(token, column) loop — no atomics, and
  the positions in the order ``np.add.at`` takes them.
"""

from __future__ import annotations

from numba import cuda


@cuda.jit(cache=True)
def swap01(x, out):
    """for i, j, k: out[j, i, k] = x[i, j, k]."""
    _, b, c = x.shape
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        k, j, i = e % c, (e // c) % b, e // (c * b)
        out[j, i, k] = x[i, j, k]


@cuda.jit(cache=True)
def add_tiled(a, b, out):
    """for e: out[e] = a[e] + b[e mod len(b)]  (flat arrays; len(b) divides len(a))."""
    m = b.size
    for e in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        out[e] = a[e] + b[e % m]


@cuda.jit(cache=True)
def embedding_forward(W, ids, out):
    """for p, j: out[p, j] = W[ids[p], j]."""
    d = W.shape[1]
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        p, j = e // d, e % d
        out[p, j] = W[ids[p], j]


@cuda.jit(cache=True)
def embedding_backward(ids, grad_out, grad_W):
    """for v, j: ∂L/∂W[v, j] = Σ over the positions p with ids[p] = v of ∂L/∂out[p, j]."""
    d = grad_W.shape[1]
    for e in range(cuda.grid(1), grad_W.size, cuda.gridsize(1)):
        v, j = e // d, e % d
        acc = grad_W.dtype.type(0.0)
        for p in range(ids.shape[0]):
            if ids[p] == v:
                acc += grad_out[p, j]
        grad_W[v, j] = acc
