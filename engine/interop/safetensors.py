"""Safetensors files, read and written with NumPy alone (no pickle, no extra package).

The format: 8 bytes, little-endian, give the length N of a JSON header; the header maps each
tensor's name to ``{"dtype": "F32", "shape": [3, 2], "data_offsets": [begin, end]}`` (offsets
into the bytes after the header) and may hold ``"__metadata__"``, a table of text to text; then
come the tensors' bytes, little-endian, C order, one after another with no gaps.

``Sequential.save("model.safetensors")`` stores each parameter under PyTorch's state-dict name
(``engine.interop.torch_names``) and the layers and input shape in ``__metadata__`` as JSON text,
so the same file loads back here and into the module ``engine.interop.to_torch`` builds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UserError, os_error_fix
from engine.experiment.checkpoint import atomic_file
from engine.interop.torch_names import counter_names, torch_names
from engine.layers.registry import current_spec

if TYPE_CHECKING:
    from engine.network import Sequential

DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
"""The format's dtype names that NumPy holds as they are; BF16 is widened to float32 on reading."""

CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
MAX_HEADER = 100_000_000  # what the reference reader accepts
FORMAT = "dltui-network"
FIX = "pass a .safetensors file written by dltui (net.save) or by the safetensors package"


def _code(name: str, array: np.ndarray) -> str:
    code = CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"tensor {name!r}: safetensors has no dtype for {array.dtype}")
    return code


