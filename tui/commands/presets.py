"""``dltui presets``: the named experiments and the data sets, or a preset as a config file.

The data-set table is read from the data sets' records, so a new set shows up here by itself.
"""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine import datasets
from engine.datasets import DataSet
from engine.experiment.presets import DEFAULT, PRESETS, get_preset
from tui.describe import architecture


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("presets", help="list the named experiments and the data sets")
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
    console.print()
    console.print(data_sets_table())
    console.print(
        'In a config file: [data] name = "NAME", then any of its options, e.g. noise = 0.1',
        markup=False,
    )
    return 0


def data_sets_table() -> Table:
    """Every registered data set: what it asks, the options it takes, what it is."""
    table = Table(title="data sets", title_justify="left", show_lines=True)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("task · inputs\noptions (defaults)\nwhat it is")
    for record in datasets.records():
        about = Text(f"{_task(record)} · {record.inputs}\n")
        about.append(_options(record) or "no options", style="cyan")
        about.append(f"\n{record.description}", style="dim")
        table.add_row(record.name, about)
    table.add_row("csv:PATH", Text("your own table; the target column sets the task", style="dim"))
    return table


def _task(record: DataSet) -> str:
    if record.task == "multiclass":
        return f"{record.n_classes} classes" if record.n_classes else "classes"
    return record.task


def _options(record: DataSet) -> str:
    """``n=500 noise=0.0 …``; options that only code passes (a progress callback) left out."""
    shown = [o for o in record.options if o.kind != "other" or o.default is not None]
    return " ".join(f"{o.name}={_value(o.default)}" for o in shown)


def _value(value: object) -> str:
    if value is None:
        return "all"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)
