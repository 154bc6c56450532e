"""``dltui bench``: time the engine's training step against NumPy and PyTorch.

The suite lives in the ``tui.bench`` package (see its docstring for how it measures); this
command runs it and prints the tables. ``--quick`` is the short run CI uses to prove the suite
works (it asserts nothing about time); ``--json FILE`` keeps every number measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from engine.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from tui.bench.workloads import names

    p = subparsers.add_parser(
        "bench",
        help="time the engine on reference workloads, against NumPy and PyTorch",
        description="Times training steps of reference networks (forward, backward, update) "
        "with dltui's engine, plain NumPy and, when installed, PyTorch, side by side.",
    )
    p.add_argument("--quick", action="store_true", help="a short run (fewer, shorter rounds)")
    p.add_argument("--json", metavar="FILE", help="also write every number measured to FILE")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the engine (and PyTorch) run",
    )
    p.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        help=f"run only this workload (repeatable): {', '.join(names())}",
    )
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out even if installed")
    p.add_argument(
        "--no-threads",
        action="store_true",
        help="leave out the runs on one thread (thread scaling, the '1 thread' column)",
    )
    p.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tui.bench import report, suite, workloads

    workloads.select(args.only)  # an unknown name stops here, before any check or process
    console = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if args.device == "cuda":
        from engine.backends.cpu import get_backend

        get_backend("cuda")  # a clear UserError where there is no GPU
    json_path = Path(args.json) if args.json else None
    if json_path is not None and not json_path.parent.exists():
        raise UserError(
            f"--json {args.json}: the folder {json_path.parent} does not exist",
            "create it, or write the file somewhere else",
        )
    results = suite.run_suite(
        quick=args.quick,
        device=args.device,
        only=args.only,
        use_torch=not args.no_torch,
        threads=not args.no_threads,
        progress=lambda msg: err.print(f"[dim]{escape(msg)}…[/]"),
    )
    if args.markdown:
        console.print(report.markdown(results), markup=False)
    else:
        console.print(report.rich_report(results))
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"--json {args.json}: cannot write ({exc})", "pick another path"
            ) from None
        err.print(f"[dim]wrote {escape(str(json_path))}[/]")
    return 0
