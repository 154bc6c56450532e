"""CSV files a hostile but fair user may give (issue 12, item 12).

Before: a value near 1e300 printed a raw NumPy overflow warning and its column became zeros, and
``csv:/dev/zero`` read forever. Now each is a UserError naming the file and the fix, raised before
any endless read.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.datasets import csvfile
from engine.errors import UserError

ROWS = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(1, 21))


def _load_quietly(source: str) -> UserError:
    """Load ``source`` expecting a UserError; any warning (NumPy's overflow) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserError) as err:
            datasets.load(source)
    return err.value


@pytest.mark.parametrize("value", ["1e300", "-1e300", "3.5e38", "1e39"])
def test_a_value_beyond_float32_names_file_column_line_and_fix(tmp_path: Path, value: str) -> None:
    path = tmp_path / "big.csv"
    path.write_text(f"a,b,y\n{ROWS}5,{value},1\n")
    err = _load_quietly(f"csv:{path}")
    assert str(path) in err.message and "line 22" in err.message and "'b'" in err.message
    assert value in err.message and "rescale column 'b'" in err.hint


def test_large_values_within_float32_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(f"a,b,y\n{ROWS}5,3e38,1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = datasets.load(f"csv:{path}")
    assert np.isfinite(split.X_train).all() and np.isfinite(split.X_test).all()
    assert np.abs(split.X_train).max() + np.abs(split.X_test).max() > 1.0  # not all zeros


def _within(seconds: float, source: str) -> UserError:
    """Load ``source`` in a thread, failing if it does not answer in ``seconds``."""
    result: list[UserError] = []

    def load() -> None:
        try:
            datasets.load(source)
        except UserError as exc:
            result.append(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{source} was still being read after {seconds} s"
    assert result, f"{source} loaded without an error"
    return result[0]


def test_dev_zero_is_refused_up_front() -> None:
    err = _within(5.0, "csv:/dev/zero")
    assert "/dev/zero" in err.message and "not a regular file" in err.message


def test_a_pipe_and_a_folder_are_refused_without_opening(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    assert "not a regular file" in _within(5.0, f"csv:{fifo}").message
    assert "not a regular file" in _within(5.0, f"csv:{tmp_path}").message


def test_a_file_over_the_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.csv"
    path.write_text("a,b,y\n" + ROWS)
    monkeypatch.setattr(csvfile, "MAX_BYTES", 100)
    err = _load_quietly(f"csv:{path}")
    assert str(path) in err.message and "0 MB a CSV table may have" in err.message
    assert "subsample" in err.hint


def test_the_limit_is_a_hundred_megabytes() -> None:
    assert csvfile.MAX_BYTES == 100_000_000


def test_a_binary_file_with_nul_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b,y\n1,2,0\n\x00\x00\x00\x01\x02,3,1\n")
    err = _load_quietly(f"csv:{path}")
    assert str(path) in err.message and "binary" in err.message
