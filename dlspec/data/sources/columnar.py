"""Tables read column-wise: a csv or Parquet source's arguments in, the same `SourceData` as the row-wise
path (tables.py) out, bit for bit, in a fraction of the time and memory.

Why pyarrow: its csv reader splits cells as Python's csv module does (csv_columns.py reads the file),
and the same library reads Parquet; pandas would add a second heavy import on top
of it (its fast reader is pyarrow's) for nothing we use. pyarrow is ~100 MB installed, so it is an
extra (`pip install "dlspec[tables]"`), not a core dependency: without it csv files are read row-wise
as before (only slower), and a Parquet source says which pip command installs it.

A mistake is never reported from here: vectorised checks find whether any cell would be refused or
warned about at its line (a non-number, an empty, NaN or infinite cell, a stray text cell, a ragged
row, a bad label), and only then is the table handed to the row-wise path, which says where. Messages
that name no line (no rows left, one class, a text column) are raised here by the same functions.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...errors import DataError, Loc, warn
from ..column_encoding import column_sources, encode_columns, encode_rows, fit_column_encoding
from ..columns import Column, finite_number, give_back_freed_memory
from ..encoding import STRAY_SHARE, feature_names, is_number
from .base import SourceData, TensorData, natural
from .csv_columns import read_csv_columns
from .tables import (_check_classes, _warn_many_classes, checked_features, declared_categories, load_rows,
                     task_of_values)


class _RowWise(Exception):
    """The table holds something the row-wise path must name at its line (raised only inside this module)."""


def load_columnar(a: dict, loc: Loc, read=read_csv_columns, rows_of=None) -> Optional[SourceData]:
    """A table source's data read column-wise; None when `read` cannot read the table (the caller reads
    it row-wise). A table with a mistake at a line is read row-wise here (`rows_of`: see load_rows)."""
    columns = read(a, loc)
    if columns is None:
        return None
    header, columns = columns
    warned = False
    try:
        features = checked_features(a, header, loc)
        total = len(columns[a["target"]])
        split_column = _split_column(a, header, features)
        target, table, warned, kept = _drop_missing(a, columns[a["target"]], {f: columns[f] for f in features}, loc)
        given = None if split_column is None else \
            _given_splits(columns[split_column] if kept is None else columns[split_column].take(kept))
        src = _load(a, loc, header, features, target, table, rows_of)
        src.given_splits = given
        if kept is not None:  # split files name rows by their index in the file, not among the kept rows
            src.train.source_rows, src.train.source_row_count = np.flatnonzero(kept).tolist(), total
        return src
    except _RowWise:
        return load_rows(a, loc, rows_of, quiet=warned)


def _split_column(a: dict, header: list, features: list) -> Optional[str]:
    """The split column of `split=` (None without one); one the header lacks, or that is the target or a
    feature, is named by the row-wise path."""
    column = a.get("split")
    if column is not None and (column not in header or column in features or column == a["target"]):
        raise _RowWise
    return column


def _given_splits(column: Column) -> dict:
    """tables.column_splits column-wise: {split: row indices} by the column's cells; a cell that is not a
    split name is named at its line by the row-wise path."""
    from ..split_lists import SPLIT_NAMES
    codes, values = column.cells()
    names = [v.strip().lower() for v in values]
    if any(name not in SPLIT_NAMES for name in names):
        raise _RowWise
    splits = np.array([SPLIT_NAMES.index(name) for name in names], dtype=np.int64)[codes]
    return {name: np.flatnonzero(splits == i).tolist() for i, name in enumerate(SPLIT_NAMES) if (splits == i).any()}


def _drop_missing(a: dict, target: Column, table: dict, loc: Loc) -> tuple:
    """tables._drop_missing column-wise: (target, features, whether rows were left out and said so, the mask of
    the rows kept or None when all are)."""
    missing, path = a["missing"], a["path"]
    if missing == "error":
        if any(column.missing().any() for column in table.values()):
            raise _RowWise  # refused at its line when encoded
        return target, table, False, None
    keep = ~target.missing()
    if missing == "drop":
        for column in table.values():
            keep &= ~column.missing()
    if keep.all():
        return target, table, False, None
    what = "a missing cell" if missing == "drop" else "no target value"
    warn(f"{path}: {len(keep) - int(keep.sum())} of {len(keep)} rows with {what} left out", loc)
    if not keep.any():
        raise DataError(f"{path}: no row is left after leaving out rows with missing cells", loc)
    return target.take(keep), {name: column.take(keep) for name, column in table.items()}, True, keep


def _load(a: dict, loc: Loc, header: list, features: list, target: Column, table: dict, rows_of) -> SourceData:
    import torch
    path, given = a["path"], a["task"]
    if given != "classification" and _stray_few(target):
        raise _RowWise
    if given != "auto":
        task = given
    elif target.numbers() is not None and a.get("loss_task") is not None:
        task = a["loss_task"]  # every value a number: the loss decides
    else:
        task = task_of_values(set(target.cells()[1]), len(target), a.get("loss_task"))
    classes, targets = None, None
    if task == "classification":
        codes, values = target.cells()
        if any(finite_number(v) is None and (not v or is_number(v)) for v in values):
            raise _RowWise  # an empty, NaN or infinite label
        classes = sorted(values, key=lambda v: (natural(v), v))
        _check_classes(classes, len(target), path, a, loc)
        _warn_many_classes(classes, len(target), path, a["target"], loc)
        index = {c: i for i, c in enumerate(classes)}
        y = torch.from_numpy(np.array([index[v] for v in values], dtype=np.int64)[codes])
        targets = y.tolist()
    else:
        y = torch.tensor(_target_numbers(target).reshape(-1, 1), dtype=torch.get_default_dtype())
    kinds = _kinds(features, table, declared_categories(a, features, loc))
    for name, column in table.items():
        column.settle(kinds[name])
    give_back_freed_memory()
    data = ColumnTable(features, table, kinds, y, a, loc, rows_of)
    return SourceData(data, targets=targets, classes=classes, task=task, features=features,
                      target_column=a["target"], fit_on_train=data.fit)


def _stray_few(column: Column) -> bool:
    """Whether encoding.stray_text_error would refuse the column: a few text cells among numbers."""
    present, text = column.text_counts()
    return bool(text) and text <= max(1, int(STRAY_SHARE * present)) and present - text >= 3


def _target_numbers(target: Column) -> np.ndarray:
    numbers = target.numbers()
    if numbers is not None:
        return numbers
    codes, values = target.cells()
    per_value = [finite_number(v) for v in values]
    if any(v is None for v in per_value):
        raise _RowWise  # an empty, non-numeric or infinite target cell
    return np.array(per_value, dtype=np.float64)[codes]


def _kinds(features: list, table: dict, declared: tuple) -> dict:
    """encoding.column_kinds column-wise; a column it would refuse, or a number column holding a cell the
    encoder refuses (inf), goes to the row-wise path."""
    kinds = {}
    for name in features:
        column = table[name]
        _, text = column.text_counts()
        if name in declared:
            kinds[name] = "declared" if text else "codes"
        elif not text:
            kinds[name] = "number"
            if column.numbers() is None and _holds_infinite(column):
                raise _RowWise
        elif _stray_few(column):
            raise _RowWise
        else:
            kinds[name] = "category"
    return kinds


def _holds_infinite(column: Column) -> bool:
    _, missing, _ = column.value_flags()
    return any(finite_number(v) is None for v, m in zip(column.cells()[1], missing) if not m)


class ColumnTable:
    """tables.TableData column-wise: the features are encoded once the training split is known."""

    def __init__(self, features: list, table: dict, kinds: dict, y, args: dict, loc: Loc, rows_of):
        self.features, self.table, self.kinds, self.y, self.args, self.loc = features, table, kinds, y, args, loc
        self.rows_of = rows_of
        self.encoding = None
        self.data = None

    def fit(self, train_indices: list, saved=None) -> None:
        """TableData.fit; a cell the encoder refuses is named at its line by the row-wise path."""
        import torch
        columns = self._fitted_columns(train_indices, saved)
        x = encode_columns(columns, self.table, len(self))
        if x is None:
            self._fit_rows(train_indices, saved)
            return
        self._keep(columns, TensorData(torch.from_numpy(x), self.y))
        self.table = None  # the cells are encoded: their memory goes before the splits are sliced
        give_back_freed_memory()

    def fit_encoding_only(self, train_indices: list) -> None:
        """fit for `dlspec compile`, which looks at one sample: the encoding is fitted and every distinct cell
        checked as fit checks it, but a row is encoded only when it is asked for (no feature matrix)."""
        columns = self._fitted_columns(train_indices, None)
        sources = column_sources(columns, self.table)
        if sources is None:
            self._fit_rows(train_indices, None)
            return
        self._keep(columns, TensorData(_RowsOnDemand(sources, len(self)), self.y))

    def _fitted_columns(self, train_indices: list, saved) -> list:
        if saved is not None and saved.table:
            return saved.table["columns"]
        a = self.args
        return fit_column_encoding(self.features, self.kinds, self.table, np.asarray(train_indices, dtype=np.int64),
                                   a["missing"], a["path"], self.loc, a["onehot_max"], a["embedding_dim"])

    def _fit_rows(self, train_indices: list, saved) -> None:
        rows = load_rows(self.args, self.loc, self.rows_of, quiet=True).train
        rows.fit(train_indices, saved)  # raises at the cell's line
        self.encoding, self.data = rows.encoding, rows.data

    def _keep(self, columns: list, data: TensorData) -> None:
        a = self.args
        self.encoding = {"columns": columns, "encoding": a["encoding"], "missing": a["missing"],
                         "feature_names": feature_names(columns)}
        self.data = data

    @property
    def x(self):
        """The encoded features once fitted: the cached path slices them instead of reading sample by sample."""
        if self.data is None:
            raise AttributeError("x")  # not fitted yet
        return self.data.x

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.data[i]


class _RowsOnDemand:
    """The feature matrix's rows, each encoded when indexed (`dlspec compile` reads one); `sources`:
    column_encoding.column_sources, each distinct value already encoded."""

    def __init__(self, sources: list, rows: int):
        self.sources, self.rows = sources, rows

    def __len__(self):
        return self.rows

    def __getitem__(self, i):
        import torch
        return torch.from_numpy(encode_rows(self.sources, self.rows, np.array([int(i)]))[0])
