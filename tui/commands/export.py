"""``dltui export``: a trained network written out for other tools.

::

    dltui export runs/spiral-20250101-120000 --onnx spiral.onnx
    dltui export network.npz --onnx network.onnx --safetensors network.safetensors

The source is a run folder that ``dltui train`` or the app wrote (its latest checkpoint) or a
network saved with ``Sequential.save`` (``.npz`` or ``.safetensors``); no data is loaded. Each
format is one option naming the file to write; several may be given at once. ONNX (``--onnx``)
needs the optional ``onnx`` package; its graph computes the network's inference forward pass, as
``net.forward`` does: the last layer's output (logits for a network trained with a
cross-entropy loss). ``--safetensors`` writes the weights under PyTorch's state-dict names, with
the layers in the file's metadata (``Sequential.load`` reads it back). A layer a format cannot
express is an error naming it (exit code 2). A run stopped before its last epoch exports the
weights its checkpoint holds, and a note says which epoch that is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console

from engine.errors import UserError
from engine.experiment.runfiles import CHECKPOINT
from engine.experiment.runs import RunDir
from engine.network import Sequential


def _check_suffix(option: str, path: Path) -> None:
    """A file named without the format's suffix is one no tool offers to open: refused."""
    suffix = f".{option}"
    if path.suffix != suffix:
        raise UserError(
            f"--{option} {path}: the file name must end in {suffix}",
            f"e.g. --{option} {path.with_suffix(suffix)}",
        )


def write_onnx(net: Sequential, path: Path) -> str:
    _check_suffix("onnx", path)
    from engine.interop.onnx import INPUT, OPSET, OUTPUT, to_onnx
    from engine.interop.onnx_layers import embeds_tokens

    to_onnx(net, path)
    kind = "int64 token ids" if embeds_tokens(net) else "float32"
    shape = ", ".join(["batch", *map(str, net.input_shape)])
    out = ", ".join(["batch", *map(str, net.output_shape)])
    rounded = "; the float64 weights rounded to float32" if net.dtype == np.float64 else ""
    return f"ONNX opset {OPSET}: {INPUT!r} ({shape}) {kind} → {OUTPUT!r} ({out}){rounded}"


def write_safetensors(net: Sequential, path: Path) -> str:
    _check_suffix("safetensors", path)
    net.save(path)
    return "the weights under PyTorch's state-dict names, the layers in the metadata"


FORMATS: dict[str, tuple[str, Callable[[Sequential, Path], str]]] = {
    "onnx": ("an ONNX model of the inference forward pass (needs the onnx extra)", write_onnx),
    "safetensors": ("the weights as safetensors, with PyTorch's names", write_safetensors),
}
"""Each format by its option's name: what the file holds, and the function that writes it
(returning one line about what it wrote)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a trained network out for other tools (ONNX, safetensors)",
        description="Write a run's or a saved network's weights and layers in another format.",
        epilog="Exit code 2: a mistake in the input, or a layer the format cannot express.",
    )
    p.add_argument(
        "source",
        metavar="RUN_OR_NPZ",
        help="a run folder (dltui train, or w in the app), or a saved network (.npz, .safetensors)",
    )
    for name, (about, _) in FORMATS.items():
        p.add_argument(f"--{name}", metavar="FILE", help=f"write to FILE {about}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    wanted = {name: getattr(args, name) for name in FORMATS if getattr(args, name) is not None}
    if not wanted:
        options = " or ".join(f"--{name} FILE" for name in FORMATS)
        raise UserError("no format to export to", f"name the file to write, e.g. {options}")
    net, run_dir = load_network(Path(args.source))
    console = Console(highlight=False)
    unfinished = None if run_dir is None else stopped_early(run_dir)
    if unfinished:
        console.print(f"note: {unfinished}", markup=False)
    for name, target in wanted.items():
        written = FORMATS[name][1](net, Path(target))
        console.print(f"wrote {target}: {written}", markup=False)
    return 0


def stopped_early(run: RunDir) -> str | None:
    """For a run whose training stopped before its last epoch, a sentence saying so: the
    export holds the weights of an unfinished run."""
    planned = run.experiment.train.epochs
    if run.epochs_done >= planned:
        return None
    source = run.path
    return (
        f"{source} stopped after {run.epochs_done} of its {planned} epochs: the export holds the "
        f"weights of that checkpoint (`dltui train --resume {source}` trains the rest)"
    )


def load_network(source: Path) -> tuple[Sequential, RunDir | None]:
    """The network of a run folder's latest checkpoint, with the run, or of a saved network
    file (no run)."""
    if not source.exists():
        raise UserError(
            f"{source} does not exist",
            "give a run folder that `dltui train` wrote, or a saved network (.npz, .safetensors)",
        )
    if source.is_dir():
        run = RunDir.open(source)  # a folder that is no run, or a damaged one, says so
        return Sequential.load(source / CHECKPOINT), run
    if source.suffix not in (".npz", ".safetensors"):
        raise UserError(
            f"{source} is neither a run folder nor a saved network (.npz, .safetensors)",
            "give a run folder that `dltui train` wrote, or a file written by net.save",
        )
    return Sequential.load(source), None
