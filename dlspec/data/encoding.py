"""Table columns as features: the cells of a csv table and its training rows in, a column encoding out.

The rule, fitted on the training split only:
- a column whose non-missing cells are all numbers is a number column;
- any other column is categorical: with at most ONEHOT_LEVELS levels in the training rows it
  becomes one 0/1 feature per level (one-hot); with more, one feature holding the level's
  position + 1 in the sorted levels (0 for a level the training rows never had), which an
  `embedding` can take, or a tree of linear layers can use as an ordinal;
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

from ..errors import DataError, Loc, warn
from ..runtime.tables import is_missing

ONEHOT_LEVELS = 16
TEXT_SHARE = 0.5
MISSING_POLICIES = ("error", "median", "mean", "most_frequent", "drop")


def column_kinds(header: list, rows: list, features: list) -> dict:
    """name -> number|category, from every row (the kind of a column is not a statistic)."""
    kinds = {}
    for name in features:
        i = header.index(name)
        kinds[name] = "number" if all(_is_number(r[i]) for _, r in rows if not is_missing(r[i])) else "category"
    return kinds


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def fit_columns(header: list, rows: list, features: list, kinds: dict, train: list, missing: str,
                path: str, loc: Loc) -> list:
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
        if len(levels) > ONEHOT_LEVELS and len(levels) > TEXT_SHARE * len(cells):
            others = [f for f in features if f != name]
            raise DataError(f"{path}: column '{name}' holds text ({len(levels)} different values in {len(cells)} "
                            "training rows), not numbers or categories", loc,
                            hint="leave it out: csv(..., features=[" + ", ".join(f'"{f}"' for f in others) + "])")
        fill = Counter(present).most_common(1)[0][0] if present and missing not in ("error", "drop") else None
        kind = "onehot" if len(levels) <= ONEHOT_LEVELS else "index"
        if kind == "index":  # not what a reader of the spec would guess: say so
            warn(f"{path}: column '{name}' has {len(levels)} levels, more than {ONEHOT_LEVELS}: it becomes one "
                 "feature holding the level's index (an ordinal), not one-hot", loc)
        columns.append({"name": name, "kind": kind, "levels": levels, "fill": fill})
    return columns


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
