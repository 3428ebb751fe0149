"""Table columns as features: the cells of a csv table and its training rows in, a column encoding out.

The rule, fitted on the training split only:
- a column whose non-missing cells are all numbers is a number column;
- any other column is categorical: with at most `onehot_max` levels (csv argument, default
  ONEHOT_LEVELS) in the training rows it becomes one 0/1 feature per level (one-hot); with more,
  an `embed` column: one feature holding the level's position + 1 in the sorted levels (0 for a
  level the training rows never had), which the model turns into a learnt vector of `dim` numbers
  (runtime/categories.py; `embedding_dim`, by default `embedding_size(levels)`);
- a categorical column with more than ONEHOT_LEVELS levels where most training rows differ (more
  than TEXT_SHARE of them) is free text or an identifier, not a category: an error that suggests
  `features=[...]` without it.
Missing cells (empty, nan, NA, N/A, null, ?) are, by `missing`: error (naming file, line and column),
median / mean (numbers; categories take the most frequent level), most_frequent, or drop (the row
goes, before splitting). runtime/preprocess.py's TableEncoder applies the encoding, to training rows
and to the rows given to predict alike.
"""
from __future__ import annotations

import statistics
from collections import Counter

from ..errors import DataError, Loc
from ..runtime.tables import is_missing

ONEHOT_LEVELS = 16
TEXT_SHARE = 0.5
MISSING_POLICIES = ("error", "median", "mean", "most_frequent", "drop")


def column_kinds(header: list, rows: list, features: list, declared: tuple = ()) -> dict:
    """name -> number|category|declared, from every row (the kind of a column is not a statistic);
    `declared` columns (csv's categories=[...]) are categories whatever their cells hold."""
    kinds = {}
    for name in features:
        i = header.index(name)
        if name in declared:
            kinds[name] = "declared"
            continue
        kinds[name] = "number" if all(_is_number(r[i]) for _, r in rows if not is_missing(r[i])) else "category"
    return kinds


def _is_number(cell: str) -> bool:
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
        if kinds[name] == "number":
            numbers = [float(c) for c in present]
            columns.append({"name": name, "kind": "number", "fill": _fill_number(numbers, missing)})
            continue
        levels = sorted(set(present), key=natural)
        if kinds[name] == "category" and len(levels) > ONEHOT_LEVELS and len(levels) > TEXT_SHARE * len(cells):
            others = [f for f in features if f != name]
            raise DataError(f"{path}: column '{name}' holds text ({len(levels)} different values in {len(cells)} "
                            "training rows), not numbers or categories", loc,
                            hint="leave it out: csv(..., features=[" + ", ".join(f'"{f}"' for f in others) + "])")
        fill = Counter(present).most_common(1)[0][0] if present and missing not in ("error", "drop") else None
        if len(levels) <= onehot_max:
            columns.append({"name": name, "kind": "onehot", "levels": levels, "fill": fill})
            continue
        dim = embedding_size(len(levels)) if embedding_dim == "auto" else embedding_dim
        columns.append({"name": name, "kind": "embed", "levels": levels, "fill": fill, "dim": dim})
    return columns


def embedded_columns(table) -> tuple:
    """(position in the feature vector, levels, dim, column name) of each `embed` column of a fitted
    table encoding (None: no table), for the model's CategoryEmbedding."""
    out, position = [], 0
    for c in (table or {}).get("columns", ()):
        if c["kind"] == "embed":
            out.append((position, len(c["levels"]), c["dim"], c["name"]))
        position += len(c["levels"]) if c["kind"] == "onehot" else 1
    return tuple(out)


def ordinal_columns(table) -> list:
    """Names of the category columns a model takes as a plain level index (no embedding)."""
    return [c["name"] for c in (table or {}).get("columns", ()) if c["kind"] in ("embed", "index")]


def _fill_number(values: list, missing: str):
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
