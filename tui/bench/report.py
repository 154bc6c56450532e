"""The suite's results as tables: Rich for the terminal, Markdown for the README."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tui.bench.workloads import GEMM_SIZE, registry

NO_TORCH = 'PyTorch is not installed: NumPy ratios only (pip install -e ".[bench]" adds it).'
LEFT_OUT = "PyTorch was left out (--no-torch, or it has no CUDA here): NumPy ratios only."


def torch_note(results: dict[str, Any]) -> str | None:
    """Why the PyTorch columns are empty, if they are."""
    if results.get("pytorch"):
        return None
    return LEFT_OUT if results["machine"].get("pytorch") else NO_TORCH


def duration(seconds: float | None) -> str:
    """``12.3 µs``, ``4.56 ms`` or ``1.23 s``."""
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def ratio(value: float | None) -> str:
    """The engine's time over the other's: ``0.042`` is 24 times faster."""
    return "—" if value is None else f"{value:.3f}"


def machine_line(m: dict[str, Any]) -> str:
    parts = [m["cpu"], f"{m['cores']} cores", m["os"], f"Python {m['python']}"]
    parts += [f"NumPy {m['numpy']}", f"Numba {m['numba']}"]
    parts.append(f"PyTorch {m['pytorch']}" if m.get("pytorch") else "no PyTorch")
    if m.get("gpu"):
        parts.append(f"GPU {m['gpu']}")
    if m.get("load_average"):
        parts.append(f"load {m['load_average'][0]:.2f}→{(m.get('load_average_end') or ['?'])[0]}")
    if m.get("openmp"):
        parts.append(f"engine's OpenMP wait: {m['openmp']}")
    return " · ".join(str(p) for p in parts)


def rows(results: dict[str, Any]) -> list[list[str]]:
    """One row per workload: engine, NumPy, PyTorch, the engine's time over each, and over
    PyTorch's when both run on one thread."""
    out = []
    for name, r in results["workloads"].items():
        s = r["seconds"]
        best = r.get("pytorch_best", "pytorch")
        out.append(
            [
                name,
                duration(s["engine"]),
                duration(s.get("numpy")),
                duration(s.get(best)),
                ratio(r.get("vs_numpy")),
                ratio(r.get("vs_pytorch")),
                ratio(r.get("one_thread_vs_pytorch")),
            ]
        )
    return out


def notes(results: dict[str, Any]) -> list[str]:
    """What the table's rows need said: the workloads, FLOP/s, epochs, PyTorch's threads."""
    out = [
        "vs NumPy, vs PyTorch: the engine's time over theirs (0.10 is ten times faster); "
        "1 thread: the same over PyTorch's with both limited to one thread"
    ]
    for name, r in results["workloads"].items():
        text = f"{name}: {r['label']}"
        if "gemm_share" in r:
            text += (
                f"; {r['engine_flops'] / 1e9:.0f} GFLOP/s in matrix products = "
                f"{r['gemm_share']:.0%} of NumPy's {r['gemm_flops'] / 1e9:.0f} GFLOP/s "
                f"(float32 {GEMM} GEMM, same run)"
            )
        if "epochs" in r:
            epochs = ", ".join(f"{k} {v}" for k, v in r["epochs"].items())
            text += f"; epochs: {epochs}"
        if r.get("pytorch_best") == "pytorch-1t":
            text += "; PyTorch was faster on 1 thread than on its default, and is shown so"
        fast = r.get("fastest_rounds", {})
        if "vs_pytorch" in fast or "vs_numpy" in fast:
            text += "; from each one's fastest round: vs NumPy " + ratio(fast.get("vs_numpy"))
            text += ", vs PyTorch " + ratio(fast.get("vs_pytorch"))
            if "gemm_share" in fast:
                text += f", {fast['gemm_share']:.0%} of NumPy's GEMM FLOP/s"
        out.append(text)
    return out


HEADERS = ["workload", "engine", "NumPy", "PyTorch", "vs NumPy", "vs PyTorch", "1 thread"]
GEMM = f"{GEMM_SIZE}²"


