"""The one interface every backend offers: what layers, losses and optimisers may call.

``Backend`` is a ``typing.Protocol``: the CPU backend (NumPy arrays, Numba kernels) and the CUDA
backend (device arrays, ``numba.cuda`` kernels) both satisfy it, and mypy checks that they do.
An array here is the backend's own kind (``Array``); shapes and dtypes follow the layers'
docstrings. Operations that need many arrays take them grouped in the workspace dataclasses below,
which the layers fill once per batch size and keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

Array = Any
"""A NumPy array on the CPU backend, a Numba device array on the CUDA one."""


@dataclass(slots=True)
class ConvWorkspace:
    """A convolution's scratch arrays for one batch size (``conv2d_workspace_shapes`` sizes them).

    ``xpad`` holds the zero-padded input (forward) or its gradient (backward), which overwrites
    it only after the backward pass has read the input there (a direct convolution's weight
    gradient, ``engine.kernels.cpu.conv.is_direct``); ``cols`` the
    unfolded windows, one block per batch chunk; ``zt`` the product before it is reordered into
    (n, c, h, w) (forward: z, backward: ∂L/∂z); ``dcols``, ``parts_W`` and ``parts_b`` are the
    backward pass's own (the chunks' gradients, summed afterwards).
    """

    stride: int
    pad: int
    xpad: Array
    cols: Array
    zt: Array
    dcols: Array | None = None
    parts_W: Array | None = None
    parts_b: Array | None = None


@dataclass(slots=True)
class BatchNormState:
    """Batch norm's statistics and what its backward pass reads: the running mean and variance
    (updated in training), x̂ and 1/√(σ² + ε) of the last forward pass."""

    eps: float
    momentum: float
    running_mean: Array
    running_var: Array
    xhat: Array
    inv_std: Array


@dataclass(slots=True)
class RecurrentPass:
    """A recurrent layer's arrays for one pass over a chunk-major batch, ``(C, T, nc, ·)``.

    ``cell`` names the kernels (``rnn``, ``lstm``, ``gru``); ``saved`` is what the cell keeps for
    its backward pass beside the hidden states ``hs`` (LSTM: c, tanh c, gates; GRU: gates and the
    candidate's recurrent term; RNN: nothing); ``hp`` is the per-step workspace, ``fast`` picks
    the float32 approximations of tanh and σ.
    """

    cell: str
    xt: Array
    W_ih: Array
    b_ih: Array
    W_hh: Array
    b_hh: Array
    xp: Array
    hs: Array
    saved: tuple[Array, ...]
    hp: Array
    fast: bool


@dataclass(slots=True)
class RecurrentGrads:
    """The backward pass's arrays: ∂L/∂h per step (``dhs``), ∂L/∂(projected input) (``dxp``),
    what the cell carries back in time (``carried``: ∂L/∂h, and ∂L/∂c for the LSTM, …), the
    weights' gradients (W_ih, b_ih, W_hh, b_hh), each chunk's share where there are several
    (``parts``), and ∂L/∂x or None."""

    dhs: Array
    dxp: Array
    carried: tuple[Array, ...]
    grads: tuple[Array, ...]
    parts: tuple[Array, ...] | None
    gx: Array | None


@dataclass(slots=True)
class AttentionPass:
    """A self-attention layer's arrays for a pass over (n, T, d): its input as rows ``x``
    (n·T, d), the projections' weights, ``qkv`` (n·T, 3d) with its (n, T, 3d) view ``qkv3``,
    the transposed attention weights ``AT`` (n, heads, T, T), the heads' output ``o`` (n·T, d)
    with its view ``o3``, the kernels' scratch (``work``, ``bits``: one row per chunk of the
    batch on the CPU) and the output ``y`` (n·T, d)."""

    heads: int
    causal: bool
    fast_exp: bool
    x: Array
    W_in: Array
    b_in: Array
    qkv: Array
    qkv3: Array
    AT: Array
    o: Array
    o3: Array
    work: Array
    bits: Array
    W_out: Array
    b_out: Array
    y: Array


@dataclass(slots=True)
class AttentionGrads:
    """The backward pass's arrays: ∂L/∂y as rows ``g`` (n·T, d), ∂L/∂o (``dO``, view ``dO3``),
    ∂L/∂qkv (``dqkv``, view ``dqkv3``), the scratch ``dST``, ∂L/∂x as rows or None, and the
    weights' gradients."""

    g: Array
    dO: Array
    dO3: Array
    dqkv: Array
    dqkv3: Array
    dST: Array
    gx: Array | None
    gW_in: Array
    gb_in: Array
    gW_out: Array
    gb_out: Array


@dataclass(slots=True)
class FusedWorkspace:
    """The fused Dense/activation step's arrays (``engine.backends.fused``): the flat parameter
    and gradient buffers, the kernel's workspace, its per-layer plan and activation parameters,
    the workspace offsets (``spots``), the loss's kernel code and Huber's δ. A batch split into
    chunks (on the CPU) has a workspace row per chunk, the output in ``out``, the
    coefficients of the products that add the chunks' weight gradients in ``coefs``, and what
    the optimiser's update in the same call needs (``engine.kernels.cpu.chunks.update_rows``):
    its state buffers ``m`` and ``v`` and its settings ``hyper`` (``hyper[0] == 0``: no update),
    and the threads' counters ``sync`` and the chunks' losses ``losses``; a whole batch has them
    None. ``kinds`` is the set of activation kinds
    in ``plan`` as a bitmask (``1 << kind`` each), for a kernel compiled for what it uses."""

    data: Array
    grad: Array
    ws: Array
    plan: Array
    alphas: Array
    spots: Array
    loss: int
    huber_delta: float
    out: Array | None = None
    coefs: Array | None = None
    kinds: int = 0
    m: Array | None = None
    v: Array | None = None
    hyper: Array | None = None
    sync: Array | None = None
    losses: Array | None = None


