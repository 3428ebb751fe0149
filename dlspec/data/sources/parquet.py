"""Parquet tables: `parquet(...)`'s arguments in, the `SourceData` csv gives for the same table out.

A Parquet file holds typed columns; each is read as the csv written from it would be: numbers as
numbers, text and booleans as categories (a whole float is written `1`, not `1.0`), a null or NaN as a
missing cell. Reading is column-wise (columnar.py) and needs pyarrow (the `dlspec[parquet]` extra);
a table with a mistake is looked at row by row, and the message names the row as its line (the first
row is line 1) and the column.
"""
from __future__ import annotations

from ...errors import DataError, Loc
from ...schema.args import Arg
from ..columns import Column, as_text, pyarrow_or_none
from ..encoding import MISSING_POLICIES, ONEHOT_LEVELS
from .base import SourceData, require_path, source
from .columnar import load_columnar
from .tables import _auto_or_positive, _column_list, _not_negative, category_names, checked_features

PIP = 'pip install "dlspec[parquet]"'


@source("parquet", (Arg("path", "str"), Arg("target", "str"),
                    Arg("features", "any", None, _column_list('features=["a", "b"]')),
                    Arg("task", "str", "auto", choices=("auto", "classification", "regression")),
                    Arg("missing", "str", "error", choices=MISSING_POLICIES),
                    Arg("categories", "any", None, _column_list('categories=["zip", "store"]', empty=True)),
                    Arg("onehot_max", "int", ONEHOT_LEVELS, _not_negative),
                    Arg("embedding_dim", "any", "auto", _auto_or_positive), Arg("split", "str", None)),
        paths=("path",), input_kind="table", split_column="split",
        doc="A Parquet file's table, read as csv reads the same table: parquet(\"file.parquet\", target=\"label\", "
            "features=[\"a\", \"b\"], task=auto, missing=error, categories=[...], onehot_max=16, embedding_dim=auto) "
            "(the csv source says what each does). Number columns are numbers, text and boolean columns "
            "categories, nulls and NaN missing cells. split=\"fold\" names a column of split names (train, val, "
            "test): the rows are split as it says. Needs pyarrow: " + PIP + ".")
def _parquet(a: dict, loc: Loc) -> SourceData:
    a = {**a, "encoding": "utf-8"}  # what predict reads new csv rows in
    return load_columnar(a, loc, read_parquet_columns, parquet_rows)


def _read(path: str, loc: Loc, wanted=None):
    """(header, pyarrow table of the columns `wanted` needs: wanted(header) names them; None: all)."""
    pa = pyarrow_or_none()
    if pa is None:
        raise DataError(f"reading {path} needs pyarrow, which is not installed", loc, hint=PIP)
    import pyarrow.parquet as pq
    require_path(path, loc)
    try:
        schema = pq.read_schema(path)
        header = [name.strip() for name in schema.names]
        _check_header(path, header, pq.read_metadata(path).num_rows, loc)
        names = wanted(header) if wanted is not None else header
        columns = [schema.names[header.index(n)] for n in names]
        text = [c for c in columns[1:] if pa.types.is_string(schema.field(c).type)] if wanted is not None else []
        table = pq.ParquetFile(path, read_dictionary=text).read(columns=columns)  # text features: 4 bytes a row
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path} cannot be read as a Parquet file ({exc})", loc) from None
    for name, column in zip(names, table.columns):
        if not _usable(pa, column.type):
            raise DataError(f"{path}: column '{name}' holds {column.type} values; a table source reads numbers, "
                            "text and booleans", loc, hint="leave it out with features=[...], or convert it")
    return names, table


def _check_header(path: str, header: list, rows: int, loc: Loc) -> None:
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise DataError(f"{path}: the header names {', '.join(repr(h) for h in twice)} more than once", loc,
                        hint="give each column its own name: which one holds the values is otherwise a guess")
    if not header:
        raise DataError(f"{path} has no columns", loc)
    if rows == 0:
        raise DataError(f"{path} has columns ({', '.join(header)}) but no rows", loc)


def _usable(pa, kind) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            or pa.types.is_string(kind) or pa.types.is_large_string(kind))


def read_parquet_columns(a: dict, loc: Loc) -> tuple:
    """(header, {name: Column}) of a Parquet file, reading only the target and feature columns; its own
    mistakes (not Parquet, no rows, a column of lists) are errors here."""
    names, table = _read(a["path"], loc, lambda header: [a["target"], *checked_features(a, header, loc)]
                         + ([a["split"]] if a.get("split") in header else []))
    numbers_only = set(names[1:]) - {*category_names(a), a.get("split")}  # never read as text
    return names, {name: Column(column, numbers_only=name in numbers_only) for name, column in zip(names, table.columns)}


def parquet_rows(a: dict, loc: Loc) -> tuple:
    """(header, [(row number, cells as text)]): the rows for the row-wise path, which names a mistake's place."""
    header, table = _read(a["path"], loc)
    columns = [as_text(column).to_pylist() for column in table.columns]
    return header, [(i + 1, list(cells)) for i, cells in enumerate(zip(*columns))]

