"""``dltui presets``: the named experiments, or one of them as a config file to start from."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.experiment.presets import DEFAULT, PRESETS, get_preset
from tui.describe import architecture


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("presets", help="list the named experiments")
    p.add_argument("--show", metavar="NAME", help="print one preset as a TOML config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.show:
        # verbatim, to a terminal or a file: Rich would wrap long strings and break the TOML
        sys.stdout.write(get_preset(args.show).to_toml())
        return 0
    console = Console(highlight=False)
    table = Table(title="dltui presets", title_justify="left", show_lines=True)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("data · loss / optimiser\nnetwork\nwhat it shows")
    for name in PRESETS:
        exp = get_preset(name)
        label = f"{name}\n(default)" if name == DEFAULT else name
        about = Text(f"{exp.data.name} · {exp.train.loss} / {exp.train.optimizer}\n")
        about.append(architecture(exp.model), style="cyan")
        about.append(f"\n{exp.description}", style="dim")
        table.add_row(label, about)
    console.print(table)
    console.print("out: the output layer, one unit per class or value of the data set")
    console.print("Run one: dltui --preset NAME   ·   headless: dltui train --preset NAME")
    return 0
