"""``Sequential``: layers in a row, with all parameters in one flat buffer.

The network owns two contiguous 1-D arrays, ``data`` and ``grad``; each parameter (``"0.W"``,
``"0.b"``, ``"2.W"`` …, named like PyTorch's ``nn.Sequential`` state dict) is a view into them.
An optimiser, a penalty, gradient clipping or a checkpoint then works on one array at a time.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends.cpu import Array, get_backend
from engine.backends.fused import FusedSteps
from engine.errors import UserError
from engine.experiment.checkpoint import read_npz, write_npz
from engine.layers.activations import Heaviside
from engine.layers.core import Dense, Layer, sub_views
from engine.layers.registry import build_layer
from engine.losses import LOSSES, STRAIGHT_THROUGH, check_loss
from engine.naming import parse_param_name
from engine.threads import enter_split_step, leave_split_step, split_step

_WHOLE = -1
"""``_enter_pass`` of a network that does not split its batch: nothing to undo (``blas_to_one``
returns None or a thread count)."""

DTYPES: dict[str, np.dtype] = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def _splits_batch(layer: Layer) -> bool:
    """Whether ``layer``, or a layer inside it, runs a batch in chunks over threads."""
    inner = getattr(layer, "inner", None) or ()
    return layer.splits_batch or any(_splits_batch(sub) for sub in inner)


class ParamViews(MutableMapping[str, Array]):
    """Named views into a flat buffer; assigning ``views[name] = value`` copies into the view."""

    def __init__(self, views: dict[str, Array]) -> None:
        self._views = views

    def __getitem__(self, name: str) -> Array:
        try:
            return self._views[name]
        except KeyError:
            valid = ", ".join(self._views)
            raise KeyError(f"no parameter {name!r}; the network has {valid}") from None

    def __setitem__(self, name: str, value: Any) -> None:
        self[name][...] = value

    def __delitem__(self, name: str) -> None:
        raise TypeError("parameters cannot be removed from a network")

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)


class Sequential:
    """A stack of layers trained as one.

    Args:
        layers: the layers, first to last; the first ``Dense`` fixes the input width.
        seed: seeds the initial weights and dropout masks.
        dtype: "float32" (default) or "float64" (what gradient checks use).
        device: "cpu"; "cuda" where that backend is available.
        input_shape: one sample's shape, when the first layer is not ``Dense``.
        init_scale: multiplies every initial weight matrix (not the biases) after each
            layer's own initialisation, at every ``reset``.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        seed: int = 0,
        dtype: str = "float32",
        device: str = "cpu",
        input_shape: Sequence[int] | None = None,
        init_scale: float = 1.0,
    ) -> None:
        if dtype not in DTYPES:
            raise UserError(f"unknown dtype {dtype!r}", "use 'float32' or 'float64'")
        if not layers:
            raise ValueError("Sequential needs at least one layer")
        self.layers = list(layers)
        self.seed = int(seed)
        if not (np.isfinite(init_scale) and init_scale > 0):
            raise UserError(
                f"init_scale = {init_scale} must be a positive number", "use e.g. init_scale = 1.0"
            )
        self.init_scale = float(init_scale)
        self.dtype = DTYPES[dtype]
        self.device = device
        self.backend = get_backend(device)
        self.input_shape = self._input_shape(input_shape)
        self.in_features = int(np.prod(self.input_shape))
        self._allocate()
        self.frozen_ranges: list[tuple[int, int]] = []  # see engine.experiment.transfer.freeze
        # train Dense/activation stacks on flat inputs with the fused kernel (engine.backends.fused)
        self.fuse = len(self.input_shape) == 1
        self._fused = FusedSteps(self)
        self._splits_batch = any(_splits_batch(layer) for layer in self.layers)
        self.on_threads = False  # whether the last step split its batch over Numba's threads
        self.last_updated = False  # whether the last step took its optimiser's update too
        self.reset(seed)

    # ------------------------------------------------------------------ structure
    def _input_shape(self, given: Sequence[int] | None) -> tuple[int, ...]:
        """One sample's shape: as given, or the first layer's input width when it is Dense."""
        if given is not None:
            return tuple(int(s) for s in given)
        if isinstance(self.layers[0], Dense):
            return (self.layers[0].in_features,)
        raise ValueError(
            f"Sequential starting with {self.layers[0].type_name} needs input_shape= "
            "(e.g. (1, 28, 28) for images, (T, features) for sequences)"
        )

    def _allocate(self) -> None:
        shapes: list[tuple[str, int, str, tuple[int, ...]]] = []
        buffer_shapes: list[tuple[str, int, str, tuple[int, ...]]] = []
        shape = self.input_shape
        for i, layer in enumerate(self.layers):
            shapes += [(f"{i}.{k}", i, k, s) for k, s in layer.param_shapes(shape).items()]
            buffer_shapes += [(f"{i}.{k}", i, k, s) for k, s in layer.buffer_shapes(shape).items()]
            shape = layer.out_shape(shape)
        self.output_shape = shape
        self.out_features = shape[-1]
        self.data, views = self._flat(shapes)
        self.grad, gviews = self._flat(shapes)
        self.state, sviews = self._flat(buffer_shapes)
        self.offsets: dict[str, int] = {}  # where each parameter starts in ``data``/``grad``
        ranges = []
        offset = 0
        for name, _, pname, s in shapes:
            size = int(np.prod(s))
            self.offsets[name] = offset
            if pname.split(".")[-1].startswith("W"):  # weight matrices carry the penalties
                ranges.append((offset, offset + size))
            offset += size
        for i, layer in enumerate(self.layers):
            layer.bind(sub_views(views, i), sub_views(gviews, i), sub_views(sviews, i))
            layer.configure(self.backend, self.dtype, layer.rng)
        self.params = ParamViews(views)
        self.grads = ParamViews(gviews)
        self.buffers = ParamViews(sviews)
        self.weight_ranges = np.array(ranges, dtype=np.int64).reshape(-1, 2)

    def _flat(
        self, shapes: list[tuple[str, int, str, tuple[int, ...]]]
    ) -> tuple[Array, dict[str, Array]]:
        """One contiguous array for all ``shapes``, and a named view of it for each."""
        flat = self.backend.zeros((sum(int(np.prod(s)) for *_, s in shapes),), self.dtype)
        views, offset = {}, 0
        for name, _, _, s in shapes:
            size = int(np.prod(s))
            views[name] = flat[offset : offset + size].reshape(s)
            offset += size
        return flat, views

    @property
    def n_params(self) -> int:
        return int(self.data.size)

    def reset(self, seed: int | None = None) -> None:
        """Draws fresh initial weights (from ``seed``, else the network's own); clears gradients."""
        rng = np.random.default_rng(self.seed if seed is None else seed)
        for layer in self.layers:
            layer.configure(self.backend, self.dtype, rng)
            layer.reset(rng)
        if self.init_scale != 1.0:
            for lo, hi in self.weight_ranges:
                self.backend.scale(self.data[lo:hi], self.init_scale)
        self.grad[...] = 0.0

    def set_params(self, values: Mapping[str, Any]) -> None:
        """Sets parameters by hand: whole arrays (``"0.W"``) or single entries (``"1.W[0,1]"``).

        Example: ``net.set_params({"0.W": [[1, -1]], "0.b": [0.0], "1.W[0,1]": 0.5})``. Every
        name and shape is checked before anything is written, so a mistake changes nothing.
        The values are written into the network's buffer in place: an optimiser keeps its
        running state (momentum, Adam's moments) and steps from the new values.

        Raises:
            UserError: for an unknown name (listing the valid ones), an entry outside its
                array, a value of the wrong shape (naming the shape), or a value not finite.
        """
        host = np.array(self.backend.to_host(self.data))  # written whole at the end
        for name, value in values.items():
            target = self._param_target(host, name)
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise UserError(
                    f"{name} = {value!r} is not a number or an array of numbers",
                    f"give {name} {'a number' if target.ndim == 0 else 'a nested list'}",
                ) from None
            if array.shape != target.shape:
                shape = "a single number" if target.ndim == 0 else f"shape {target.shape}"
                raise UserError(
                    f"{name} takes {shape}; the value given has shape {array.shape}",
                    f"give {name} a value of {shape}",
                )
            if not np.isfinite(array).all():
                raise UserError(f"{name} = {value!r} is not finite", "give finite numbers")
            target[...] = array
        self.data[...] = host

    def entry_position(self, name: str) -> int:
        """Where the entry ``name`` (``"0.W[0,1]"``) sits in ``data``, flat.

        Raises:
            UserError: for a name that is no parameter's (listing them) or an entry outside
                its array (naming the shape).
        """
        try:
            entry = parse_param_name(name)
        except ValueError:
            entry = None
        if entry is None or entry.name not in self.offsets:
            first, array0 = next(iter(self.params.items()))
            example = f"{first}[{','.join('0' for _ in array0.shape)}]"
            unknown = name if entry is None or entry.name == name else entry.name
            origin = "" if unknown == name else f" (from {name!r})"
            raise UserError(
                f"the network has no parameter {unknown!r}{origin}",
                f"use one of {', '.join(self.params)}, or one entry of them such as {example}",
            )
        shape = tuple(self.params[entry.name].shape)
        if len(entry.index) != len(shape) or any(
            i >= d for i, d in zip(entry.index, shape, strict=True)
        ):
            raise UserError(
                f"{name} lies outside {entry.name}, whose shape is {shape}",
                f"index it with {len(shape)} numbers below {shape}",
            )
        return self.offsets[entry.name] + int(np.ravel_multi_index(entry.index, shape))

    def _param_target(self, host: np.ndarray, name: str) -> np.ndarray:
        """The view of ``host`` (a copy of ``data``) that ``name`` sets: a whole parameter
        array, or one entry of it as a 0-d view."""
        names = ", ".join(self.params)
        if not isinstance(name, str):
            raise UserError(f"{name!r} is not a parameter's name", f"the network has {names}")
        whole = "".join(name.split())
        if whole in self.offsets:
            shape = tuple(self.params[whole].shape)
            start = self.offsets[whole]
            return host[start : start + int(np.prod(shape))].reshape(shape)
        position = self.entry_position(name)
        return host[position : position + 1].reshape(())  # a 0-d view: assigning writes it

    def spec(self) -> list[dict[str, Any]]:
        """The layers as plain dicts (what checkpoints store)."""
        return [layer.spec() for layer in self.layers]

    def widths(self) -> list[int]:
        """Units per Dense layer, input first: ``[2, 8, 8, 1]`` for a 2-8-8-1 network."""
        return [self.in_features] + [lay.units for lay in self.layers if isinstance(lay, Dense)]

    def describe(self) -> str:
        """One line: ``2-8-8-1, Tanh, 97 parameters``."""
        acts = sorted({lay.type_name for lay in self.layers if not isinstance(lay, Dense)})
        shape = "-".join(str(w) for w in self.widths())
        return f"{shape}, {', '.join(acts) or 'linear'}, {self.n_params} parameters"

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], dtype={self.dtype.name!r})"

    # ------------------------------------------------------------------ computing
    def as_input(self, x: Any) -> Array:
        """``x`` as a contiguous batch of samples of ``input_shape``, in this network's dtype.

        Flat rows (n, prod(input_shape)) — how data sets store images and sequences — are
        reshaped; a single sample may come without its batch axis.
        """
        x = np.asarray(x)
        if x.shape == self.input_shape or (x.ndim == 1 and x.size == self.in_features):
            x = x.reshape(1, *self.input_shape)
        elif x.ndim == 2 and x.shape[1] == self.in_features:
            x = x.reshape(x.shape[0], *self.input_shape)
        if x.shape[1:] != self.input_shape:
            raise ValueError(
                f"input of shape {x.shape}: expected (n, {self.in_features})"
                + (
                    f" or (n, {', '.join(map(str, self.input_shape))})"
                    if len(self.input_shape) > 1
                    else ""
                )
            )
        return self.backend.from_host(x, self.dtype)

    def as_target(self, y: Any, loss: str, n: int) -> Array:
        """``y`` in the form the loss wants: int labels for cross-entropy, else like the output."""
        y = np.asarray(y)
        positions = n * int(np.prod(self.output_shape[:-1]))  # one label per sample and time step
        if loss == "cross_entropy":
            labels = np.ascontiguousarray(y.reshape(-1), dtype=np.int64)
            if labels.shape[0] != positions:
                raise ValueError(f"{labels.shape[0]} labels for {positions} outputs")
            if labels.size and (labels.min() < 0 or labels.max() >= self.out_features):
                raise ValueError(f"labels must lie in 0..{self.out_features - 1}")
            return self.backend.from_host(labels, labels.dtype)
        if y.size != n * int(np.prod(self.output_shape)):
            raise ValueError(
                f"targets of shape {y.shape}: the network gives {(n, *self.output_shape)}"
            )
        return self.backend.from_host(y.reshape(n, *self.output_shape), self.dtype)

    def _blas_threads(self) -> contextlib.AbstractContextManager:
        """BLAS on one thread while the layers run, when some of them split a batch over
        Numba's threads (``backend.batch_chunks`` > 1 for some batch): they call BLAS from each
        thread, and a multithreaded BLAS anywhere in the same passes leaves its threads spinning
        on the cores those need (a step several times slower). Whatever the batch, so that BLAS's
        threads never start; networks without such layers keep them (a wide Dense layer gains).
        The other layers may then take Numba's threads too (``engine.threads.split_step``)."""
        return split_step() if self._one_blas_thread() else contextlib.nullcontext()

    def _enter_pass(self) -> int | None:
        """``_blas_threads`` for a training step, without a context manager (a step allocates
        none): what ``_leave_pass`` takes to undo it."""
        return enter_split_step() if self._one_blas_thread() else _WHOLE

    @staticmethod
    def _leave_pass(before: int | None) -> None:
        """Undoes ``_enter_pass``."""
        if before != _WHOLE:
            leave_split_step(before)

    def _one_blas_thread(self) -> bool:
        """Whether this network's layers split the batch over Numba's threads, BLAS inside."""
        return self._splits_batch and self.backend.batch_chunks(1 << 20) > 1

    def _forward(self, x: Array, training: bool, cache: bool = True) -> Array:
        before = self._enter_pass()
        try:
            for layer in self.layers:
                x = layer.forward(x, training, cache)
        finally:
            self._leave_pass(before)
        return x

    def _backward(self, grad_out: Array, last: int | None = None) -> None:
        """Backpropagates ``grad_out``, the gradient of the output of layer ``last`` (default:
        the last layer)."""
        last = len(self.layers) - 1 if last is None else last
        first_param = 0  # a loop, not a generator: a generator's frame is most of a step's peak
        while first_param < len(self.layers) and not self.layers[first_param].params:
            first_param += 1
        g: Array | None = grad_out
        before = self._enter_pass()
        try:
            i = last
            while i >= first_param:  # no iterator held through the whole pass: a step's peak
                assert g is not None
                g = self.layers[i].backward(g, i > first_param)
                i -= 1
        finally:
            self._leave_pass(before)

    def forward(self, x: Any, training: bool = False) -> np.ndarray:
        """The network's output for a batch (inference: dropout off unless ``training``)."""
        out = self._forward(self.as_input(x), training, cache=False)
        return np.array(self.backend.to_host(out))

    __call__ = forward

    def loss_and_grad(
        self, x: Any, y: Any, loss: str = "mse", l1: float = 0.0, l2: float = 0.0
    ) -> float:
        """Forward and backward on a batch: fills ``grads`` and returns the mean loss.

        The L1/L2 penalties (``l1·Σ|W| + l2·½ΣW²`` over the weight matrices) are added to the loss
        and their gradients to ``grads``; ``last_penalty`` keeps the penalty part.
        """
        check_loss(loss)
        xb = self.as_input(x)
        return self._loss_and_grad(xb, self.as_target(y, loss, xb.shape[0]), loss, l1, l2)

    def _loss_and_grad(
        self, x: Array, y: Array, loss: str, l1: float, l2: float, then: Any = None
    ) -> float:
        """``loss_and_grad`` on a batch already on the device; ``then``: an optimiser whose
        update a split fused step may take in the same call (``FusedStep.run``; without
        penalties only, whose gradients come after), and ``last_updated`` says whether it did:
        if not, the caller runs ``then.step()``."""
        straight = loss in STRAIGHT_THROUGH
        if straight and not isinstance(self.layers[-1], Heaviside):
            raise UserError(
                f"loss {loss!r} needs a network that ends in a step unit (Heaviside)",
                "add one ([model] output = 'step'), or choose another loss",
            )
        fused = self._fused.get(x.shape[0], loss) if self.fuse and not straight else None
        self.last_updated = False
        if fused is not None:
            value = fused.run(x, y, None if l1 or l2 else then)
            self.last_updated = fused.updated
            out = fused.output
            self.on_threads = fused.chunks > 1
        else:
            self.on_threads = self._splits_batch and self.backend.batch_chunks(x.shape[0]) > 1
            before = self._enter_pass()  # the loss too: it may take Numba's threads
            try:
                out = self._forward(x, training=True)
                self.last_output = out  # the last step's output let go before the backward pass
                grad_out = self.layers[-1]._buffer("loss_grad", out.shape, True)
                value = self.backend.loss(loss, out, y, grad_out, LOSSES[loss].delta)
                # straight through the step: its input gets the gradient the loss gave its output
                self._backward(grad_out, len(self.layers) - (2 if straight else 1))
            finally:
                self._leave_pass(before)
        self.last_output = out
        self.last_penalty = 0.0
        if l1 or l2:
            self.last_penalty = self.backend.penalty(
                self.data, self.grad, self.weight_ranges, l1, l2
            )
        return value + self.last_penalty

    def zero_grad(self) -> None:
        self.grad[...] = 0.0

    # ------------------------------------------------------------------ copies and files
    def copy(self) -> Sequential:
        """An independent network with the same layers, weights and training path."""
        twin = Sequential.from_spec(self.spec(), dtype=self.dtype.name, device=self.device,
                                    input_shape=self.input_shape,
                                    init_scale=self.init_scale)  # fmt: skip
        twin.data[...] = self.data
        twin.state[...] = self.state
        twin.fuse = self.fuse  # the same path: a copy computes the very same numbers
        return twin

    def __deepcopy__(self, memo: dict[int, Any]) -> Sequential:
        """``copy``, with the gradient and the layers' random state carried over. Copied field
        by field, each layer's parameter views would become arrays of their own, apart from the
        copy's flat ``data``, and training the copy would not change what it computes."""
        twin = self.copy()
        memo[id(self)] = twin
        twin.seed = self.seed
        twin.grad[...] = self.grad
        for mine, theirs in zip(self.layers, twin.layers):
            theirs.configure(twin.backend, twin.dtype, copy.deepcopy(mine.rng, memo))
        return twin

    @classmethod
    def from_spec(cls, spec: list[dict[str, Any]], seed: int = 0, **kw: Any) -> Sequential:
        return cls([build_layer(s) for s in spec], seed=seed, **kw)

    def save(self, path: str | Path) -> None:
        """Writes layers and weights to a file, atomically (no pickle inside): ``.npz``, or
        ``.safetensors`` with PyTorch's tensor names (``engine.interop.safetensors``)."""
        suffix = Path(path).suffix.lower()
        if suffix == ".safetensors":
            from engine.interop.safetensors import save_network

            save_network(self, path)
            return
        if suffix != ".npz":  # model.pt would hold an .npz that PyTorch cannot read
            raise UserError(
                f"cannot save to {path}: the file name must end in .npz or .safetensors",
                f"e.g. {Path(path).with_suffix('.npz')} (dltui's own format) or "
                f"{Path(path).with_suffix('.safetensors')} (PyTorch reads it as a state dict)",
            )
        meta = {"format": "dltui-network", "version": 1, **self.file_meta()}
        write_npz(path, self.file_arrays(), meta)

    def file_meta(self) -> dict[str, Any]:
        """What a file needs to rebuild this network: layers, input shape, seed."""
        return {"layers": self.spec(), "input_shape": list(self.input_shape), "seed": self.seed}

    def file_arrays(self) -> dict[str, np.ndarray]:
        """The weights, and the layers' untrained state (running statistics) when there is any."""
        arrays = {"data": np.asarray(self.backend.to_host(self.data))}
        if self.state.size:
            arrays["state"] = np.asarray(self.backend.to_host(self.state))
        return arrays

    def to_onnx(self, path: str | Path) -> Any:
        """Writes the network as an ONNX model (see ``engine.interop.onnx.to_onnx``) and
        returns it; the optional ``onnx`` package does the writing."""
        from engine.interop.onnx import to_onnx

        return to_onnx(self, path)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> Sequential:
        """Reads a network written by ``save`` (or a training checkpoint); a ``.safetensors``
        file needs the layers in its metadata, as ``save`` writes them."""
        if Path(path).suffix.lower() == ".safetensors":
            from engine.interop.safetensors import load_network

            return load_network(path, device)
        if Path(path).suffix.lower() in (".onnx", ".pt", ".pth"):  # a file other tools read
            raise UserError(
                f"{path} is not a file dltui reads networks from: it loads its own .npz "
                "and .safetensors files",
                "load the .npz or .safetensors the network was saved or exported as; a PyTorch "
                "model comes in through engine.interop.from_torch",
            )
        arrays, meta = read_npz(path, required=("data",))
        try:
            net = cls.from_spec(
                meta["layers"],
                seed=int(meta.get("seed", 0)),
                dtype=arrays["data"].dtype.name,
                device=device,
                input_shape=meta.get("input_shape"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{path}: the network description is damaged ({exc})",
                "re-save the network, or use a checkpoint written by dltui",
            ) from None
        if arrays["data"].shape != net.data.shape:
            raise UserError(
                f"{path}: holds {arrays['data'].size} weights, its layers need {net.n_params}",
                "the file is damaged; use another checkpoint",
            )
        net.data[...] = arrays["data"]
        if "state" in arrays and arrays["state"].shape == net.state.shape:
            net.state[...] = arrays["state"]
        return net
