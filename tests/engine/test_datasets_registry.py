"""Every registered data set, generated from the registry: it loads and is what its record says."""

from __future__ import annotations

import gzip
import inspect
import struct
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.datasets import download
from engine.datasets.registry import DataSet, register
from engine.errors import UserError

RECORDS = datasets.records()
SAMPLE_DIMS = {"plane": None, "features": None, "image": 3, "sequence": 2, "tokens": 1}


def write_idx_files(folder: Path, n_train: int, n_test: int) -> None:
    """Gzipped IDX files of random 28×28 images and labels, as a downloaded set keeps them."""
    rng = np.random.default_rng(0)

    def idx_gz(values: np.ndarray) -> bytes:
        dims = struct.pack(f">{values.ndim}I", *values.shape)
        header = struct.pack(">BBBB", 0, 0, 8, values.ndim) + dims
        return gzip.compress(header + values.astype(np.uint8).tobytes(), mtime=0)

    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test),
    }
    assert set(arrays) == set(download.FILES)
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in arrays.items():
        (folder / name).write_bytes(idx_gz(values))


def load_small(record: DataSet, tmp_path: Path) -> datasets.DataSplit:
    """The record's small load; a downloading set reads files already in its folder instead."""
    options = dict(record.small)
    if record.downloads:
        n_train, n_test = int(options.get("n_train", 10)), int(options.get("n_test", 10))
        write_idx_files(tmp_path, 2 * n_train, 2 * n_test)
        options["data_dir"] = tmp_path
    return datasets.load(record.name, **options)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_every_set_loads_small_and_is_what_its_record_says(record: DataSet, tmp_path) -> None:
    split = load_small(record, tmp_path)
    assert split.name == record.name and split.task == record.task
    if record.n_classes is not None:
        assert split.n_classes == record.n_classes
    for X, y in ((split.X_train, split.y_train), (split.X_test, split.y_test)):
        assert X.dtype == np.float64 and X.ndim == 2 and len(X) == len(y) > 0
        assert np.isfinite(X).all()
        if record.task == "binary":
            assert y.shape == (len(X), 1) and set(np.unique(y)) <= {0.0, 1.0}
        elif record.task == "multiclass":
            assert np.issubdtype(y.dtype, np.integer)
            assert y.min() >= 0 and y.max() < split.n_classes
        else:
            assert np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all()
    dims = SAMPLE_DIMS[record.inputs]
    if dims is None:
        assert split.sample_shape is None
    else:
        assert split.sample_shape is not None and len(split.sample_shape) == dims
    if record.inputs == "plane":
        assert np.abs(split.X_train[:, :2]).max() <= 6.0 + 1.0  # the map's square, plus noise


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_every_record_describes_each_option_its_loader_takes(record: DataSet) -> None:
    params = {
        p.name: p.default
        for p in inspect.signature(record.loader).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert [o.name for o in record.options] == list(params)
    for option in record.options:
        assert option.default == params[option.name] and option.label
        if option.kind != "other":  # the default passes the record's own check
            option.validate(record.name, option.default)
    assert set(record.small) <= set(params)
    record.check_options(record.small)
    text = datasets.describe(record.name)
    assert text == record.description and "\n" not in text
    assert record.name == record.name.lower() and "_" not in record.name


def test_every_name_is_listed_once_and_simple_inputs_come_first() -> None:
    assert tuple(r.name for r in RECORDS) == datasets.NAMES
    assert len(set(datasets.NAMES)) == len(datasets.NAMES)
    order = [datasets.INPUTS.index(r.inputs) for r in RECORDS]
    assert order == sorted(order)


@pytest.mark.parametrize("name", ["spirals", "", 5, None, "csv"])
def test_an_unknown_name_raises_listing_the_valid_ones(name: object) -> None:
    with pytest.raises(UserError) as err:
        datasets.load(name)  # type: ignore[arg-type]
    assert all(n in err.value.hint for n in datasets.NAMES)
    with pytest.raises(UserError):
        datasets.lookup(name)


def test_options_out_of_range_are_user_errors_naming_the_option() -> None:
    spiral = datasets.lookup("spiral")
    assert spiral is not None
    for options, word in (
        ({"noise": 0.9}, "noise"),
        ({"n": 1}, "n="),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"features": ["x9"]}, "features"),
        ({"colour": 1}, "colour"),
    ):
        with pytest.raises(UserError, match=word):
            spiral.check_options(options)
    adding = datasets.lookup("adding")
    assert adding is not None
    with pytest.raises(UserError, match="length"):
        adding.check_options({"length": 1})  # the one place the record narrows a common range


def test_a_record_that_contradicts_itself_is_refused() -> None:
    loader = datasets.lookup("sine").loader  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="task"):
        DataSet("new", loader, task="ranking", description="x")
    with pytest.raises(ValueError, match="classes"):
        DataSet("new", loader, task="binary", description="x", n_classes=3)
    with pytest.raises(ValueError, match="registered twice"):
        register(DataSet("sine", loader, task="regression", description="again"))
    with pytest.raises(ValueError, match="written"):
        register(DataSet("New_Set", loader, task="regression", description="x"))