class Backend(Protocol):
    """The operations a layer, loss or optimiser may ask of a backend."""

    name: str
    fused_limit: int

    def device_name(self) -> str: ...

    # arrays
    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Array: ...
    def zeros(self, shape: tuple[int, ...], dtype: np.dtype) -> Array: ...
    def to_host(self, a: Array) -> np.ndarray: ...
    def from_host(self, a: np.ndarray, dtype: np.dtype) -> Array: ...
    def contiguous(self, x: Array, dtype: np.dtype | None = None) -> Array: ...
    def uniform(self, rng: np.random.Generator, out: Array) -> None: ...
    def batch_chunks(self, n: int) -> int: ...
    def to_chunks(self, x: Array, out: Array) -> None: ...
    def from_chunks(self, x: Array, out: Array) -> None: ...
    def add(self, a: Array, b: Array, out: Array) -> None: ...
    def gather_rows(self, X: Array, idx: Array, start: int, stop: int, out: Array) -> None: ...

    # dense layers, activations, dropout
    def dense_forward(self, x: Array, W: Array, b: Array, z: Array) -> None: ...
    def dense_backward(
        self, x: Array, W: Array, delta: Array, gW: Array, gb: Array, gx: Array | None
    ) -> None: ...
    def kernel_activation(self, kind: int, dtype: np.dtype) -> int: ...
    def activation_forward(self, z: Array, a: Array, kind: int, alpha: float) -> None: ...
    def activation_backward(
        self, z: Array, a: Array, ga: Array, gz: Array, kind: int, alpha: float
    ) -> None: ...
    def dropout_mask(self, u: Array, p: float, mask: Array) -> None: ...
    def multiply(self, x: Array, mask: Array, out: Array) -> None: ...

    # losses, the fused step, the flat buffer, optimisers
    def loss(self, name: str, y_hat: Array, y: Array, grad: Array, huber_delta: float) -> float: ...
    def fused_loss_and_grad(
        self, x: Array, y: Array, labels: Array, w: FusedWorkspace
    ) -> float: ...
    def penalty(self, data: Array, grad: Array, ranges: Array, l1: float, l2: float) -> float: ...
    def sum_squares(self, v: Array) -> float: ...
    def scale(self, v: Array, factor: float) -> None: ...
    def all_finite(self, v: Array) -> bool: ...
    def optimizer_step(
        self, kernel: str, p: Array, g: Array, *args: Any, threads: bool = False
    ) -> None: ...

    # image layers
    def conv2d_workspace_shapes(
        self, c: int, oc: int, k: int, stride: int, pad: int, n: int, h: int, w: int
    ) -> dict[str, tuple[int, ...]]: ...
    def conv2d_forward(self, x: Array, W: Array, b: Array, ws: ConvWorkspace, z: Array) -> None: ...
    def conv2d_backward(
        self,
        x: Array,
        W: Array,
        delta: Array,
        ws: ConvWorkspace,
        grad_W: Array,
        grad_b: Array,
        grad_x: Array,
        need_x: bool,
    ) -> None: ...
    def maxpool2d_forward(
        self, x: Array, k: int, stride: int, out: Array, argmax: Array
    ) -> None: ...
    def maxpool2d_backward(
        self, grad_out: Array, argmax: Array, k: int, stride: int, gx: Array
    ) -> None: ...
    def avgpool2d_forward(self, x: Array, k: int, stride: int, out: Array) -> None: ...
    def avgpool2d_backward(self, grad_out: Array, k: int, stride: int, gx: Array) -> None: ...
    def batchnorm_forward(
        self, x: Array, gamma: Array, beta: Array, training: bool, s: BatchNormState, out: Array
    ) -> None: ...
    def batchnorm_backward(
        self,
        dy: Array,
        xhat: Array,
        gamma: Array,
        inv_std: Array,
        dx: Array,
        grad_gamma: Array,
        grad_beta: Array,
    ) -> None: ...
    def layernorm_forward(
        self, x: Array, gamma: Array, beta: Array, eps: float, xhat: Array, out: Array, inv: Array
    ) -> None: ...
    def layernorm_backward(
        self,
        dy: Array,
        xhat: Array,
        gamma: Array,
        inv_std: Array,
        dx: Array,
        grad_gamma: Array,
        grad_beta: Array,
    ) -> None: ...

    # sequence layers
    def embedding_forward(self, W: Array, ids: Array, out: Array) -> None: ...
    def embedding_backward(self, ids: Array, grad_out: Array, grad_W: Array) -> None: ...
    def recurrent_forward(self, p: RecurrentPass) -> None: ...
    def recurrent_backward(self, p: RecurrentPass, g: RecurrentGrads) -> None: ...
    def attention_workspace_shapes(
        self, n: int, heads: int, T: int
    ) -> dict[str, tuple[int, ...]]: ...
    def attention_forward(
        self,
        qkv: Array,
        heads: int,
        causal: bool,
        fast_exp: bool,
        AT: Array,
        out: Array,
        work: Array,
        bits: Array,
    ) -> None: ...
    def attention_backward(
        self, dout: Array, qkv: Array, AT: Array, heads: int, dqkv: Array, dST: Array, work: Array
    ) -> None: ...
    def attention_layer_forward(self, p: AttentionPass) -> None: ...
    def attention_layer_backward(self, p: AttentionPass, g: AttentionGrads) -> None: ...
