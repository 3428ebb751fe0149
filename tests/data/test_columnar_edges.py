"""Edge cases of the column-wise table reader found by probing it against the row-wise one (tables.load_rows):
NaN spellings, cells past csv's field limit, blank lines in the type sample, Parquet nulls and float32
columns, categories= given as one name. Each reads as the row-wise reader reads it, or stops with its message."""
import csv
import random

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pcsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from dlspec.data.sources import columnar, parquet  # noqa: E402
from tests.data.test_columnar import (LOC, both, csv_source, load_rows, loaded, long_table, outcome,  # noqa: E402
                                      parquet_copy, source_args, write_table)


@pytest.mark.parametrize("late", ["-nan", "+nan", "nan(1)", "NaN"])
@pytest.mark.parametrize("column", [0, 2])
def test_a_nan_past_the_sample_keeps_its_spelling(tmp_path, late, column):
    """pyarrow reads `-nan`, `+nan` and `nan(1)` as NaN, whose text is `nan`, a missing mark; the row-wise path
    calls only `nan` (any case) missing and refuses the others at their line, for a feature or a regression
    target: a typed read holding a NaN is read again as text."""
    long_table(tmp_path / "t.csv", late)
    if column:  # the late cell in the regression target instead of the size feature
        text = (tmp_path / "t.csv").read_text().splitlines()
        cells = text[3701].split(",")
        text[3701] = ",".join([f"{1.5}", cells[1], late])
        (tmp_path / "t.csv").write_text("\n".join(text) + "\n")
    for missing in ("drop", "mean"):
        args = source_args(tmp_path / "t.csv", missing=missing, loss_task="regression")
        fast = outcome(csv_source, args)
        assert fast == outcome(load_rows, args)
        if late != "NaN":
            assert f"line 3702, column '{'y' if column else 'size'}'" in fast and repr(late) in fast


@pytest.mark.parametrize("where", ["city", "note"])
@pytest.mark.parametrize("filler", ["z", "word, ", "line\n"])
def test_a_cell_longer_than_the_field_limit_is_named_at_its_line_in_any_column(tmp_path, where, filler):
    """Python's csv module refuses a cell longer than its field limit; pyarrow does not. Such a cell in a
    category column (read as a dictionary) or in a column the source leaves out, bare or quoted with commas
    and line ends inside, stops the column-wise reader with the row-wise reader's message."""
    long_table(tmp_path / "t.csv", "1.5")
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.reader(f))
    long = filler * (csv.field_size_limit() // len(filler) + 1)
    rows = [[*row, "n"] for row in rows]
    rows[3001][1 if where == "city" else 3] = long
    write_table(tmp_path / "t.csv", [*rows[0][:3], "note"], rows[1:])
    args = source_args(tmp_path / "t.csv", features=["size", "city"])
    fast = outcome(csv_source, args)
    assert fast == outcome(load_rows, args)
    line = 3002 if "\n" not in filler else 3002 + csv.field_size_limit() // len(filler)  # where it overflows
    assert f"t.csv, line {line}: not valid CSV (field larger than field limit (131072))" in fast


def test_cells_within_the_field_limit_are_read_column_wise(tmp_path, monkeypatch):
    long_table(tmp_path / "t.csv", "1.5")
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.reader(f))
    rows = [[*row, "n"] for row in rows]
    rows[3001][1] = rows[3002][3] = ("word, " * csv.field_size_limit())[:csv.field_size_limit()]
    write_table(tmp_path / "t.csv", [*rows[0][:3], "note"], rows[1:])
    args = source_args(tmp_path / "t.csv", features=["size", "city"], onehot_max=2)
    header, columns = columnar.read_csv_columns(args, LOC)
    assert header == ["size", "city", "y", "note"] and sorted(columns) == ["city", "size", "y"]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
