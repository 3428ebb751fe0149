"""CSV tables: `csv(...)` turns a table into feature and target tensors, deciding the task
from the target values and the train block's loss. Feature columns may be
numbers or categories and may have missing cells (data/encoding.py says how
they are encoded and filled, from the training split only); empty, NaN or
infinite cells are otherwise refused with their line and column.

Two readers give the same tensors: the column-wise one (columnar.py, with
pyarrow) reads tables fast and hands any table holding a mistake to the
row-wise one here (`load_rows`, `read_table`), which names the mistake's line
and column; without pyarrow the row-wise reader reads every table."""
from __future__ import annotations

import csv
import io
import math
import os
import re
from typing import Optional

from ...errors import DataError, Loc, did_you_mean, warn
from ...schema.args import Arg
from ...runtime.inputs import InputError
from ...runtime.tables import TableEncoder, is_blank_line, is_missing
from ..encoding import (MISSING_POLICIES, ONEHOT_LEVELS, column_kinds, feature_names, fit_columns, is_number,
                        stray_text_error)
from .base import ENCODING, SourceData, TensorData, natural, number, read_text, source

_INTEGER = re.compile(r"[+-]?\d+")


def declared_categories(args: dict, features: list, loc: Loc) -> tuple:
    """The feature columns `categories=[...]` names (codes written as numbers: zip codes, ids)."""
    given = args.get("categories")
    if given is None:
        return ()
    names = [given] if isinstance(given, str) else list(given) if isinstance(given, (list, tuple)) else None
    if names is None or not all(isinstance(n, str) for n in names):
        raise DataError(f"csv: categories= takes a list of column names, received {given!r}", loc,
                        hint='e.g. categories=["zip", "store"]')
    for name in names:
        if name not in features:
            raise DataError(f"{args['path']}: categories= names '{name}', which is not a feature column."
                            + did_you_mean(name, features) + f" Features: {', '.join(features)}",
                            written_at(args, "categories", loc))
    return tuple(names)


def category_names(args: dict) -> tuple:
    """The names `categories=` gives (one name or a list), unchecked: the columns a reader keeps as text
    (declared_categories says what is wrong with them, once the header is known)."""
    given = args.get("categories")
    if isinstance(given, str):
        return (given,)
    return tuple(n for n in given if isinstance(n, str)) if isinstance(given, (list, tuple)) else ()


def written_at(a: dict, key: str, loc: Loc) -> Loc:
    """Where argument `key` of the source call is written (data/pipeline.load_source passes the places
    to built-in sources as `arg_locs`), else the call's own place."""
    return (a.get("arg_locs") or {}).get(key, loc)


def _not_negative(value):
    return None if value >= 0 else "must be 0 or more (0: every category column is embedded)"


def _auto_or_positive(value):
    """embedding_dim= is `auto` or a width; any other value (2.5, a list, a name) gets this one message."""
    if value == "auto" or isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return None
    return "must be auto or a positive integer"


def _column_list(example: str, empty: bool = False):
    """An Arg check: a column name or a list of distinct ones (checked where the argument is written)."""
    return lambda value: _column_list_problem(value, example, empty)


def _column_list_problem(value, example: str, empty: bool):
    if isinstance(value, str):
        return None  # one column: features="a"
    if not isinstance(value, (list, tuple)) or not (value or empty) or not all(isinstance(v, str) for v in value):
        return f"must be a list of column names, e.g. {example}"
    twice = sorted({v for v in value if list(value).count(v) > 1})
    if twice:
        return "names " + ", ".join(f"'{v}'" for v in twice) + " more than once"
    return None


def _target_problem(value):
    """target= is a column, a list of columns named like the model's outputs, or {output: column}."""
    if isinstance(value, str) or isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        return None
    if isinstance(value, (list, tuple)):
        return _column_list_problem(value, 'target=["price", "kind"]', False)
    return 'must be a column name, a list of columns named like the outputs, or {output: "column"}'


def _inputs_problem(value):
    if isinstance(value, dict) and value:
        return None
    return 'must map the model\'s inputs to columns, e.g. inputs={photo: "photo", facts: ["sqm", "rooms"]}'


