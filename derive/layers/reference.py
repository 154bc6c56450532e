"""An independent forward and backward pass of every layer, in plain NumPy and float64.

``verify`` chains these from the input to the loss and back and compares the gradients with the
engine's; the derivations read the layer's inner quantities (a window's winner, x̂, the gates,
the softmax rows) from them. Nothing here calls the engine's kernels: convolutions run over
sliding windows with ``einsum``, normalisation backward goes through the computation graph
(x̂ → σ² → μ → x) rather than the engine's compact three-term formula, and the activations'
derivatives are SymPy's ``diff`` of their rules, lambdified.

Each layer type has ``forward(layer, params, x, mask) -> (y, cache)`` and
``backward(layer, params, cache, gy) -> (gx, grads, inner)``: ``grads`` by parameter name,
``inner`` the backward's intermediate arrays. Each layer type's derivation
(``derive.layers.derivations``) names its pair; ``forward``/``backward`` below look it up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from derive.activations import no_gradient
from derive.layers.derivations import derivation
from engine.activations import activation

Params = dict[str, np.ndarray]
Cache = dict[str, Any]


def windows(x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """(n, c, h, w) → (n, c, oh, ow, k, k): every k×k window at the given stride."""
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


# --------------------------------------------------------------------------- dense and friends


def dense_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> tuple[np.ndarray, Cache]:
    x2 = x.reshape(-1, x.shape[-1])
    z = x2 @ p["W"].T + p["b"]
    return z.reshape(*x.shape[:-1], -1), {"x2": x2, "shape": x.shape}


def dense_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    g2 = g.reshape(-1, g.shape[-1])
    grads = {"W": g2.T @ c["x2"], "b": g2.sum(axis=0)}
    return (g2 @ p["W"]).reshape(c["shape"]), grads, {}


def act_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> tuple[np.ndarray, Cache]:
    """a = σ(z) by the activation's NumPy form in ``engine.activations``."""
    a = activation(layer.function).forward(x, layer.alpha)
    return np.asarray(a, dtype=np.float64), {"z": x, "a": a}


def act_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    """∂L/∂z = ∂L/∂a ⊙ σ′(z); the step function has no gradient to pass on."""
    definition = activation(layer.function)
    if not definition.differentiable:
        raise no_gradient(layer.function)
    slope = np.asarray(definition.derivative(c["z"], c["a"], layer.alpha), dtype=np.float64)
    return g * slope, {}, {"slope": slope * np.ones_like(g)}


def dropout_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> tuple[np.ndarray, Cache]:
    return (x * mask if mask is not None else x.copy()), {"mask": mask}


def dropout_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    return (g * c["mask"] if c["mask"] is not None else g.copy()), {}, {}


def flatten_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> tuple[np.ndarray, Cache]:
    return x.reshape(x.shape[0], -1).copy(), {"shape": x.shape}


def flatten_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    return g.reshape(c["shape"]).copy(), {}, {}


# --------------------------------------------------------------------------- images


def conv_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> tuple[np.ndarray, Cache]:
    """z[i, o, y, x] = Σ_{c,dy,dx} W[o, c, dy, dx] · x_pad[i, c, y·s + dy, x·s + dx] + b[o]."""
    pad = layer.padding
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = windows(xp, layer.k, layer.stride)
    z = np.einsum("ncyxij,ocij->noyx", win, p["W"]) + p["b"][None, :, None, None]
    return z, {"xp": xp, "win": win, "shape": x.shape}


def conv_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    k, s, pad = layer.k, layer.stride, layer.padding
    grads = {"W": np.einsum("noyx,ncyxij->ocij", g, c["win"]), "b": g.sum(axis=(0, 2, 3))}
    dxp = np.zeros_like(c["xp"])
    oh, ow = g.shape[2:]
    for dy in range(k):
        for dx in range(k):
            part = np.einsum("noyx,oc->ncyx", g, p["W"][:, :, dy, dx])
            dxp[:, :, dy : dy + s * oh : s, dx : dx + s * ow : s] += part
    h, w = c["shape"][2:]
    return dxp[:, :, pad : pad + h, pad : pad + w].copy(), grads, {}


def maxpool_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> tuple[np.ndarray, Cache]:
    """Each window's largest value; ``winner`` is its place in the window, the first of ties."""
    k, s = layer.k, layer.stride
    win = windows(x, k, s)
    flat = win.reshape(*win.shape[:4], k * k)
    winner = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, winner[..., None], axis=-1)[..., 0]
    return y, {"winner": winner, "shape": x.shape}