def write_safetensors(
    path: str | Path, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> None:
    """Writes ``tensors`` and ``metadata`` (text to text) to ``path`` atomically.

    The tensors are laid out as the reference writer does (widest dtype first, then by name) and
    the header is padded with spaces to a multiple of 8 bytes, so that every tensor starts aligned.
    """
    arrays = {name: np.require(value, requirements="C") for name, value in tensors.items()}
    order = sorted(arrays, key=lambda name: (-arrays[name].dtype.itemsize, name))
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name in order:
        array = arrays[name]
        size = array.nbytes
        header[name] = {
            "dtype": _code(name, array),
            "shape": list(array.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with atomic_file(path) as fh:
        fh.write(len(text).to_bytes(8, "little"))
        fh.write(text)
        for name in order:
            fh.write(arrays[name].astype(arrays[name].dtype.newbyteorder("<")).tobytes())


def read_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors (writable NumPy arrays) and the metadata of a safetensors file.

    Raises:
        UserError: naming the file and what is wrong with it: missing, too short, a header that
            is not the format's JSON, a dtype it does not know, or offsets that do not match the
            shapes and the bytes present.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} {'is a folder' if path.is_dir() else 'does not exist'}", FIX)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(
            f"{path} cannot be read: {exc.strerror}", os_error_fix(exc) or FIX
        ) from None

    def damaged(why: str) -> UserError:
        return UserError(f"{path} is not a readable safetensors file: {why}", FIX)

    if len(raw) < 8:
        raise damaged(f"it holds {len(raw)} bytes, fewer than the 8 of the header's length")
    n = int.from_bytes(raw[:8], "little")
    if n > MAX_HEADER or 8 + n > len(raw):
        raise damaged(f"its header would be {n} bytes long, and the file has {len(raw)}")
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise damaged("its header is not JSON text") from None
    if not isinstance(header, dict):
        raise damaged("its header is not a JSON table")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise damaged("its __metadata__ is not a table of text to text")
    data = memoryview(raw)[8 + n :]
    tensors: dict[str, np.ndarray] = {}
    ends: list[tuple[int, int]] = []
    for name, entry in header.items():
        tensors[name] = _tensor(name, entry, data, damaged)
        ends.append(tuple(entry["data_offsets"]))
    covered = 0
    for begin, end in sorted(ends):
        if begin != covered:
            raise damaged(f"its tensors' bytes overlap or leave a gap at byte {covered}")
        covered = end
    if covered != len(data):
        raise damaged(
            f"its tensors take {covered} bytes after the header, and {len(data)} follow it"
        )
    return tensors, metadata


def _tensor(name: str, entry: Any, data: memoryview, damaged: Any) -> np.ndarray:
    """One header entry's tensor, checked against the bytes there are."""
    if not isinstance(entry, dict) or {"dtype", "shape", "data_offsets"} - entry.keys():
        raise damaged(f"tensor {name!r} lacks dtype, shape or data_offsets")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if code != "BF16" and code not in DTYPES:
        known = ", ".join([*DTYPES, "BF16"])
        raise damaged(f"tensor {name!r} has the dtype {code!r}; this reader knows {known}")
    ints = [*shape, *offsets] if isinstance(shape, list) and isinstance(offsets, list) else [None]
    if len(offsets) != 2 or not all(type(v) is int and v >= 0 for v in ints):
        raise damaged(f"tensor {name!r}: shape and data_offsets must be counts")
    begin, end = offsets
    width = 2 if code == "BF16" else DTYPES[code].itemsize
    if end < begin or end > len(data) or end - begin != int(np.prod(shape)) * width:
        raise damaged(f"tensor {name!r}: its offsets {offsets} do not fit its shape {shape}")
    chunk = data[begin:end]
    if code == "BF16":  # the upper half of a float32: shift the bits into place
        bits = np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return (
        np.frombuffer(chunk, dtype=DTYPES[code])
        .astype(DTYPES[code].newbyteorder("="))
        .reshape(shape)
    )


def save_network(net: Sequential, path: str | Path) -> None:
    """Writes ``net`` as a safetensors file: tensors under PyTorch's names, layers in metadata.

    Each batch-norm layer also gets PyTorch's ``num_batches_tracked`` (0: the engine does not
    count batches, and PyTorch uses the counter only when its momentum is None), so that a
    strict ``load_state_dict`` of the module ``to_torch`` builds accepts the file.
    """
    tensors: dict[str, np.ndarray] = {}
    for name, target in torch_names(net).items():
        source = net.params if name in net.params else net.buffers
        tensors[target] = np.asarray(net.backend.to_host(source[name]))
    for name in counter_names(net.layers):
        tensors[name] = np.zeros((), dtype=np.int64)
    meta = net.file_meta()
    metadata = {
        "format": FORMAT,
        "version": "1",
        "dtype": net.dtype.name,
        **{key: json.dumps(value) for key, value in meta.items()},
    }
    write_safetensors(path, tensors, metadata)


def load_network(path: str | Path, device: str = "cpu") -> Sequential:
    """The network a file of ``save_network`` holds (or any safetensors file with the same
    metadata and tensors, such as one the safetensors package wrote from them)."""
    from engine.network import Sequential

    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT or "layers" not in metadata:
        raise UserError(
            f"{path} holds tensors but no dltui network description (its metadata has no "
            "layers), so the layers they belong to are unknown",
            "build the network in PyTorch and use engine.interop.from_torch, or read the "
            "tensors with engine.interop.safetensors.read_safetensors",
        )
    try:
        layers = [current_spec(spec) for spec in json.loads(metadata["layers"])]
        input_shape = json.loads(metadata.get("input_shape", "null"))
        seed = int(json.loads(metadata.get("seed", "0")))
        dtype = metadata.get("dtype", "float32")
        net = Sequential.from_spec(
            layers, seed=seed, dtype=dtype, device=device, input_shape=input_shape
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{path}: the network description is damaged ({exc})", "save the network again"
        ) from None
    for name, target in torch_names(net).items():
        views = net.params if name in net.params else net.buffers
        if target not in tensors:
            raise UserError(f"{path} lacks the tensor {target!r} (the network's {name})", FIX)
        value = tensors[target]
        if value.shape != views[name].shape or value.dtype.kind != "f":
            raise UserError(
                f"{path}: tensor {target!r} holds {value.dtype} of shape {value.shape}; "
                f"the network's {name} is {net.dtype.name} of shape {views[name].shape}",
                "the file is damaged or belongs to another network; save it again",
            )
        views[name] = value
    return net