@source("csv", (Arg("path", "str"), Arg("target", "any", check=_target_problem),
                Arg("features", "any", None, _column_list('features=["a", "b"]')),
                Arg("task", "str", "auto", choices=("auto", "classification", "regression")),
                Arg("missing", "str", "error", choices=MISSING_POLICIES),
                Arg("categories", "any", None, _column_list('categories=["zip", "store"]', empty=True)),
                Arg("onehot_max", "int", ONEHOT_LEVELS, _not_negative),
                Arg("embedding_dim", "any", "auto", _auto_or_positive), ENCODING,
                Arg("inputs", "any", None, _inputs_problem), Arg("split", "str", None)),
        paths=("path",), split_column="split",
        input_kind="table", doc="A table with a header row: csv(\"file.csv\", target=\"label\", features=[\"a\", \"b\"], task=auto, "
            "missing=error, encoding=\"utf-8\"). Text targets are classes; numeric ones follow the loss (cross_entropy: "
            "classes, mse: numbers); task=classification|regression decides outright. Text feature columns are "
            "categories: one-hot up to onehot_max=16 levels, else a learnt embedding of embedding_dim=auto numbers "
            "in the model (with input vector(auto)); categories=[\"zip\"] makes number columns categories; "
            "missing cells are an error, or filled from "
            "the training split (missing=median|mean|most_frequent), or their rows dropped (missing=drop). "
            "A model with several inputs or outputs: inputs={photo: \"photo_path\", words: \"text\", facts: "
            "[\"sqm\", \"district\"]} feeds each input from its columns, read by the input's kind (image paths, "
            "text, numbers and categories); target=[\"price\", \"kind\"] or {price: \"price_usd\"} names a "
            "column per output. "
            "split=\"fold\" names a column of split names (train, val, test): the rows are split as it says.")
def _csv(a: dict, loc: Loc) -> SourceData:
    if a.get("inputs") is not None or not isinstance(a["target"], str):
        from .named_table import load_named_table
        return load_named_table(a, loc)
    from .columnar import load_columnar  # inside: columnar imports this module
    fast = load_columnar(a, loc)
    return fast if fast is not None else load_rows(a, loc)


def load_rows(a: dict, loc: Loc, rows_of=None, quiet: bool = False) -> SourceData:
    """The row-wise reading of a table: every cell looked at in Python, each mistake at its line and column.
    The columnar reader (columnar.py) gives the same tensors faster and hands any table with a mistake to
    this path, so the message is the same whichever reader ran. `rows_of(a, loc)` reads (header, rows)
    (default: the csv file; a Parquet file's rows for `parquet`); `quiet`: the rows left out are not warned
    about again (the columnar reader did)."""
    import torch
    path = a["path"]
    header, rows = (rows_of or _read_csv_rows)(a, loc)
    features = checked_features(a, header, loc)
    t = header.index(a["target"])
    row_index = {line: i for i, (line, _) in enumerate(rows)}  # a row's line -> its 0-based index in the file
    total = len(rows)
    rows = _drop_missing(rows, header, features, t, a["missing"], path, loc, quiet)
    raw = [row[t].strip() for _, row in rows]
    if a["task"] != "classification":
        _check_stray_target(header, a["target"], rows, raw, path, loc)
    task = decide_task(raw, a["task"], a.get("loss_task"))
    if task == "classification":
        for (line, _), value in zip(rows, raw):
            _check_label(value, path, line, _col(header, t), loc)
        classes = sorted(set(raw), key=lambda v: (natural(v), v))  # ties (`1`, `01`) in a fixed order
        _check_classes(classes, len(raw), path, a, loc)
        _warn_many_classes(classes, len(raw), path, a["target"], loc)
        index = {c: i for i, c in enumerate(classes)}
        y = torch.tensor([index[v] for v in raw], dtype=torch.long)
        targets = y.tolist()
    else:
        y = torch.tensor([[number(v, path, line, _col(header, t), loc)] for (line, _), v in zip(rows, raw)])
        classes, targets = None, None
    data = TableData(header, rows, features, y, a, loc)
    if len(rows) < total:  # split files name rows by their index in the file, not among the kept rows
        data.source_rows, data.source_row_count = [row_index[line] for line, _ in rows], total
    return SourceData(data, targets=targets, classes=classes, task=task, features=features,
                      target_column=a["target"], fit_on_train=data.fit,
                      given_splits=column_splits(header, rows, features, a, loc) if a.get("split") else None)


def column_splits(header: list, rows: list, features: list, a: dict, loc: Loc) -> dict:
    """csv(..., split="fold"): {split: row indices} by the column's values (train, val, test)."""
    from ..split_lists import split_of
    column, path, at = a["split"], a["path"], written_at(a, "split", loc)
    if column not in header:
        raise DataError(f"{path} has no column '{column}' for split=." + did_you_mean(column, header)
                        + f" Columns: {', '.join(header)}", at)
    if column in features or column == a["target"]:
        raise DataError(f"split= names '{column}', which is also {'the target' if column == a['target'] else 'a feature'}"
                        " column", at, hint="the split column only says where each row goes")
    i = header.index(column)
    out: dict = {}
    for n, (line, row) in enumerate(rows):
        out.setdefault(split_of(row[i], f"{path}, line {line}, column {_col(header, i)}", at), []).append(n)
    return out


