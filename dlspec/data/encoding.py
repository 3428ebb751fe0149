"""Table columns as features: the cells of a csv table and its training rows in, a column encoding out.

The rule, fitted on the training split only:
- a column whose non-missing cells are all numbers is a number column; one whose cells are all
  numbers but a few (at most STRAY_SHARE of them, at least one) is a number column with a mistyped
  cell: an error naming the file, line, column and cell;
- a column csv's `categories=[...]` declares whose cells are all numbers (zip codes, store ids) is a
  column of `codes`: its levels compare as the numbers they write (`101.0` and ` 101` are level `101`,
  runtime/tables.level_key), in fitting and in encoding (the column carries "numeric": true);
- any other column is categorical: with at most `onehot_max` levels (csv argument, default
  ONEHOT_LEVELS) in the training rows it becomes one 0/1 feature per level (one-hot); with more,
  an `embed` column: one feature holding the level's position + 1 in the sorted levels (0 for a
  level the training rows never had), which the model turns into a learnt vector of `dim` numbers
  (runtime/categories.py; `embedding_dim`, by default `embedding_size(levels)`);
- a categorical column with more than ONEHOT_LEVELS levels where most training rows differ (more
  than TEXT_SHARE of them) is free text or an identifier, not a category: an error that suggests
  `features=[...]` without it; so is a column with no value at all in the training rows.
Missing cells (empty, nan, NA, N/A, null, ?) are, by `missing`: error (naming file, line and column),
median / mean (numbers; categories take the most frequent level), most_frequent, or drop (the row
goes, before splitting). runtime/preprocess.py's TableEncoder applies the encoding, to training rows
and to the rows given to predict alike.
"""
from __future__ import annotations

import statistics
from collections import Counter

from ..errors import DataError, Loc
from ..runtime.tables import is_missing, level_key

ONEHOT_LEVELS = 16
TEXT_SHARE = 0.5
STRAY_SHARE = 0.01  # text cells in a column of numbers up to this share (at least one) are mistakes
MISSING_POLICIES = ("error", "median", "mean", "most_frequent", "drop")


def column_kinds(header: list, rows: list, features: list, declared: tuple = (), path: str = "",
                 loc: Loc = None) -> dict:
    """name -> number|category|declared|codes, from every row (the kind of a column is not a statistic);
    `declared` columns (csv's categories=[...]) are categories whatever their cells hold: `codes` when
    those cells are all numbers. A column of numbers with a stray text cell is an error (see
    `_stray_text`), not a category."""
    kinds = {}
    for name in features:
        i = header.index(name)
        present = [(line, r[i].strip()) for line, r in rows if not is_missing(r[i])]
        text = [(line, cell) for line, cell in present if not is_number(cell)]
        if name in declared:
            kinds[name] = "declared" if text else "codes"
        elif not text:
            kinds[name] = "number"
        else:
            _stray_text(header, name, present, text, path, loc, declared)
            kinds[name] = "category"
    return kinds


def _stray_text(header: list, name: str, present: list, text: list, path: str, loc: Loc, declared: tuple) -> None:
    """A column whose cells are numbers but for a few holds a mistyped number, not categories:
    one-hot encoding it, or refusing it as text, would hide the mistake."""
    codes = ", ".join(f'"{c}"' for c in (*declared, name))
    stray_text_error(header, name, present, text, path, loc,
                     "fix the cell, or mark it missing (leave it empty or write NA) and choose how missing cells are "
                     "handled: csv(..., missing=median|mean|most_frequent|drop); if the column holds codes, not "
                     f"quantities, declare it: csv(..., categories=[{codes}])")


def stray_text_error(header: list, name: str, present: list, text: list, path: str, loc: Loc, hint: str) -> None:
    """A DataError at the first of `text` ((line, cell) that are not numbers, among the `present` cells of
    column `name`) when they are a stray few: at most STRAY_SHARE of the cells, at least one, beside at
    least three numbers. More text than that is a column of text, and no error."""
    numbers = len(present) - len(text)
    if not text or len(text) > max(1, int(STRAY_SHARE * len(present))) or numbers < 3:
        return
    line, cell = text[0]
    more = f" (and {len(text) - 1} more such cell{'s' * (len(text) > 2)})" if len(text) > 1 else ""
    raise DataError(f"{path}, line {line}, column '{name}' (column {header.index(name) + 1}): '{cell}' is not a "
                    f"number, in a column whose other {numbers} cells are numbers{more}", loc, hint=hint)


def is_number(cell: str) -> bool:
    """A cell Python reads as a number (inf and nan too: those are refused later, at their place)."""
    try:
        float(cell)
        return True
    except ValueError:
        return False


def embedding_size(levels: int) -> int:
    """The width of a learnt vector for a category of `levels` levels: fast.ai's rule of thumb,
    1.6 * levels ** 0.56, at most 600 (17 levels: 8, 100: 21, 1000: 77)."""
    return max(1, min(600, round(1.6 * levels ** 0.56)))


