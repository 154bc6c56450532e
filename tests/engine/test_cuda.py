"""The numba.cuda backend without a GPU: simulator parity, PTX compilation, clear errors.

Seven subprocesses run the scripts of ``cuda_scripts/``, started together at the first test of
this module and run side by side. The CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` must be set
before Numba is imported, so never in this process) runs ``cuda_sim_cases.py`` — every CUDA
kernel against its CPU twin on tiny shapes, then a network on ``device="cuda"`` against the CPU —
and ``cuda_sim_layers.py`` — the kernels of the image, recurrent and attention layers against
NumPy references — and ``cuda_sim_nets.py`` (twice: image and sequence networks) — small networks
holding every layer type trained on both devices, with device arrays made as strict in the
simulator as on a GPU — and ``cuda_sim_train.py`` — ``dltui train --device cuda``, resuming on
the CPU, and ``init_from`` onto the device; two processes without the simulator compile every
kernel to PTX for compute capabilities 8.0 and 9.0 (``cuda_ptx_check.py``, the layer kernels in
float32 and float64), which catches a kernel that only the simulator's Python would accept.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numba
import pytest
from numba.core.registry import CPUDispatcher

from engine.errors import UserError
from engine.kernels.cpu import core as cpu
from engine.kernels.cpu import fused as cpu_fused
from engine.kernels.cpu import optim as cpu_optim

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
SCRIPTS = HERE / "cuda_scripts"  # the simulator and PTX scripts, run as subprocesses
TWINS = {cpu: "cuda.core", cpu_optim: "cuda.optim", cpu_fused: "cuda.fused"}
TOL = 1e-5  # float32 sums in a different order
LAYER_MODULES = (
    "cuda.conv",
    "cuda.pool",
    "cuda.norm",
    "cuda.sequence",
    "cuda.attention",
)  # against NumPy, float64
LAYER_TOL = 1e-12
NET_CHECKS = ("network cnn", "network pooling", "network recurrent", "network attention")
NET_TOL = 1e-9  # float64, two optimiser steps


def kernel_names(module: ModuleType) -> list[str]:
    """The public Numba kernels a CPU kernel module defines."""
    return sorted(
        name
        for name, obj in vars(module).items()
        if isinstance(obj, CPUDispatcher)
        and not name.startswith("_")
        and obj.py_func.__module__ == module.__name__
    )


ALL_KERNELS = [(m, n) for m in TWINS for n in kernel_names(m)]


def cuda_kernel_names(module_name: str) -> list[str]:
    """The ``@cuda.jit`` kernels (not device functions) that ``engine.kernels.<module>`` defines."""
    from numba.cuda.dispatcher import CUDADispatcher

    module = importlib.import_module(f"engine.kernels.{module_name}")
    return sorted(
        name
        for name, obj in vars(module).items()
        if isinstance(obj, CUDADispatcher)
        and not obj.targetoptions.get("device")
        and obj.py_func.__module__ == module.__name__
    )


def _gpu_present() -> bool:
    from numba import cuda

    return bool(cuda.is_available())


def _start(script: str, cache: Path, simulator: bool, *args: str) -> subprocess.Popen[str]:
    """Runs ``script`` with a Numba cache of its own, a copy of this process's.

    Numba's on-disk cache is not safe for processes that compile at once: two of them can give
    the same file number to two different specialisations of a kernel, and a later load may
    then get the other one's code (wrong numbers: the likely cause of a one-off failure of the
    CNN check below, off by 1.3).
    """
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    shared = Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else None
    if shared is not None and shared.is_dir():
        shutil.copytree(shared, cache, dirs_exist_ok=True)
    env["NUMBA_CACHE_DIR"] = str(cache)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.Popen(
        [sys.executable, str(SCRIPTS / script), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=600)
    lines = out.strip().splitlines()
    if not lines:
        pytest.fail(f"{proc.args[-1]} printed nothing:\n{err[-3000:]}")
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    scripts = {
        "sim": ("cuda_sim_cases.py", True),
        "sim_layers": ("cuda_sim_layers.py", True),
        "sim_images": ("cuda_sim_nets.py", True, "images"),
        "sim_sequences": ("cuda_sim_nets.py", True, "sequences"),
        "sim_train": ("cuda_sim_train.py", True),
        "ptx": ("cuda_ptx_check.py", False),
        "ptx_layers": ("cuda_ptx_check.py", False, "layers"),
    }
    procs = {
        name: _start(script, tmp_path_factory.mktemp(f"numba-{name}"), *rest)
        for name, (script, *rest) in scripts.items()
    }
    results = {name: _result(proc) for name, proc in procs.items()}
    images, sequences = results.pop("sim_images"), results.pop("sim_sequences")
    types = {*images.pop("layer types", []), *sequences.pop("layer types", [])}
    results["sim_nets"] = {**images, **sequences, "layer types": sorted(types)}
    return results


def test_kernel_folders_pair_up_file_by_file() -> None:
    """Every CUDA kernel module has its CPU twin of the same name; only host-side helpers
    (BLAS calls and the register tiles beside them, calls by address, array views, atomic
    counters, batch chunks, augmentation) stand alone."""
    folder = ROOT / "engine" / "kernels"
    cpu_files = {p.name for p in (folder / "cpu").glob("*.py")}
    cuda_files = {p.name for p in (folder / "cuda").glob("*.py")}
    assert cuda_files <= cpu_files, f"CUDA modules without a CPU twin: {cuda_files - cpu_files}"
    assert cpu_files - cuda_files == {
        "atomics.py",
        "augment.py",
        "blas.py",
        "calls.py",
        "chunks.py",
        "tiles.py",
        "views.py",
    }


def test_every_cpu_kernel_has_a_cuda_twin_of_the_same_name() -> None:
    from engine.kernels.cuda import core as cuda
    from engine.kernels.cuda import fused as cuda_fused
    from engine.kernels.cuda import optim as cuda_optim

    modules = {"cuda.core": cuda, "cuda.optim": cuda_optim, "cuda.fused": cuda_fused}
    missing = [f"{m.__name__}.{n}" for m, n in ALL_KERNELS if not hasattr(modules[TWINS[m]], n)]
    assert not missing, f"no CUDA twin for {missing}"
    assert len(ALL_KERNELS) >= 25


@pytest.mark.parametrize("name", [n for _, n in ALL_KERNELS])
def test_cuda_kernel_matches_its_cpu_twin_in_the_simulator(runs: dict, name: str) -> None:
    result = runs["sim"].get(name, "no case for this kernel in cuda_sim_cases.py")
    assert not isinstance(result, str), result
    assert result < TOL


@pytest.mark.parametrize(
    "check", ["network (fused)", "network (layer by layer)", "trainer with dropout"]
)
def test_network_on_cuda_matches_cpu_in_the_simulator(runs: dict, check: str) -> None:
    result = runs["sim"].get(check, runs["sim"].get("backend", "missing"))
    assert not isinstance(result, str), result
    assert result < TOL


def test_the_cuda_backend_has_every_method_of_the_cpu_backend_with_its_arguments() -> None:
    from engine.backends.cpu import CPUBackend
    from engine.backends.cuda import CUDABackend

    def methods(cls: type) -> dict[str, list[str]]:
        found = {}
        for klass in reversed(cls.__mro__):
            for name, fn in vars(klass).items():
                if callable(fn) and not name.startswith("_"):
                    found[name] = list(inspect.signature(fn).parameters)
        return found

    cpu_methods, cuda_methods = methods(CPUBackend), methods(CUDABackend)
    assert "lstm_backward" in cpu_methods and "attention_forward" in cpu_methods
    assert cpu_methods == cuda_methods


def test_every_cuda_kernel_compiles_to_ptx_for_sm80_and_sm90(runs: dict) -> None:
    failed = {k: v for k, v in runs["ptx"].items() if v != "ok"}
    assert not failed, json.dumps(failed, indent=1)
    assert any("(8, 0)" in k for k in runs["ptx"]) and any("(9, 0)" in k for k in runs["ptx"])
    assert len(runs["ptx"]) >= 2 * 20


@pytest.mark.parametrize("module", LAYER_MODULES)
def test_layer_kernels_match_numpy_in_the_simulator(runs: dict, module: str) -> None:
    names = cuda_kernel_names(module)
    assert len(names) >= 4
    results = {n: runs["sim_layers"].get(n, "no case in cuda_sim_layers.py") for n in names}
    bad = {n: v for n, v in results.items() if isinstance(v, str) or not v < LAYER_TOL}
    assert not bad, json.dumps(bad, indent=1)


@pytest.mark.parametrize("check", ["backend conv2d", "backend recurrent", "backend attention"])
def test_cuda_backend_layer_operations_match_numpy_in_the_simulator(runs: dict, check: str) -> None:
    result = runs["sim_layers"].get(check, runs["sim_layers"].get("backend", "missing"))
    assert not isinstance(result, str), result
    assert result < LAYER_TOL


@pytest.mark.parametrize("check", NET_CHECKS)
def test_networks_of_every_layer_type_train_on_cuda_as_on_cpu(runs: dict, check: str) -> None:
    result = runs["sim_nets"].get(check, "missing")
    assert not isinstance(result, str), result
    assert result < NET_TOL


def test_the_cuda_networks_hold_every_layer_type(runs: dict) -> None:
    """Every type a gradient flows through (the step, forward only, is in the kernel cases)."""
    from engine.layers.activations import Activation
    from engine.layers.registry import LAYER_TYPES

    trained = [
        name
        for name, cls in LAYER_TYPES.items()
        if not issubclass(cls, Activation) or cls(None).definition.differentiable
    ]
    assert sorted(trained) == runs["sim_nets"].get("layer types")


@pytest.mark.parametrize("module", LAYER_MODULES)
def test_layer_kernels_compile_to_ptx_in_float32_and_float64(runs: dict, module: str) -> None:
    keys = [
        f"{module.rsplit('.', 1)[-1]}.{name} {dtype} {cc}"
        for name in cuda_kernel_names(module)
        for dtype in ("float32", "float64")
        for cc in ("(8, 0)", "(9, 0)")
    ]
    results = {k: runs["ptx_layers"].get(k, "no signature in cuda_ptx_check.py") for k in keys}
    failed = {k: v for k, v in results.items() if v != "ok"}
    assert not failed, json.dumps(failed, indent=1)


@pytest.mark.parametrize("check", ["train", "resume", "transfer"])
def test_dltui_train_on_cuda_matches_the_cpu_in_the_simulator(runs: dict, check: str) -> None:
    """--device cuda, a GPU run resumed on the CPU, and init_from onto the device (float64)."""
    result = runs["sim_train"][check]
    assert not isinstance(result, str), result
    assert result < NET_TOL


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present")
def test_train_on_cuda_without_a_gpu_exits_2_with_the_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tui.cli import main

    out = tmp_path / "run"
    assert main(["train", "--preset", "xor", "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU found" in err and "Traceback" not in err
    assert not out.exists()  # a bad device leaves no run folder behind


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present")
def test_asking_for_cuda_without_a_gpu_is_a_clear_user_error() -> None:
    from engine import Dense, Sequential
    from engine.backends.cpu import get_backend

    with pytest.raises(UserError) as info:
        get_backend("cuda")
    assert "no CUDA GPU found" in info.value.message
    assert "--device cpu" in info.value.hint
    with pytest.raises(UserError):
        Sequential([Dense(2, 1)], device="cuda")
    assert Sequential([Dense(2, 1)], device="cpu").backend.name == "cpu"


@pytest.mark.skipif(_gpu_present(), reason="a GPU is present")
def test_bench_on_cuda_without_a_gpu_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    assert main(["bench", "--device", "cuda", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU found" in err and "Traceback" not in err