def _read_csv_rows(a: dict, loc: Loc):
    return read_table(a["path"], a["encoding"], loc)


def checked_features(a: dict, header: list, loc: Loc) -> list:
    """The feature columns of a table source: `features=` or every column but the target, each checked
    against the header (and the target against it too)."""
    path = a["path"]
    if a["target"] not in header:
        raise DataError(f"{path} has no column '{a['target']}'." + did_you_mean(a["target"], header)
                        + f" Columns: {', '.join(header)}", written_at(a, "target", loc))
    given = [a["features"]] if isinstance(a["features"], str) else a["features"]
    kept_out = (a["target"], a.get("split"))  # the split column says where a row goes: not a feature
    features = [str(f) for f in given] if given is not None else [h for h in header if h not in kept_out]
    if a["target"] in features:
        others = [f for f in features if f != a["target"]]
        raise DataError(f"csv: features= names the target column '{a['target']}': the model would be given the "
                        "answer it is to predict", written_at(a, "features", loc),
                        hint="leave it out: csv(..., features=[" + ", ".join(f'"{f}"' for f in others) + "])")
    for f in features:
        if f not in header:
            raise DataError(f"{path} has no column '{f}'." + did_you_mean(f, header) + f" Columns: {', '.join(header)}",
                            written_at(a, "features", loc))
    if not features:
        raise DataError(f"{path} has no feature columns besides the target '{a['target']}'", loc)
    return features


class TableData:
    """A table's rows and targets; its features are encoded (data/encoding.py) once the training
    split is known, since category levels and fill values come from the training rows only."""

    def __init__(self, header: list, rows: list, features: list, y, args: dict, loc: Loc):
        self.header, self.rows, self.features, self.y, self.args, self.loc = header, rows, features, y, args, loc
        self.kinds = column_kinds(header, rows, features, declared_categories(args, features, loc), args["path"], loc)
        self.encoding = None  # the fitted encoding, saved with the run for predict and exports
        self.data = None

    def fit(self, train_indices: list, saved=None) -> None:
        """Encode the rows by an encoding fitted on `train_indices`, or by the one a run saved (`saved`: its
        DataRecord, data/record.py)."""
        import torch
        path, header = self.args["path"], self.header
        if saved is not None and saved.table:
            columns = saved.table["columns"]
        else:
            columns = fit_columns(header, self.rows, self.features, self.kinds, train_indices, self.args["missing"],
                                  path, self.loc, self.args["onehot_max"], self.args["embedding_dim"])
        encoder, at = TableEncoder(columns), [header.index(f) for f in self.features]
        x = []
        try:
            for line, row in self.rows:
                x.append(encoder.encode([row[i] for i in at],
                                        lambda name: f"{path}, line {line}, column {_col(header, header.index(name))}"))
        except InputError as exc:
            raise DataError(exc.message, self.loc, hint=exc.hint) from None
        self.encoding = {"columns": columns, "encoding": self.args["encoding"], "missing": self.args["missing"],
                         "feature_names": feature_names(columns)}
        self.data = TensorData(torch.tensor(x, dtype=torch.float32).reshape(len(x), encoder.width), self.y)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.data[i]


def _drop_missing(rows: list, header: list, features: list, target: int, missing: str, path: str, loc: Loc,
                  quiet: bool = False) -> list:
    """missing=drop: rows with a missing feature or target go; a filling policy drops rows whose
    target is missing (targets are never guessed). Each says how many rows went."""
    if missing == "error":
        return rows
    check = [header.index(f) for f in features] if missing == "drop" else []
    kept = [(line, r) for line, r in rows
            if not is_missing(r[target]) and not any(is_missing(r[i]) for i in check)]
    if len(kept) < len(rows) and not quiet:
        what = "a missing cell" if missing == "drop" else "no target value"
        warn(f"{path}: {len(rows) - len(kept)} of {len(rows)} rows with {what} left out", loc)
    if not kept:
        raise DataError(f"{path}: no row is left after leaving out rows with missing cells", loc)
    return kept


