"""Shipped sets (digits, iris) and a person's own CSV table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.errors import UserError


def test_digits_has_1797_images_of_8x8_scaled_to_unit_range() -> None:
    split = datasets.load("digits")
    X = np.concatenate([split.X_train, split.X_test])
    y = np.concatenate([split.y_train, split.y_test])
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64 and y.shape == (1797,)
    assert set(np.unique(y)) == set(range(10))
    assert split.task == "multiclass" and split.n_classes == 10
    assert split.image_shape == (8, 8) and split.class_names == tuple("0123456789")
    assert len(split.X_test) == round(1797 * 0.2)
    assert np.all(np.isin(X * 16, np.arange(17)))


def test_digits_split_is_stratified_and_seeded() -> None:
    a, b, c = (datasets.load("digits", seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_test, c.y_test)
    train_share = np.bincount(a.y_train) / np.bincount(np.concatenate([a.y_train, a.y_test]))
    assert np.all(np.abs(train_share - 0.8) < 0.02)


def test_iris_has_150_rows_3_classes_standardised_on_the_training_part() -> None:
    split = datasets.load("iris", test_fraction=0.2, seed=0)
    assert split.X_train.shape == (120, 4) and split.X_test.shape == (30, 4)
    assert split.class_names == ("setosa", "versicolor", "virginica")
    assert split.n_classes == 3 and split.feature_names[0] == "sepal_length"
    np.testing.assert_array_equal(np.bincount(split.y_test), [10, 10, 10])
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(split.X_train.std(axis=0), 1.0)
    assert np.abs(split.X_test.mean(axis=0)).max() > 1e-6


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "a,b,label\n" + "".join(f"{i},{i * 0.5},{i % 3}\n" for i in range(30))


def test_csv_with_header_takes_the_last_column_as_classes(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    split = datasets.load(f"csv:{path}", standardize_inputs=False)
    assert split.task == "multiclass" and split.n_classes == 3
    assert split.feature_names == ("a", "b") and split.class_names == ("0", "1", "2")
    assert split.X_train.shape == (24, 2) and split.y_test.shape == (6,)
    np.testing.assert_array_equal(split.y_train, split.X_train[:, 0].astype(int) % 3)
    assert split.name == f"csv:{path}"


def test_csv_target_by_name_gives_regression(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    split = datasets.load(f"csv:{path}", target="b", test_fraction=0.5)
    assert split.task == "regression" and split.n_classes == 0
    assert split.feature_names == ("a", "label") and split.y_train.shape == (15, 1)
    np.testing.assert_allclose(split.X_train.mean(axis=0), 0.0, atol=1e-12)


def test_csv_binary_labels_are_remapped_to_zero_and_one(tmp_path: Path) -> None:
    rows = "".join(f"{i},{7 if i % 2 else -1}\n" for i in range(20))
    path = write(tmp_path, "x,y\n" + rows)
    split = datasets.load(f"csv:{path}", seed=3)
    assert split.task == "binary" and split.class_names == ("-1", "7")
    assert split.y_train.shape == (16, 1) and split.y_train.dtype == np.float64
    assert set(np.unique(split.y_train)) == {0.0, 1.0}


def test_csv_without_header_and_target_by_index(tmp_path: Path) -> None:
    path = write(tmp_path, "# comment\n\n" + "".join(f"{i % 2};{i};{i * 2}\n" for i in range(10)))
    split = datasets.load(f"csv:{path}", target=0, delimiter=";", task="classification")
    assert split.feature_names == ("col1", "col2") and split.task == "binary"
    split = datasets.load(f"csv:{path}", target=-1, delimiter=";", task="regression")
    assert split.feature_names == ("col0", "col1")


def test_csv_auto_task_takes_many_or_fractional_values_as_regression(tmp_path: Path) -> None:
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{i * 1.5}\n" for i in range(40)))
    assert datasets.load(f"csv:{path}").task == "regression"
    path = write(tmp_path, "x,y\n" + "".join(f"{i},{i}\n" for i in range(40)), "many.csv")
    assert datasets.load(f"csv:{path}").task == "regression"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("a,b\n1,2\n3,4\n5\n", 4, "expected 2 fields, found 1"),
        ("a,b\n1,2\n\n3,4,5\n", 4, "found 3"),
        ("a,b\n1,2\n3,x\n", 3, "column 'b': 'x'"),
        ("a,b\n1,2\n3,\n", 3, "''"),
        ("a,b\n1,nan\n", 2, "finite"),
        ("a,1\n1,2\n", 1, "mixes"),
        ("a,a\n1,2\n", 1, "distinct"),
    ],
)
def test_malformed_csv_names_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        datasets.load(f"csv:{path}")
    assert f"{path}, line {line}" in err.value.message
    assert words in err.value.message and err.value.hint


@pytest.mark.parametrize(
    ("text", "options", "words"),
    [
        ("", {}, "no data rows"),
        ("a,b\n", {}, "no data rows"),
        ("a\n1\n2\n", {}, "only one column"),
        (GOOD, {"target": "c"}, "no column 'c'"),
        (GOOD, {"target": 5}, "no column 5"),
        (GOOD, {"task": "clustering"}, "task="),
        ("x,y\n1,3\n2,3\n3,3\n", {"task": "classification"}, "single value"),
        (GOOD, {"delimiter": ";;"}, "delimiter"),
        (GOOD, {"test_fraction": 1.5}, "test_fraction"),
    ],
)
def test_bad_csv_content_or_options_are_user_errors(
    tmp_path: Path, text: str, options: dict[str, object], words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UserError, match=words):
        datasets.load(f"csv:{path}", **options)


def test_missing_csv_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        datasets.load(f"csv:{tmp_path / 'absent.csv'}")
    assert "absent.csv" in err.value.message and "no such file" in err.value.message


def test_csv_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "bin.csv"
    path.write_bytes(b"a,b\n\xff\xfe,1\n")
    with pytest.raises(UserError, match="UTF-8"):
        datasets.load(f"csv:{path}")


def test_csv_name_needs_a_path_and_known_options(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="needs a file path"):
        datasets.load("csv:")
    with pytest.raises(UserError, match="noise"):
        datasets.load(f"csv:{write(tmp_path, GOOD)}", noise=0.1)