def memory_rows(results: dict[str, Any]) -> list[list[str]]:
    out = []
    for name, r in results["workloads"].items():
        if "memory" in r:
            e, n = r["memory"]["engine"], r["memory"].get("numpy")
            numpy = "—" if n is None else f"{n['step_bytes']:,}"
            out.append([name, f"{e['step_bytes']:,}", f"{e['largest_bytes']:,}", numpy])
    return out


MEMORY_HEADERS = ["workload", "engine: bytes/step", "engine: largest step", "NumPy: bytes/step"]
KERNEL_NOTE = (
    "Bytes per step: the least, over 30 steps, of a step's peak memory (NumPy arrays and "
    "Python objects, by tracemalloc) above its start — what every step allocates. The engine's "
    "MLP steps' are Python floats and call records, no arrays; its kernels allocate none either "
    "(Numba's runtime counts one small record per array argument of a call, nothing more; the "
    "tests check this)."
)


def kernel_note(results: dict[str, Any]) -> str:
    """The memory table's note, naming the workloads whose steps are not held to no allocation."""
    known = registry()
    others = [
        name
        for name, r in results["workloads"].items()
        if "memory" in r and name in known and not known[name].allocation_free
    ]
    if not others:
        return KERNEL_NOTE
    owners = " and ".join(f"{name}'s" for name in others)
    return f"{KERNEL_NOTE} {owners} steps keep their buffers from step to step too: " + (
        "their bytes are the calls into the kernels, each call's argument tuple and a record "
        "per array, and the call with the most arrays sets the figure."
    )


def target_lines(results: dict[str, Any]) -> list[str]:
    lines = []
    for t in results["targets"]:
        v = t["value"]
        shown = "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.3f}")
        mark = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        lines.append(f"{t['name']}: {shown} (target {t['goal']}) — {mark}")
    return lines


def thread_line(results: dict[str, Any]) -> str | None:
    th = results.get("threads")
    if not th:
        return None
    steps = ", ".join(
        f"{k} thread{'s' * (k != '1')} {duration(v)}" for k, v in th["seconds"].items()
    )
    return f"{th['workload']}, engine per step: {steps}; speed-up {th['speedup']:.2f}×"


def rich_report(results: dict[str, Any]) -> Group:
    """The table, the memory table and the target lines, for a Rich console."""
    table = Table(title=f"dltui bench ({results['mode']}, {results['machine']['device']})")
    for h in HEADERS:
        table.add_column(h, justify="left" if h == "workload" else "right")
    for row in rows(results):
        table.add_row(*row)
    mem = Table(title="steady-state memory per training step (after warm-up)")
    for h in MEMORY_HEADERS:
        mem.add_column(h, justify="left" if h == "workload" else "right")
    for row in memory_rows(results):
        mem.add_row(*row)
    parts: list[Any] = [Text(machine_line(results["machine"]), style="dim"), table]
    parts += [Text(f"  {n}", style="dim") for n in notes(results)]
    parts += [mem, Text(f"  {kernel_note(results)}", style="dim")]
    line = thread_line(results)
    if line:
        parts.append(Text(line))
    for t in target_lines(results):
        parts.append(Text(t, style="green" if t.endswith("— met") else "yellow"))
    if torch_note(results):
        parts.append(Text(torch_note(results) or "", style="yellow"))
    return Group(*parts)


def markdown(results: dict[str, Any]) -> str:
    """The same report as Markdown (for the README)."""

    def table(headers: list[str], body: list[list[str]]) -> list[str]:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return lines + ["| " + " | ".join(r) + " |" for r in body]

    out = [f"Measured {results['started']} on: {machine_line(results['machine'])}", ""]
    out += [*table(HEADERS, rows(results)), ""]
    out += [f"- {n}" for n in notes(results)] + [""]
    out += [*table(MEMORY_HEADERS, memory_rows(results)), "", kernel_note(results), ""]
    line = thread_line(results)
    if line:
        out += [line, ""]
    out += [f"- {t}" for t in target_lines(results)]
    if torch_note(results):
        out += ["", torch_note(results) or ""]
    return "\n".join(out) + "\n"