@pytest.mark.parametrize("missing", ["error", "most_frequent", "drop"])
def test_a_parquet_text_column_with_nulls_reads_as_the_csv_written_from_it(tmp_path, kind, missing):
    """A null in a Parquet text column (read as a dictionary when a feature, as text when the target or
    handed to the row-wise path) is an empty cell, as in the csv pyarrow writes from the file."""
    table = pa.table({"colour": pa.array(["red", None, "blue", "red"] * 10, kind), "x": [float(i) for i in range(40)],
                      "y": pa.array(["p", "q", "q", None] * 10, kind)})
    pq.write_table(table, tmp_path / "t.parquet")
    pcsv.write_csv(table, tmp_path / "t.csv")
    args = source_args(tmp_path / "t.parquet", missing=missing)
    from_parquet = outcome(parquet._parquet, args)
    from_csv = outcome(load_rows, {**args, "path": str(tmp_path / "t.csv")})
    if missing == "error":
        said = "column 'y' (column 3): the target is empty, a missing value, not a class"
        assert f"t.parquet, line 4, {said}" in from_parquet and f"t.csv, line 5, {said}" in from_csv  # csv: a header
    else:
        assert from_parquet[:6] == from_csv[:6] and from_parquet[7:] == from_csv[7:]
        assert from_parquet[6]["columns"] == from_csv[6]["columns"]


def test_a_blank_line_in_the_sample_does_not_make_number_columns_text(tmp_path, monkeypatch):
    """Both readers skip a blank line; the sampled guess skips it too, so number columns are still read as
    numbers (a blank line read as a row of empty cells made every column a dictionary of texts)."""
    long_table(tmp_path / "t.csv", "1.5")
    header, rest = (tmp_path / "t.csv").read_text().split("\n", 1)
    (tmp_path / "t.csv").write_text(f"{header}\n\n{rest}")
    args = source_args(tmp_path / "t.csv", loss_task="regression")
    _, columns = columnar.read_csv_columns(args, LOC)
    assert [columns[n].array.type for n in ("size", "city", "y")] == [
        pa.float64(), pa.dictionary(pa.int32(), pa.string()), pa.float64()]
    fast, slow = both(args, list(range(0, 4000, 3)), monkeypatch)
    assert fast == slow


def test_a_header_name_longer_than_the_field_limit_is_refused_as_the_row_wise_reader_refuses_it(tmp_path):
    long_table(tmp_path / "t.csv", "1.5")
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.reader(f))
    rows[0][1] = "city, " * (csv.field_size_limit() // 6 + 1)  # quoted (it holds commas): a header read as a row
    write_table(tmp_path / "t.csv", rows[0], rows[1:])
    args = source_args(tmp_path / "t.csv", target="y")
    fast = outcome(csv_source, args)
    assert fast == outcome(load_rows, args) and "t.csv, line 1: not valid CSV (field larger than field limit" in fast


@pytest.mark.parametrize("missing", ["mean", "median"])
def test_a_parquet_float32_column_reads_as_the_numbers_its_csv_holds(tmp_path, missing):
    """The csv pyarrow writes from a float32 column holds each value's shortest text (0.1f as `0.1`), which
    the row-wise path reads as the double 0.1: the column-wise numbers are those, not the float32 values
    widened (0.10000000149...), so fill values computed in float64 agree too."""
    rng = np.random.default_rng(4)
    table = pa.table({"x": pa.array(rng.normal(size=60).astype(np.float32)), "y": ["p", "q", "q"] * 20})
    pq.write_table(table, tmp_path / "t.parquet")
    pcsv.write_csv(table, tmp_path / "t.csv")
    args = source_args(tmp_path / "t.parquet", missing=missing)
    from_parquet = loaded(parquet._parquet, args, list(range(0, 60, 2)))
    from_csv = loaded(load_rows, {**args, "path": str(tmp_path / "t.csv")}, list(range(0, 60, 2)))
    assert from_parquet[6]["columns"] == from_csv[6]["columns"] and from_parquet[7:] == from_csv[7:]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_categories_given_as_one_name_reads_as_a_list_of_it(tmp_path, fmt):
    """categories="zip" (one name, which the source takes) keeps a number-looking column as text: read as
    numbers, its codes were asked of a column whose text had been let go (an internal error)."""
    rng = random.Random(8)
    rows = [[f"{rng.random():.4f}", rng.choice(["75001", "075001", "13001.0", "31000"]), "pq"[i % 2]] for i in range(3000)]
    write_table(tmp_path / "t.csv", ["size", "zip", "y"], rows)
    load = csv_source
    if fmt == "parquet":
        parquet_copy(tmp_path / "t.csv", tmp_path / "t.parquet")
        load = parquet._parquet
    args = source_args(tmp_path / f"t.{fmt}")
    one, listed = outcome(load, {**args, "categories": "zip"}), outcome(load, {**args, "categories": ["zip"]})
    assert one == listed and one[6]["columns"][1]["levels"] == ["13001", "31000", "75001"]
    assert "categories= takes a list of column names, received 5" in outcome(load, {**args, "categories": 5})
