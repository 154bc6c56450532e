"""``dltui compare`` through ``tui.cli.main``: a table, the curves and a sweep's figure against
its swept values, read from run folders and a sweep folder written as ``dltui sweep`` writes one;
every input mistake ends in exit code 2."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from engine.experiment.presets import get_preset
from engine.experiment.runs import METRICS, RunDir, train
from tui import cli
from tui.compare import plots
from tui.compare.records import figures, load

LRS = (0.01, 1.0)
OPTIMIZERS = ("sgd", "adam")
SEEDS = (0, 1)
EPOCHS = 12


def make_sweep(out: Path, epochs: int = EPOCHS) -> Path:
    """A small sweep of xor (lr × optimizer × 2 seeds) in the sweep folder's layout: a run
    folder per point, sweep.json and summary.json."""
    base = get_preset("xor").replace(train={"epochs": epochs})
    points: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for lr in LRS:
        for opt in OPTIMIZERS:
            for seed in SEEDS:
                pid = f"p{len(points):03d}"
                values = {"train.lr": lr, "train.optimizer": opt, "train.seed": seed}
                name = f"{pid}-lr{lr}-{opt}-s{seed}"
                run = base.replace(train={"lr": lr, "optimizer": opt, "seed": seed}).build()
                outcome = train(run, RunDir.create(out / name, run))
                points.append({"id": pid, "name": name, "values": values})
                records.append(
                    {"id": pid, "name": name, "values": values, "state": "done",
                     "epochs": outcome.epochs_done}
                )  # fmt: skip
    grid = {"train.lr": list(LRS), "train.optimizer": list(OPTIMIZERS)}
    sweep = {"name": "xor-lr", "base": base.to_dict(), "grid": grid, "random": {},
             "seeds": len(SEEDS), "points": points}  # fmt: skip
    (out / "sweep.json").write_text(json.dumps(sweep))
    (out / "summary.json").write_text(json.dumps({"sweep": sweep, "points": records}))
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("sweep") / "xor-lr")


@pytest.fixture(autouse=True)
def wide_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")


def dltui(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(run: Path) -> list[dict[str, str]]:
    with (run / METRICS).open() as fh:
        return list(csv.DictReader(fh))


def test_json_records_hold_each_runs_figures_from_its_metrics(sweep, capsys) -> None:
    code, out, _ = dltui(capsys, "compare", str(sweep), "--json")
    assert code == 0
    records = json.loads(out)
    assert len(records) == len(LRS) * len(OPTIMIZERS) * len(SEEDS)
    for record in records:
        rows = csv_rows(Path(record["path"]))  # xor has no validation part: val_* is the test
        held_out = [float(r["val_loss"]) for r in rows]
        assert record["epochs"] == EPOCHS == len(rows)
        assert record["final_test_loss"] == pytest.approx(held_out[-1], rel=1e-12)
        assert record["best_test_loss"] == pytest.approx(min(held_out), rel=1e-12)
        assert record["best_test_acc"] == pytest.approx(max(float(r["val_acc"]) for r in rows))
        assert record["final_train_loss"] == pytest.approx(float(rows[-1]["train_loss"]))
        assert record["final_val_loss"] is None and record["best_val_loss"] is None
        v = record["values"]
        assert record["label"] == (
            f"lr={v['train.lr']:g} optimizer={v['train.optimizer']} seed={v['train.seed']}"
        )


@pytest.mark.parametrize(
    ("args", "key", "descending"),
    [
        (["--sort", "best_test_loss"], "best_test_loss", False),
        (["--sort=-best_test_acc"], "best_test_acc", True),
        (["--sort", "final_train_loss", "--desc"], "final_train_loss", True),
    ],
)
def test_sort_by_a_figure_either_way(sweep, capsys, args, key, descending) -> None:
    code, out, _ = dltui(capsys, "compare", str(sweep), "--json", *args)
    assert code == 0
    got = [r[key] for r in json.loads(out)]
    assert got == sorted(got, reverse=descending)


def test_the_table_and_plots_of_a_sweep(sweep, capsys) -> None:
    code, out, _ = dltui(capsys, "compare", str(sweep), "--width", "100")
    assert code == 0
    assert out.startswith("sweep xor-lr: 8 points over lr, optimizer, 2 seeds each")
    assert "lr=0.01 optimizer=sgd seed=0" in out and "best test" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "test loss" in out and "(mean of 2 seeds)" in out  # the curves, a mean per point
    assert "lr (log x)" in out  # 0.01 … 1 spans two decades
    axis = next(line for line in out.splitlines() if line.strip().startswith("0.01"))
    assert axis.split() == ["0.01", "0.1", "1"]  # one tick per decade
    assert re.search(r"\bsgd\b.*\badam\b", out)  # the optimizer's categorical axis
    # the best point: the lowest mean over seeds of best_test_loss, computed here
    comparison = load([sweep])
    means: dict[tuple[Any, Any], list[float]] = {}
    for run in comparison.runs:
        key = (run.values["train.lr"], run.values["train.optimizer"])
        means.setdefault(key, []).append(run.figures["best_test_loss"] or math.nan)
    (lr, opt), best = min(((k, sum(v) / len(v)) for k, v in means.items()), key=lambda t: t[1])
    lines = [line for line in out.splitlines() if line.startswith("★ best:")]
    assert lines[0] == f"★ best: lr={lr:g} (optimizer={opt}), best_test_loss {best:.3g}"
    assert lines[1] == f"★ best: optimizer={opt} (lr={lr:g}), best_test_loss {best:.3g}"
    assert out.count("★") == 4  # one mark in each plot, one line under each


def test_runs_named_one_by_one(sweep, capsys) -> None:
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())[:3]
    code, out, _ = dltui(capsys, "compare", *map(str, runs), "--width", "90")
    assert code == 0 and out.startswith("3 runs")
    for i, run in enumerate(runs):
        marker = plots.MARKERS[i]
        assert f"{marker} {run.name}" in out  # the legend names each folder with its marker
    assert "log x" not in out  # no sweep plot for runs named one by one


def test_another_metric(sweep, capsys) -> None:
    code, out, _ = dltui(capsys, "compare", str(sweep), "--metric", "best_test_acc")
    assert code == 0 and "best_test_acc (mean over seeds" in out
    assert re.search(r"★ best: lr=\S+ \(optimizer=\w+\), best_test_acc \d+\.\d%", out)


@pytest.mark.parametrize(
    ("make", "args", "words"),
    [
        (None, ["TMP/missing"], "does not exist"),
        ("file", ["TMP/file.txt"], "is a file, not a run or sweep folder"),
        ("dir", ["TMP/plain"], "is neither a dltui run nor a sweep"),
        (
            None,
            ["SWEEP", "--sort", "train.momentum"],
            "cannot sort by 'train.momentum': it is not swept",
        ),
        (None, ["SWEEP", "--sort", "nonsense"], "cannot sort by 'nonsense'"),
        (None, ["SWEEP", "--metric", "accuracy"], "'accuracy' is not a figure"),
        (None, ["SWEEP", "--width", "12"], "--width 12 is too narrow"),
        (None, ["SWEEP", "SWEEP/p000-lr0.01-sgd-s0"], "a sweep is compared on its own"),
    ],
)
def test_mistakes_exit_2_with_a_message(sweep, tmp_path, capsys, make, args, words) -> None:
    if make == "file":
        (tmp_path / "file.txt").write_text("x")
    elif make == "dir":
        (tmp_path / "plain").mkdir()
    argv = [a.replace("SWEEP", str(sweep)).replace("TMP", str(tmp_path)) for a in args]
    code, _, err = dltui(capsys, "compare", *argv)
    assert code == 2 and words in err and "hint:" in err and "Traceback" not in err


def test_a_damaged_summary_is_named(sweep, tmp_path, capsys) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    code, _, err = dltui(capsys, "compare", str(broken))
    assert code == 2 and "summary.json is damaged" in err


def test_figures_without_and_with_validation() -> None:
    from engine.events import Epoch

    rows = [
        Epoch(1, 10, 0.9, 0.5, 0.8, 0.6, 0.1, 0.01, 0.85, 0.55),
        Epoch(2, 20, 0.7, 0.6, 0.9, 0.7, 0.1, 0.01, 0.75, 0.65),
        Epoch(3, 30, 0.5, 0.8, float("nan"), 0.4, 0.1, 0.01, 0.95, 0.5),
    ]
    val = figures(rows, validation=True)
    assert val["best_val_loss"] == 0.8 and val["best_val_acc"] == 0.7
    assert val["best_test_loss"] == 0.75 and val["final_test_acc"] == 0.5
    assert math.isnan(val["final_val_loss"])  # type: ignore[arg-type]
    none = figures(rows, validation=False)  # the held-out column is the test part's
    assert none["best_test_loss"] == 0.8 and none["final_val_loss"] is None


def test_the_plot_puts_lower_values_lower_and_marks_the_best() -> None:
    series = [plots.Series("a", [1e-4, 1e-2, 1.0], [0.5, 0.1, 0.9], [0.4, 0.05, 0.8],
                           [0.6, 0.2, 1.0])]  # fmt: skip
    lines, best = plots.against(series, 60, 12, "loss", "lr")
    assert best == (0, 1)
    grid = ["".join(t for t, _ in line) for line in lines[1:13]]
    row_of = {c: next(r for r, g in enumerate(grid) if c in g) for c in ("●", "★")}
    cols = sorted(g.index(c) for g in grid for c in "●★" if c in g)
    assert len(cols) == 3 and cols[0] < cols[1] < cols[2]
    assert row_of["★"] > row_of["●"]  # the best (lowest) point sits below the others
    assert any("│" in g for g in grid)  # the spread over seeds
    ticks = "".join(t for t, _ in lines[-2]).split()
    assert ticks == ["0.0001", "0.001", "0.01", "0.1", "1"] and "(log x)" in str(lines[-1])
    assert not plots.wants_log([0.1, 0.5]) and plots.wants_log([0.01, 1.0])


def test_a_sweep_written_by_engine_sweep(tmp_path, capsys) -> None:
    import engine

    out = tmp_path / "real"
    base = get_preset("xor").replace(train={"epochs": 8})
    summary = engine.sweep(
        base, {"train.lr": [0.1, 1.0], "train.optimizer": ["sgd", "adam"]}, seeds=2,
        workers=1, out=out,
    )  # fmt: skip
    code, text, _ = dltui(capsys, "compare", str(out), "--json")
    assert code == 0
    records = {r["id"]: r for r in json.loads(text)}
    assert len(records) == len(summary) == 8
    for point in summary:  # the sweep's own figures, measured as it trained
        record = records[point["id"]]
        assert record["values"] == point["values"] and record["state"] == point["state"]
        assert record["epochs"] == point["epochs"] == 8
        for part in ("train", "test"):
            for what in ("loss", "acc"):
                assert record[f"final_{part}_{what}"] == pytest.approx(
                    point["final"][f"{part}_{what}"], rel=1e-12
                )
        assert record["best_test_loss"] == pytest.approx(point["best"]["test_loss"], rel=1e-12)
        assert record["best_test_acc"] == pytest.approx(point["best"]["test_acc"], rel=1e-12)
    code, text, _ = dltui(capsys, "compare", str(out), "--width", "100")
    assert code == 0 and text.startswith(f"sweep {base.name}: 8 points over lr, optimizer, 2 seeds")
    assert text.count("★ best:") == 2


def test_failed_and_unfinished_points(sweep, tmp_path, capsys) -> None:
    part = tmp_path / "part"
    part.mkdir()
    shutil.copytree(sweep / "p000-lr0.01-sgd-s0", part / "p000-lr0.01-sgd-s0")
    plan = json.loads((sweep / "sweep.json").read_text())
    (part / "sweep.json").write_text(json.dumps(plan))
    done = json.loads((sweep / "summary.json").read_text())["points"][0]
    second = plan["points"][1]
    failed = {"id": "p001", "name": second["name"], "values": second["values"],
              "state": "failed", "epochs": 0, "error": "MemoryError"}  # fmt: skip
    (part / "summary.json").write_text(json.dumps({"sweep": plan, "points": [done, failed]}))
    code, out, _ = dltui(capsys, "compare", str(part), "--width", "100")
    assert code == 0 and "2 points over lr, optimizer, 2 seeds each (6 not finished)" in out
    row = next(line for line in out.splitlines() if line.startswith("lr=0.01 optimizer=sgd seed=1"))
    assert "failed" in row and row.count("–") >= 5  # no figures: no run folder
    code, out, _ = dltui(capsys, "compare", str(part), "--json")
    failed_record = json.loads(out)[1]
    assert failed_record["state"] == "failed" and failed_record["best_test_loss"] is None


def test_a_narrow_table_keeps_the_held_out_figures() -> None:
    import io

    from rich.console import Console

    from tui.commands.compare import table
    from tui.compare.records import METRICS, Comparison, RunSummary

    label = "optimizer=adam hidden=8x8 seed={}"
    figures: list[dict[str, float | None]] = [
        dict.fromkeys(METRICS, 0.5 + i / 10) for i in range(3)
    ]
    runs = [
        RunSummary(Path(f"r{i}"), label.format(i), {}, "done", 20, (), f)
        for i, f in enumerate(figures)
    ]
    for width, dropped in ((100, "train acc"), (300, None)):
        buf = io.StringIO()
        Console(file=buf, width=width).print(table(Comparison(runs), runs, width))
        lines = buf.getvalue().splitlines()
        assert max(len(line) for line in lines) <= width
        head = [
            line.split("┃") for line in lines[: next(i for i, t in enumerate(lines) if "━" in t)]
        ]
        names = [
            " ".join(c.strip() for c in column if c.strip()) for column in zip(*head, strict=True)
        ]
        assert "val loss" in names and "best val loss" in names
        assert (dropped is None) == ("train acc" in names)