def winner_rows_cols(layer: Any, winner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The input row and column of each window's winner."""
    oh, ow = winner.shape[2:]
    oy = np.arange(oh)[:, None] * layer.stride
    ox = np.arange(ow)[None, :] * layer.stride
    return oy + winner // layer.k, ox + winner % layer.k


def maxpool_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    rows, cols = winner_rows_cols(layer, c["winner"])
    n, ch = g.shape[:2]
    i = np.arange(n)[:, None, None, None]
    j = np.arange(ch)[None, :, None, None]
    gx = np.zeros(c["shape"])
    np.add.at(gx, (i, j, rows, cols), g)
    return gx, {}, {"rows": rows, "cols": cols}


def avgpool_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> tuple[np.ndarray, Cache]:
    return windows(x, layer.k, layer.stride).mean(axis=(-2, -1)), {"shape": x.shape}


def avgpool_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    k, s = layer.k, layer.stride
    gx = np.zeros(c["shape"])
    oh, ow = g.shape[2:]
    for dy in range(k):
        for dx in range(k):
            gx[:, :, dy : dy + s * oh : s, dx : dx + s * ow : s] += g / (k * k)
    return gx, {}, {}


# --------------------------------------------------------------------------- normalisation


def _norm_forward(x: np.ndarray, axes: tuple[int, ...], eps: float) -> Cache:
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return {"mu": mu, "var": var, "xhat": (x - mu) / np.sqrt(var + eps), "x": x, "eps": eps}


def _norm_backward(c: Cache, dxhat: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Through the graph x → μ → σ² → x̂, one node at a time."""
    x, mu, var, eps = c["x"], c["mu"], c["var"], c["eps"]
    m = int(np.prod([x.shape[a] for a in axes]))
    centred = x - mu
    dvar = (dxhat * centred).sum(axis=axes, keepdims=True) * -0.5 * (var + eps) ** -1.5
    dmu = -(dxhat / np.sqrt(var + eps)).sum(axis=axes, keepdims=True)
    dmu = dmu + dvar * (-2.0 / m) * centred.sum(axis=axes, keepdims=True)
    return dxhat / np.sqrt(var + eps) + dvar * 2.0 * centred / m + dmu / m


def batchnorm_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> Any:
    """Per channel over the batch and the pixels: y = γ x̂ + β, x̂ = (x − μ)/√(σ² + ε)."""
    x3 = x.reshape(x.shape[0], layer.num_features, -1)
    c = _norm_forward(x3, (0, 2), layer.eps)
    y = p["gamma"][None, :, None] * c["xhat"] + p["beta"][None, :, None]
    return y.reshape(x.shape), {**c, "shape": x.shape}


def batchnorm_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    g3 = g.reshape(c["xhat"].shape)
    grads = {"gamma": (g3 * c["xhat"]).sum(axis=(0, 2)), "beta": g3.sum(axis=(0, 2))}
    dx = _norm_backward(c, g3 * p["gamma"][None, :, None], (0, 2))
    return dx.reshape(c["shape"]), grads, {}


def layernorm_forward(layer: Any, p: Params, x: np.ndarray, mask: Any) -> Any:
    """Per row (sample, or sample and time step) over the last axis: y = γ ⊙ x̂ + β."""
    x2 = x.reshape(-1, layer.d)
    c = _norm_forward(x2, (1,), layer.eps)
    return (p["gamma"] * c["xhat"] + p["beta"]).reshape(x.shape), {**c, "shape": x.shape}


def layernorm_backward(layer: Any, p: Params, c: Cache, g: np.ndarray) -> Any:
    g2 = g.reshape(c["xhat"].shape)
    grads = {"gamma": (g2 * c["xhat"]).sum(axis=0), "beta": g2.sum(axis=0)}
    return _norm_backward(c, g2 * p["gamma"], (1,)).reshape(c["shape"]), grads, {}


def forward(layer: Any, p: Params, x: np.ndarray, mask: np.ndarray | None = None) -> Any:
    """The layer's output and what its backward needs."""
    return derivation(layer.type_name).forward(layer, p, x, mask)


def backward(layer: Any, p: Params, cache: Cache, g: np.ndarray) -> Any:
    """(∂L/∂x or None, ∂L/∂ each parameter, the backward's inner arrays)."""
    return derivation(layer.type_name).backward(layer, p, cache, g)