def _check_stray_target(header: list, target: str, rows: list, raw: list, path: str, loc: Loc) -> None:
    """A target of numbers but for a stray text cell is a mistyped number, not a column of class names
    (which would make every value a class)."""
    present = [(line, v) for (line, _), v in zip(rows, raw) if not is_missing(v)]
    stray_text_error(header, target, present, [(line, v) for line, v in present if not is_number(v)], path, loc,
                     "fix the cell or remove the row; if the target's values are class names, not numbers, "
                     "say so: csv(..., task=classification)")


def decide_task(raw: list, given: str, loss_task: Optional[str]) -> str:
    """classification or regression for a target column.

    `task=` decides outright; text values are classes; numbers follow the loss
    (cross_entropy/nll/bce: classes, mse/l1/huber: numbers). With no loss to go
    by (the data alone, a plugin loss, the default loss), whole numbers written
    as integers with few levels are classes and anything else is numbers: `151.0`
    is a quantity, not a label.
    """
    if given != "auto":
        return given
    return task_of_values(set(raw), len(raw), loss_task)


def task_of_values(distinct, rows: int, loss_task: Optional[str]) -> str:
    """decide_task with task=auto from the target's distinct (stripped) values and its number of rows."""
    try:
        [float(v) for v in distinct if v]
    except ValueError:
        return "classification"
    if loss_task is not None:
        return loss_task
    integers = all(_INTEGER.fullmatch(v) for v in distinct if v)
    return "classification" if integers and len(distinct) <= max(2, rows // 5) else "regression"


def _check_label(value: str, path: str, line: int, column: str, loc: Loc) -> None:
    """An empty, NaN or infinite class label is a missing value, not a class."""
    try:
        missing = not value or not math.isfinite(float(value))
    except ValueError:
        missing = False
    if missing:
        raise DataError(f"{path}, line {line}, column {column}: the target is "
                        f"{repr(value) if value else 'empty'}, a missing value, not a class", loc,
                        hint="fill in or remove the row")


def _check_classes(classes: list, n: int, path: str, a: dict, loc: Loc) -> None:
    """A target holding one class: a classifier has nothing to tell apart (and would train to loss 0)."""
    if len(classes) > 1:
        return
    raise DataError(f"{path}: target column '{a['target']}' holds one class ('{classes[0]}') in all {n} rows; a "
                    "classifier needs two or more", written_at(a, "target", loc),
                    hint="check that target= names the label column, or add rows of the other classes")


def _warn_many_classes(classes: list, n: int, path: str, column: str, loc: Loc) -> None:
    if len(classes) > max(2, n / 5):
        warn(f"{path}: target column '{column}' has {len(classes)} different values in {n} rows, each treated "
             "as a class", loc, hint="if these are numbers to predict, use loss mse (or csv(..., "
                                     "task=regression))")


def _col(header: list, index: int) -> str:
    return f"'{header[index]}' (column {index + 1})"


def read_table(path: str, encoding: str, loc: Loc):
    """(header, [(line number, cells)]) of a CSV file; empty, header-only and ragged files are errors.
    Blank lines are skipped; a row of empty cells (`,,,`) is a row of missing cells, kept."""
    if os.path.isdir(path):
        raise DataError(f"{path} is a folder, not a csv file", loc, hint=_folder_hint(path))
    try:
        text = read_text(path, encoding, loc)
    except OSError as exc:  # no permission, a device, ...: what the system says, at the source
        raise DataError(f"{path} cannot be read ({exc.strerror or exc})", loc) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        rows = []
        for r in reader:
            if not is_blank_line(r):
                rows.append((reader.line_num, r))
    except csv.Error as exc:
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV ({exc})", loc) from None
    if not header or not any(h.strip() for h in header):
        raise DataError(f"{path} is empty; expected a header row and data rows", loc)
    header = [h.strip() for h in header]
    if not rows:
        raise DataError(f"{path} has a header ({', '.join(header)}) but no data rows", loc)
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise DataError(f"{path}: the header names {', '.join(repr(h) for h in twice)} more than once", loc,
                        hint="give each column its own name: which one holds the values is otherwise a guess")
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(f"{path}, line {line}: {len(row)} values where the header has {len(header)}", loc)
    return header, rows


def _folder_hint(path: str) -> str:
    """Name the folder's csv files, so the fix can be copied."""
    try:
        found = sorted(f for f in os.listdir(path) if f.lower().endswith(".csv"))
    except OSError:
        found = []
    example = os.path.join(path, found[0] if found else "data.csv")
    listed = f" (it holds {', '.join(found[:5])}{', ...' if len(found) > 5 else ''})" if found else ""
    return f'give the path of the csv file itself{listed}, e.g. csv("{example}", ...)'
