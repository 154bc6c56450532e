"""``dltui presets``: the named experiments, or one of them as a config file to start from."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from engine.presets import DEFAULT, PRESETS, get_preset


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("presets", help="list the named experiments")
    p.add_argument("--show", metavar="NAME", help="print one preset as a TOML config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    if args.show:
        console.print(get_preset(args.show).to_toml(), end="", markup=False)
        return 0
    table = Table(title="dltui presets", title_justify="left")
    for column in ("name", "data", "network", "loss / optimiser", "what it shows"):
        table.add_column(column)
    for name in PRESETS:
        exp = get_preset(name)
        shape = "-".join(str(h) for h in exp.model.hidden) or "linear"
        label = f"{name} (default)" if name == DEFAULT else name
        table.add_row(
            label,
            exp.data.name,
            f"{shape} {exp.model.activation}",
            f"{exp.train.loss} / {exp.train.optimizer}",
            exp.description,
        )
    console.print(table)
    console.print("Run one: dltui --preset NAME   ·   headless: dltui train --preset NAME")
    return 0
