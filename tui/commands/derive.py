"""``dltui derive``: the chain rule behind one weight's gradient, with a live network's numbers.

::

    dltui derive [CONFIG.toml | RUN_DIR] [--preset NAME | --config FILE | --run DIR]
                 [--param "2.W[0,1]"] [--sample K] [--steps N]
                 [--format text|unicode|latex|markdown] [--view index|vector]

The network comes from a preset (default xor), a config file, or a run folder that ``dltui
train`` or the app saved; a path given without an option is a config file when it is a file and a
run folder when it is a folder. A preset or config is built as initialised; a run folder is opened
at its checkpoint: the trained weights, and the trainer where it stopped. Then ``N`` more steps
are trained (default 0), sample ``K`` of the training set is taken, and every step from the
forward pass to the optimiser's update of the parameter is printed. The update is the trainer's
next step: along the gradient of the mini-batch it trains on next (with sample ``K`` as one of its
terms when the batch holds it), ending at the weight that step gives. The derivation is computed
on the CPU, whatever device the config names.

A parameter the network does not have is an error listing the valid names; a path that is
neither a config file nor a run folder, or two sources at once, are errors too (exit code 2).
Without ``--param`` the first weight of the network's first parameter array is derived.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from derive.api import VIEWS, derive
from derive.batch import arrange
from derive.render import FORMATS
from derive.stack.model import valid_names
from engine.errors import UserError
from engine.events import Diverged, Step
from engine.experiment.config import Experiment, Run
from engine.experiment.presets import get_preset
from engine.experiment.runs import RunDir
from engine.network import Sequential

# Each step is a full training step of the preset: a hundred thousand take minutes for the
# larger networks, and a derivation shows one step — longer training belongs to `dltui train`.
MAX_STEPS = 100_000


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "derive",
        help="derive one weight's gradient step by step, with the network's numbers",
        description="Show how the gradient of one parameter comes about: every chain-rule "
        "factor in symbols, with today's numbers, and its value; then the optimiser's update.",
        epilog='Parameters are named as the engine names them: "0.W[1,0]" is row 1, column 0 of '
        'the first layer\'s weights, "2.b[0]" a bias. Exit code 2: a mistake in the input.',
    )
    p.add_argument(
        "source",
        nargs="?",
        metavar="CONFIG_OR_RUN",
        help="a config file (TOML), or a run folder to derive its trained network",
    )
    p.add_argument("--preset", help="a named experiment (default xor)")
    p.add_argument("--config", metavar="FILE", help="an experiment file (TOML)")
    p.add_argument(
        "--run",
        metavar="DIR",
        help="a run folder (dltui train, or w in the app): its weights and next mini-batch",
    )
    p.add_argument(
        "--param",
        metavar="NAME",
        help='the parameter, e.g. "2.W[0,1]" (default: the first weight the network has, '
        "0.W[0,0] for a dense network)",
    )
    p.add_argument("--sample", type=int, default=0, metavar="K", help="training sample K")
    p.add_argument(
        "--steps",
        type=int,
        default=0,
        metavar="N",
        help=f"train N steps first (default 0, at most {MAX_STEPS:,})",
    )
    p.add_argument("--format", choices=FORMATS, default="text", help="output format")
    p.add_argument("--view", choices=VIEWS, default="index", help="index or vector notation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prints the derivation ``args`` ask for; returns the exit code."""
    if args.steps < 0:
        raise UserError(f"--steps {args.steps} is negative", "use 0 for the initial weights")
    if args.steps > MAX_STEPS:
        raise UserError(
            f"--steps {args.steps} is more than {MAX_STEPS:,}: so many training steps would "
            "take hours for the larger presets",
            f"use at most --steps {MAX_STEPS}; to train longer, use `dltui train`",
        )
    net_run = _network(args)
    param = _param(net_run.net, args.param)
    _train(net_run, args.steps)
    X, y = net_run.data.X_train, net_run.data.y_train
    if not 0 <= args.sample < len(X):
        raise UserError(
            f"--sample {args.sample} is outside the training set of {len(X)} samples",
            f"use 0 to {len(X) - 1}",
        )
    trainer = net_run.trainer
    k = args.sample
    rows = trainer.next_batch_rows(len(X))
    x_shown, y_shown, position, batch = arrange(
        X[k : k + 1], y[k : k + 1], k, X[rows], y[rows], rows
    )
    d = derive(
        net_run.net,
        x_shown,
        y_shown,
        loss=trainer.loss,
        param=param,
        view=args.view,
        l1=trainer.l1,
        l2=trainer.l2,
        optimizer=trainer.optimizer,
        sample=position,
        batch=batch,
    )
    console = Console(highlight=False, soft_wrap=True, emoji=False)
    console.print(d.render(args.format), markup=False, end="")
    return 0


def _network(args: argparse.Namespace) -> Run:
    """The run to derive from: a preset or a config as built, or a run folder's checkpoint."""
    given = [
        (flag, value)
        for flag, value in (
            ("CONFIG_OR_RUN", args.source),
            ("--preset", args.preset),
            ("--config", args.config),
            ("--run", args.run),
        )
        if value is not None
    ]
    if len(given) > 1:
        names = " and ".join(f"{flag} {value}" for flag, value in given)
        raise UserError(
            f"{names} both name the network to derive",
            "give one: a preset, a config file or a run folder",
        )
    config, run = args.config, args.run
    if args.source is not None:
        source = Path(args.source)
        if not source.exists():
            raise UserError(
                f"{source} does not exist",
                "give a config file (TOML), a run folder that `dltui train` wrote, or --preset",
            )
        config, run = (None, source) if source.is_dir() else (source, None)
    if config is not None and Path(config).is_dir():
        raise UserError(f"--config {config} is a folder", f"to derive a run folder: --run {config}")
    if run is not None:
        if Path(run).is_file():
            raise UserError(f"--run {run} is a file", f"to derive a config file: --config {run}")
        return RunDir.open(run).build(device="cpu")
    if config is None:
        return get_preset(args.preset or "xor").build()
    experiment = Experiment.from_toml(config)
    if experiment.train.device != "cpu":
        experiment = experiment.replace(train={"device": "cpu"})
    return experiment.build()


def _param(net: Sequential, param: str | None) -> str:
    """The parameter asked for, or the first weight of the network's first parameter array
    (``0.W[0,0]`` of a dense network, ``0.W[0,0,0,0]`` of a convolution, ``0.W_ih[0,0]``)."""
    if param is None:
        name, view = next(iter(net.params.items()))
        return f"{name}[{','.join('0' for _ in view.shape)}]"
    if not param.strip():
        raise UserError(
            "--param is empty",
            f"name a parameter, or leave --param out; valid: {', '.join(valid_names(net))}",
        )
    return param


def _train(net_run: Run, steps: int) -> None:
    """Pulls ``steps`` training steps from the trainer (the dropout masks then stay off)."""
    if steps == 0:
        return
    data = net_run.data
    events = net_run.trainer.run(data.X_train, data.y_train, epochs=None)
    done = 0
    try:
        for event in events:
            if isinstance(event, Diverged):
                raise UserError(
                    f"training diverged at step {event.step}: the weights are no longer finite",
                    "derive after fewer --steps",
                )
            if isinstance(event, Step):
                done += 1
                if done >= steps:
                    break
    finally:
        events.close()
