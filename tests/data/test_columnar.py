"""The column-wise table reader (data/sources/columnar.py) against the row-wise one (tables.load_rows): the
same tasks, classes, encodings and tensors bit for bit on generated tables, Parquet equal to csv for the
same table, and the same located messages for tables holding a mistake."""
import csv
import random
import warnings

import numpy as np
import pytest
import torch

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pcsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from dlspec.data.encoding import ONEHOT_LEVELS  # noqa: E402
from dlspec.data.sources import columnar, csv_columns, parquet  # noqa: E402
from dlspec.data.sources.base import SOURCES  # noqa: E402
from dlspec.data.sources.tables import load_rows  # noqa: E402
from dlspec.errors import DataError, DlspecWarning, Loc  # noqa: E402

LOC = Loc("spec.dlspec", 1, 1)
MISSING = ("", "NA", "nan", " ? ", "null", "N/A")
CITIES = ("paris", "lyon", "café", "São Paulo", "a, quoted", 'say "hi"', "two\nlines", " spaced ")


def source_args(path, target="y", **given):
    args = {"path": str(path), "target": target, "features": None, "task": "auto", "missing": "error",
            "categories": None, "onehot_max": ONEHOT_LEVELS, "embedding_dim": "auto", "encoding": "utf-8",
            "loss_task": None}
    return {**args, **given}