def fit_columns(header: list, rows: list, features: list, kinds: dict, train: list, missing: str,
                path: str, loc: Loc, onehot_max: int = ONEHOT_LEVELS, embedding_dim="auto") -> list:
    """The encoding of each feature column (see TableEncoder), from the training rows `train` only."""
    from .sources.base import natural  # inside: sources/tables.py imports this module
    columns = []
    for name in features:
        i = header.index(name)
        cells = [rows[k][1][i].strip() for k in train]
        present = [c for c in cells if not is_missing(c)]
        if cells and not present:
            raise no_values_error(name, len(cells), features, path, loc)
        if kinds[name] == "codes":  # zip codes, ids: `101.0` and ` 101` are level `101`
            present = [level_key(c) for c in present]
        if kinds[name] == "number":
            numbers = [float(c) for c in present]
            columns.append({"name": name, "kind": "number", "fill": fill_number(numbers, missing)})
            continue
        levels = sorted(set(present), key=lambda v: (natural(v), v))  # `007` before `7`, whatever the set's order
        if is_text_column(kinds[name], len(levels), len(cells)):
            raise text_column_error(name, len(levels), len(cells), features, path, loc)
        fill = Counter(present).most_common(1)[0][0] if present and missing not in ("error", "drop") else None
        columns.append(category_encoding(name, kinds[name], levels, fill, onehot_max, embedding_dim))
    return columns


def is_text_column(kind: str, levels: int, cells: int) -> bool:
    """A category column with many levels, most training rows different: free text or an identifier."""
    return kind == "category" and levels > ONEHOT_LEVELS and levels > TEXT_SHARE * cells


def category_encoding(name: str, kind: str, levels: list, fill, onehot_max: int, embedding_dim) -> dict:
    """A category column's encoding: one-hot up to `onehot_max` levels, else embedded."""
    numeric = {"numeric": True} if kind == "codes" else {}
    if len(levels) <= onehot_max:
        return {"name": name, "kind": "onehot", "levels": levels, "fill": fill, **numeric}
    dim = embedding_size(len(levels)) if embedding_dim == "auto" else embedding_dim
    return {"name": name, "kind": "embed", "levels": levels, "fill": fill, "dim": dim, **numeric}


def _leave_out(name: str, features: list) -> str:
    others = [f for f in features if f != name]
    return "leave it out: csv(..., features=[" + ", ".join(f'"{f}"' for f in others) + "])"


def no_values_error(name: str, cells: int, features: list, path: str, loc: Loc) -> DataError:
    return DataError(f"{path}: column '{name}' has no values in the training split (its {cells} "
                     "cells there are all missing): nothing to learn from or fill with", loc,
                     hint=_leave_out(name, features))


def text_column_error(name: str, levels: int, cells: int, features: list, path: str, loc: Loc) -> DataError:
    return DataError(f"{path}: column '{name}' holds text ({levels} different values in {cells} "
                     "training rows), not numbers or categories", loc, hint=_leave_out(name, features))


def _spans(table):
    """(column, first position, width) of each column of a fitted table encoding (None: no table), in the
    order of the feature vector: a one-hot column is one feature per level, any other column one."""
    position = 0
    for c in (table or {}).get("columns", ()):
        width = len(c["levels"]) if c["kind"] == "onehot" else 1
        yield c, position, width
        position += width


def embedded_columns(table) -> tuple:
    """(position in the feature vector, levels, dim, column name) of each `embed` column of a fitted
    table encoding (None: no table), for the model's CategoryEmbedding."""
    return tuple((at, len(c["levels"]), c["dim"], c["name"]) for c, at, _ in _spans(table) if c["kind"] == "embed")


def index_features(table) -> tuple:
    """Positions of the features that hold a level index the model looks up: `normalize` leaves them as they are."""
    return tuple(at for at, *_ in embedded_columns(table))


def category_features(table) -> tuple:
    """Positions of every category feature (level indices and one-hot levels): `noise` leaves them as they are."""
    return tuple(at + i for c, at, width in _spans(table) if c["kind"] != "number" for i in range(width))


def ordinal_columns(table) -> list:
    """Names of the category columns a model takes as a plain level index (no embedding)."""
    return [c["name"] for c in (table or {}).get("columns", ()) if c["kind"] in ("embed", "index")]


def fill_number(values: list, missing: str):
    if not values or missing in ("error", "drop"):
        return None
    if missing == "mean":
        return statistics.fmean(values)
    if missing == "median":
        return float(statistics.median(values))
    return Counter(values).most_common(1)[0][0]


def feature_names(columns: list) -> list:
    """One name per feature: `city=Paris` for a one-hot level, the column's name otherwise."""
    names = []
    for c in columns:
        names.extend(f"{c['name']}={v}" for v in c["levels"]) if c["kind"] == "onehot" else names.append(c["name"])
    return names