def write_table(path, header, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows([header, *rows])


def generated_table(seed, rows=120, missing_share=0.0, classes=True):
    """A seeded table: a float column, an int column, a category column (quoted, accented, multi-line
    cells), a zip-code column and a target (class names or numbers); missing cells at `missing_share`."""
    rng = random.Random(seed)
    gap = lambda cell: rng.choice(MISSING) if rng.random() < missing_share else cell  # noqa: E731
    table = []
    for _ in range(rows):
        size = f"{rng.uniform(-50, 300):.{rng.randint(0, 6)}f}"
        rooms = rng.choice([str(rng.randint(1, 9)), f" {rng.randint(1, 9)}", f"{rng.randint(1, 9)}.0"])
        city = rng.choice(CITIES[:rng.randint(2, len(CITIES))])
        zip_code = rng.choice(["75001", "69001", "075001", "13001.0", "31000"])
        target = rng.choice(["cheap", "dear", "mid"]) if classes else f"{rng.gauss(100, 30):.3f}"
        table.append([gap(size), gap(rooms), gap(city), gap(zip_code), target])
    return ["size", "rooms", "city", "zip", "y"], table


def loaded(load, args, train):
    """(task, classes, targets, y, encoding, x) of a source loaded by `load` and fitted on `train`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlspecWarning)
        src = load(args, LOC)
        src.train.fit(list(range(0, len(src.train), 2)) if train is None else train)
    data = src.train.data
    return (src.task, src.classes, src.targets, data.y.numpy().tobytes(), data.y.dtype, data.y.shape,
            src.train.encoding, data.x.numpy().tobytes(), data.x.shape)


def both(args, train, monkeypatch=None):
    """The column-wise and the row-wise results; the column-wise run must not fall back to rows."""
    if monkeypatch is not None:
        monkeypatch.setattr(columnar, "load_rows", _no_rows)
    fast = loaded(lambda a, loc: columnar.load_columnar(a, loc), args, train)
    if monkeypatch is not None:
        monkeypatch.undo()
    return fast, loaded(load_rows, args, train)


def _no_rows(*_):
    raise AssertionError("the column-wise reader handed a clean table to the row-wise path")


CASES = [  # (missing policy, share of missing cells, class targets, categories=, onehot_max)
    ("error", 0.0, True, None, ONEHOT_LEVELS),
    ("error", 0.0, False, ["zip"], ONEHOT_LEVELS),
    ("median", 0.1, False, None, ONEHOT_LEVELS),
    ("mean", 0.1, True, ["zip", "rooms"], 3),
    ("most_frequent", 0.15, True, None, 0),
    ("drop", 0.05, False, ["zip"], ONEHOT_LEVELS),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("missing, share, classes, categories, onehot_max", CASES)
def test_the_columnar_reader_gives_the_row_wise_tensors_bit_for_bit(tmp_path, monkeypatch, seed, missing, share,
                                                                     classes, categories, onehot_max):
    header, rows = generated_table(seed, missing_share=share, classes=classes)
    write_table(tmp_path / "t.csv", header, rows)
    args = source_args(tmp_path / "t.csv", missing=missing, categories=categories, onehot_max=onehot_max,
                       loss_task=None if classes else "regression")
    kept = len(load_rows({**args}, LOC).train) if missing == "drop" else len(rows)
    train = [i for i in range(kept) if i % 4]
    fast, slow = both(args, train, monkeypatch)
    assert fast == slow


@pytest.mark.parametrize("encoding, bom", [("utf-8", True), ("latin-1", False), ("cp1252", False)])
def test_encodings_and_a_byte_order_mark_read_alike(tmp_path, monkeypatch, encoding, bom):
    header, rows = generated_table(7, classes=True)
    rows = [[cell.replace("São Paulo", "Genève") for cell in row] for row in rows]  # in all three encodings
    write_table(tmp_path / "t.csv", header, rows, "utf-8-sig" if bom else encoding)
    args = source_args(tmp_path / "t.csv", encoding=encoding)
    fast, slow = both(args, list(range(0, len(rows), 2)), monkeypatch)
    assert fast == slow and "Genève" in str(fast[6])


def test_numbers_written_with_spaces_signs_and_exponents_are_the_same_numbers(tmp_path, monkeypatch):
    cells = [" 1.5", "+2", "3e2", ".5", "5.", "1_000", "-0", "7 ", "0.1", "1e-320"]
    write_table(tmp_path / "t.csv", ["a", "y"], [[c, str(i % 2)] for i, c in enumerate(cells * 3)])
    args = source_args(tmp_path / "t.csv", task="classification")
    fast, slow = both(args, list(range(30)), monkeypatch)
    assert fast == slow


def parquet_copy(csv_path, parquet_path):
    pq.write_table(pcsv.read_csv(csv_path), parquet_path)


@pytest.mark.parametrize("missing, share, classes", [("error", 0.0, True), ("median", 0.1, False),
                                                     ("most_frequent", 0.1, True)])
def test_parquet_gives_what_csv_gives_for_the_same_table(tmp_path, missing, share, classes):
    rng = random.Random(3)
    rows = [[f"{rng.uniform(0, 9):.3f}" if rng.random() >= share else "", str(rng.randint(0, 5)),
             rng.choice(["red", "green", "blue"]) if rng.random() >= share else "",
             rng.choice(["a", "b"]) if classes else f"{rng.uniform(0, 1):.4f}"] for _ in range(90)]
    write_table(tmp_path / "t.csv", ["x", "n", "colour", "y"], rows)
    parquet_copy(tmp_path / "t.csv", tmp_path / "t.parquet")
    args = source_args(tmp_path / "t.csv", missing=missing, categories=["n"])
    from_csv = loaded(load_rows, args, list(range(0, 90, 3)))
    from_parquet = loaded(parquet._parquet, {**args, "path": str(tmp_path / "t.parquet")}, list(range(0, 90, 3)))
    assert from_parquet[:6] == from_csv[:6] and from_parquet[7:] == from_csv[7:]
    assert from_parquet[6]["columns"] == from_csv[6]["columns"]


def csv_source(args, loc):
    """The csv source as a spec loads it: column-wise, or row-wise for a table the columnar reader hands on."""
    return SOURCES["csv"].load(args, loc)


def message(load, args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlspecWarning)
        with pytest.raises(DataError) as caught:
            src = load(args, LOC)
            src.train.fit(list(range(len(src.train))))
    return str(caught.value)


BAD = [  # (cells of column a, what the message says)
    (["1", "2", "x"] + ["4", "5"] * 60, "line 4, column 'a' (column 1): 'x' is not a number"),
    (["1", "", "3"] * 10, "line 3, column 'a' (column 1): the cell is empty"),
    (["1", "inf", "3"] * 10, "line 3, column 'a' (column 1): 'inf' is not a finite number"),
    (["1", "NA", "3"] * 10, "line 3, column 'a' (column 1): 'NA' marks a missing value"),
]


@pytest.mark.parametrize("cells, expected", BAD)
def test_a_bad_feature_cell_is_named_at_its_line_and_column_by_either_reader(tmp_path, cells, expected):
    write_table(tmp_path / "t.csv", ["a", "y"], [[c, str(i % 2)] for i, c in enumerate(cells)])
    args = source_args(tmp_path / "t.csv")
    assert expected in message(csv_source, args)
    assert message(csv_source, args) == message(load_rows, args)


@pytest.mark.parametrize("text, expected", [
    ("a,y\n1,0\n2,1\n3\n", "line 4: 1 values where the header has 2"),
    ("a,y\n1,0\n2,\n3,1\n", "line 3, column 'y' (column 2): the target is empty"),
    ("a,y\n1,0.5\n2,nan\n3,1.5\n", "line 3, column 'y' (column 2): 'nan' is not a finite number"),
    ("a,y\n1,0\n1,0\n", "holds one class ('0') in all 2 rows"),
])
def test_table_mistakes_read_alike(tmp_path, text, expected):
    (tmp_path / "t.csv").write_text(text)
    for task in ("classification", "regression") if "line 3, column 'y'" in expected else ("auto",):
        args = source_args(tmp_path / "t.csv", task=task)
        fast = message(csv_source, args)
        assert fast == message(load_rows, args)
    assert any(expected in message(csv_source, source_args(tmp_path / "t.csv",
                                                                                            task=t))
               for t in ("auto", "classification", "regression"))


def test_a_bad_parquet_cell_is_named_at_its_row(tmp_path):
    pq.write_table(pa.table({"a": [1.0, 2.0, float("inf"), 4.0], "y": ["p", "q", "p", "q"]}), tmp_path / "t.parquet")
    text = message(parquet._parquet, source_args(tmp_path / "t.parquet"))
    assert "t.parquet, line 3, column 'a' (column 1): 'inf' is not a finite number" in text


def test_parquet_without_rows_or_with_a_nested_column_says_so(tmp_path):
    pq.write_table(pa.table({"a": pa.array([], pa.float64()), "y": pa.array([], pa.string())}), tmp_path / "e.parquet")
    assert "e.parquet has columns (a, y) but no rows" in message(parquet._parquet, source_args(tmp_path / "e.parquet"))
    pq.write_table(pa.table({"a": [[1, 2]], "y": ["p"]}), tmp_path / "n.parquet")
    assert "column 'a' holds list<element: int64> values" in message(parquet._parquet,
                                                                     source_args(tmp_path / "n.parquet"))
    (tmp_path / "no.parquet").write_text("a,y\n1,2\n")
    assert "cannot be read as a Parquet file" in message(parquet._parquet, source_args(tmp_path / "no.parquet"))


def test_without_pyarrow_parquet_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "pyarrow_or_none", lambda: None)
    pq.write_table(pa.table({"a": [1.0], "y": ["p"]}), tmp_path / "t.parquet")
    with pytest.raises(DataError) as caught:
        parquet._parquet(source_args(tmp_path / "t.parquet"), LOC)
    assert 'pip install "dlspec[parquet]"' in caught.value.hint


def test_without_pyarrow_csv_is_read_row_wise(tmp_path, monkeypatch):
    header, rows = generated_table(1)
    write_table(tmp_path / "t.csv", header, rows)
    monkeypatch.setattr(csv_columns, "pyarrow_or_none", lambda: None)
    assert columnar.read_csv_columns(source_args(tmp_path / "t.csv"), LOC) is None
    args = source_args(tmp_path / "t.csv")
    assert loaded(lambda a, loc: SOURCES["csv"].load(a, loc), args, [0, 1, 2]) == loaded(load_rows, args, [0, 1, 2])


def test_a_parquet_source_trains_from_a_spec(tmp_path):
    import dlspec
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    pq.write_table(pa.table({"x": x, "colour": rng.choice(["r", "g"], 60), "y": (x > 0).astype(np.int64)}),
                   tmp_path / "t.parquet")
    (tmp_path / "s.dlspec").write_text(
        'model M { input vector(auto); linear(2) }\n'
        'data d { source parquet("t.parquet", target="y"); split train=0.8 test=0.2 }\n'
        'train { loss cross_entropy; optimizer adam(lr=0.05); epochs 2 }\n')
    run = dlspec.fit(tmp_path / "s.dlspec", out=str(tmp_path / "run"), log=lambda *a: None, progress=False)
    assert torch.isfinite(torch.tensor(run.results["test"]["loss"]))


def test_parquet_reads_only_the_columns_the_source_names(tmp_path):
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0, 4.0], "tags": [[1], [2], [3], [4]], "y": ["p", "q", "p", "q"]}),
                   tmp_path / "t.parquet")
    src = parquet._parquet(source_args(tmp_path / "t.parquet", features=["a"]), LOC)
    src.train.fit([0, 1, 2, 3])
    assert src.features == ["a"] and src.train.data.x.flatten().tolist() == [1.0, 2.0, 3.0, 4.0]
    text = message(parquet._parquet, source_args(tmp_path / "t.parquet"))  # every column but y: tags too
    assert "column 'tags' holds list<element: int64> values" in text


def test_compile_reads_a_table_once_for_the_train_blocks_that_share_it(tmp_path, monkeypatch):
    from dlspec.api import compile_spec
    header, rows = generated_table(2, classes=False)
    write_table(tmp_path / "t.csv", header, rows)
    (tmp_path / "s.dlspec").write_text(
        'model M { input vector(auto); linear(1) }\nmodel N { input vector(auto); linear(8) -> relu -> linear(1) }\n'
        'data d { source csv("t.csv", target="y", categories=["zip"]) }\n'
        'train a { model M; data d; loss mse }\ntrain b { model N; data d; loss l1 }\n')
    reads = []
    read = columnar.read_csv_columns
    monkeypatch.setattr(columnar.load_columnar, "__defaults__",
                        (lambda a, loc: reads.append(a["path"]) or read(a, loc), None))
    compile_spec(str(tmp_path / "s.dlspec"))
    assert reads == [str(tmp_path / "t.csv")]  # both blocks' losses are regression: one bundle serves both


def outcome(load, args):
    """What a reader makes of a table: its results, or the message it stops with."""
    try:
        return loaded(load, args, None)
    except DataError as exc:
        return str(exc)


CELLS = ["1", " 2", "3.5", "-0", "1e3", "", "NA", "nan", "inf", "?", "x", "y", "café", "a,b", 'q"t', "l\nm", " "]


@pytest.mark.parametrize("seed", range(12))
def test_random_tables_read_alike_or_fail_alike(tmp_path, seed):
    """Random cells (numbers, text, missing marks, quotes, commas, newlines, spaces) in random shapes: the
    csv source gives the row-wise reader's tensors, or stops with its message."""
    rng = random.Random(seed)
    width = rng.randint(2, 4)
    pool = rng.sample(CELLS, rng.randint(3, len(CELLS)))
    rows = [[rng.choice(pool) for _ in range(width)] for _ in range(rng.randint(3, 40))]
    write_table(tmp_path / "t.csv", [f"c{i}" for i in range(width)], rows)
    for missing in ("error", "median", "most_frequent", "drop"):
        args = source_args(tmp_path / "t.csv", target=f"c{width - 1}", missing=missing)
        assert outcome(csv_source, args) == outcome(load_rows, args)


def test_csv_reads_only_the_columns_the_source_names_and_still_refuses_a_ragged_row(tmp_path, monkeypatch):
    header, rows = generated_table(4)
    write_table(tmp_path / "t.csv", ["note", *header], [[f"free text {i}", *row] for i, row in enumerate(rows)])
    args = source_args(tmp_path / "t.csv", features=["size", "city"])
    assert sorted(columnar.read_csv_columns(args, LOC)[1]) == ["city", "size", "y"]
    fast, slow = both(args, list(range(0, len(rows), 3)), monkeypatch)
    assert fast == slow
    line = (tmp_path / "t.csv").read_text().count("\n") + 1  # quoted cells hold line ends: count them
    with open(tmp_path / "t.csv", "a") as f:
        f.write("only,three,cells\n")
    text = message(csv_source, args)
    assert f"t.csv, line {line}: 3 values where the header has 6" in text


def split_outcome(load, args):
    """What a reader makes of a table with a split column: its splits and results, or its message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlspecWarning)
        try:
            src = load(args, LOC)
        except DataError as exc:
            return str(exc)
    return src.given_splits, outcome(lambda a, loc: src, args)


@pytest.mark.parametrize("missing", ["error", "drop", "median"])
def test_a_split_column_is_read_column_wise_with_the_row_wise_splits(tmp_path, monkeypatch, missing):
    header, rows = generated_table(5, missing_share=0.05 if missing != "error" else 0.0)
    folds = ["train", " Train", "VAL", "test ", "train"]
    write_table(tmp_path / "t.csv", [*header, "fold"], [[*row, folds[i % 5]] for i, row in enumerate(rows)])
    args = source_args(tmp_path / "t.csv", missing=missing, split="fold")
    from dlspec.data.sources import tables
    for module in (columnar, tables):  # a clean table is read column-wise, never handed on
        monkeypatch.setattr(module, "load_rows", _no_rows)
    fast = split_outcome(csv_source, args)
    monkeypatch.undo()
    slow = split_outcome(load_rows, args)
    assert fast == slow and sorted(fast[0]) == ["test", "train", "val"]
    assert sum(map(len, fast[0].values())) == len(fast[1][3]) // 8  # every kept row is in a split (y: int64)


@pytest.mark.parametrize("bad, expected", [
    ("tset", "line 4, column 'fold' (column 3): 'tset' is not a split. Did you mean 'test'?"),
    ("", "line 4, column 'fold' (column 3): '' is not a split."),
])
def test_a_bad_split_cell_is_named_at_its_line_by_either_reader(tmp_path, bad, expected):
    folds = ["train", "val", bad] + ["train", "test"] * 5
    write_table(tmp_path / "t.csv", ["a", "y", "fold"], [[str(i), "pq"[i % 2], f] for i, f in enumerate(folds)])
    args = source_args(tmp_path / "t.csv", split="fold")
    assert expected in split_outcome(csv_source, args)
    assert split_outcome(csv_source, args) == split_outcome(load_rows, args)


def long_table(path, late_cell, rows=4000):
    """A table longer than the 64 KB the reader samples for its column types (size, city, y: about 80 KB),
    `late_cell` as size's cell in a row past the sample."""
    rng = random.Random(9)
    table = [[f"{rng.uniform(0, 99):.4f}", rng.choice(["a", "b", "c"]), f"{rng.gauss(0, 1):.5f}"] for _ in range(rows)]
    table[rows - 300][0] = late_cell
    write_table(path, ["size", "city", "y"], table)
    assert path.stat().st_size > 1 << 16


def test_a_clean_table_is_read_typed_in_one_pass(tmp_path, monkeypatch):
    """Number columns are read as numbers, a category column as a dictionary, a class target as text (its
    spellings are its classes' names), a regression target as numbers; the file is parsed once."""
    long_table(tmp_path / "t.csv", "12.5")
    parses = []
    parse = csv_columns._parse_csv
    monkeypatch.setattr(csv_columns, "_parse_csv", lambda *a, **k: parses.append(a[-1]) or parse(*a, **k))
    for given, target in (({"task": "classification"}, pa.string()), ({"loss_task": "regression"}, pa.float64())):
        parses.clear()
        header, columns = columnar.read_csv_columns(source_args(tmp_path / "t.csv", **given), LOC)
        assert header == ["size", "city", "y"] and len(parses) == 1 and parses[0] is not None
        assert [columns[n].array.type for n in header] == [pa.float64(), pa.dictionary(pa.int32(), pa.string()),
                                                          target]


@pytest.mark.parametrize("late", ["abc", "", "nan", "inf", " 3", "1_000", "NA", "1e500"])
@pytest.mark.parametrize("missing", ["error", "drop", "mean"])
def test_a_cell_past_the_sampled_rows_reads_as_the_row_wise_path_reads_it(tmp_path, late, missing):
    """The sample only guesses the types: a later cell a typed read refuses sends the file to a text read,
    so the results (or the located message) are the row-wise reader's."""
    long_table(tmp_path / "t.csv", late)
    for loss_task in (None, "regression"):
        args = source_args(tmp_path / "t.csv", missing=missing, loss_task=loss_task)
        assert outcome(csv_source, args) == outcome(load_rows, args)


def test_numbers_are_read_from_arrow_buffers_as_to_numpy_reads_them():
    """numpy_of reads a column's buffers (pyarrow's to_numpy imports pandas): the same values for a sliced
    chunk, several chunks, no rows, and integer and float widths."""
    from dlspec.data.columns import arrow_mask, numpy_of
    values = np.array([1.5, -2.0, 3.25, 1e300, 0.0, -0.0, 7.0], dtype=np.float64)
    chunked = pa.chunked_array([pa.array(values[:3]), pa.array(values[3:])])
    assert np.array_equal(numpy_of(chunked), values)
    assert np.array_equal(numpy_of(pa.array(values).slice(2, 4)), values[2:6])
    assert numpy_of(pa.chunked_array([], type=pa.float64())).shape == (0,)
    for kind in (pa.int8(), pa.int32(), pa.int64(), pa.uint16(), pa.float32()):
        column = pa.array([3, 1, 4, 1, 5], type=kind).slice(1)
        assert numpy_of(column).tolist() == [1, 4, 1, 5] and numpy_of(column).dtype.itemsize == kind.bit_width // 8
    keep = np.array([True, False, True, True, False, False, True, False, True, True])
    assert arrow_mask(keep).to_pylist() == keep.tolist()


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_reading_a_table_does_not_import_pandas(tmp_path, kind):
    """pyarrow's to_numpy, pa.array and pa.scalar import pandas when it is installed (a third of a second and
    about 32 MB); compile and fit of a table never need it."""
    import subprocess
    import sys
    pytest.importorskip("pandas")
    header, rows = generated_table(2, rows=60, missing_share=0.1)
    write_table(tmp_path / "t.csv", header, rows)
    if kind == "parquet":
        parquet_copy(tmp_path / "t.csv", tmp_path / "t.parquet")
    source = f'{kind}("t.{kind}", target="y", missing=mean, categories=["zip"])'
    (tmp_path / "s.dlspec").write_text(f"model M {{ input vector(auto); linear(3) }}\n"
                                       f"data d {{ source {source}; batch 8 }}\ntrain {{ model M; data d; epochs 1 }}\n")
    code = ("import sys, dlspec\nfrom dlspec.api import compile_spec\ncompile_spec(sys.argv[1])\n"
            "dlspec.fit(sys.argv[1], out=sys.argv[2], log=lambda *a: None, progress=False)\n"
            "print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.dlspec"), str(tmp_path / "run")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("chunk", [1, 7, 64])
@pytest.mark.parametrize("missing, share", [("error", 0.0), ("mean", 0.1)])
def test_features_encoded_a_block_of_rows_at_a_time_are_the_row_wise_tensors(tmp_path, monkeypatch, chunk, missing,
                                                                              share):
    """encode_columns writes a block of rows at a time (every column of it): blocks that cut the table anywhere,
    and one-row encodings (compile's sample), give the row-wise reader's features bit for bit, for number
    columns read as numbers (no missing cell) and as cells (missing cells filled)."""
    from dlspec.data import column_encoding
    monkeypatch.setattr(column_encoding, "_CHUNK", chunk)
    header, rows = generated_table(5, missing_share=share, classes=False)
    write_table(tmp_path / "t.csv", header, rows)
    args = source_args(tmp_path / "t.csv", missing=missing, categories=["zip"], onehot_max=3, loss_task="regression")
    train = [i for i in range(len(rows)) if i % 3]
    fast, slow = both(args, train, monkeypatch)
    assert fast == slow
    src = columnar.load_columnar(args, LOC)
    src.train.fit_encoding_only(train)
    x = torch.frombuffer(bytearray(slow[7]), dtype=torch.float32).view(slow[8])
    for row in (0, chunk, len(rows) - 1):
        assert torch.equal(src.train.data[row][0], x[row])
