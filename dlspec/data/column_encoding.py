"""Table features encoded column-wise: columns (data/columns.py), their kinds and the training rows in;
the column encoding (the same dicts as encoding.fit_columns) and the feature matrix out.

The same results as fit_columns and runtime/tables.TableEncoder, bit for bit: the fill values are
computed as `statistics` computes them (fmean is fsum / n; the median of an even count the mean of the
two middle values), the most frequent value is the first met among ties (as Counter gives it), and
each distinct cell is encoded by TableEncoder itself, then spread to its rows.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ..errors import Loc
from ..runtime.inputs import InputError
from ..runtime.tables import TableEncoder, level_key
from .encoding import (category_encoding, is_text_column, no_values_error, text_column_error)


def fit_column_encoding(features: list, kinds: dict, columns: dict, train: np.ndarray, missing: str, path: str,
                        loc: Loc, onehot_max: int, embedding_dim) -> list:
    """encoding.fit_columns over columns: the encoding of each feature, from the rows `train` only."""
    from .sources.base import natural  # inside: the sources import this module
    encoded = []
    for name in features:
        column, kind = columns[name], kinds[name]
        filled = missing not in ("error", "drop")  # else nothing is filled: the training rows are only counted
        if kind == "number" and column.numbers() is not None:
            encoded.append({"name": name, "kind": "number",
                            "fill": _fill_number(column.numbers()[train], missing) if filled else None})
            continue
        codes, values = column.cells()
        _, is_missing, _ = column.value_flags()
        picked = codes[train]
        held = (np.bincount(picked, minlength=len(values)) > 0) & ~is_missing  # values training rows hold
        if len(train) and not held.any():
            raise no_values_error(name, len(train), features, path, loc)
        present = picked[~is_missing[picked]] if filled else None  # each training row's value
        del picked  # a copy the size of the training split: gone before the next column's
        if kind == "number":
            numbers = np.array([math.nan if m else float(v) for v, m in zip(values, is_missing)])
            encoded.append({"name": name, "kind": "number", "fill": _fill_number(numbers[present], missing)
                            if filled else None})
            continue
        keys, key_of = _keys(values, kind == "codes")
        levels = sorted({keys[k] for k in key_of[held]}, key=lambda v: (natural(v), v))
        if is_text_column(kind, len(levels), len(train)):
            raise text_column_error(name, len(levels), len(train), features, path, loc)
        fill = keys[_most_frequent(key_of[present])] if filled and len(present) else None
        encoded.append(category_encoding(name, kind, levels, fill, onehot_max, embedding_dim))
    return encoded


def _keys(values: list, codes: bool) -> tuple:
    """(distinct keys, key index of each value): a column of codes compares by level_key (`101.0` is `101`)."""
    if not codes:
        return values, np.arange(len(values))
    position, keys = {}, []
    key_of = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        key = level_key(value)
        if key not in position:
            position[key] = len(keys)
            keys.append(key)
        key_of[i] = position[key]
    return keys, key_of


def _most_frequent(codes: np.ndarray) -> int:
    """The code met most often, the first met among ties (Counter.most_common's choice)."""
    distinct, first, counts = np.unique(codes, return_index=True, return_counts=True)
    tied = counts == counts.max()
    return int(distinct[tied][np.argmin(first[tied])])


def _fill_number(numbers: np.ndarray, missing: str):
    """encoding.fill_number over an array."""
    if not len(numbers) or missing in ("error", "drop"):
        return None
    if missing == "mean":
        return math.fsum(numbers.tolist()) / len(numbers)  # statistics.fmean
    if missing == "median":
        ordered = np.sort(numbers)
        middle = len(ordered) // 2
        if len(ordered) % 2:
            return float(ordered[middle])
        return (float(ordered[middle - 1]) + float(ordered[middle])) / 2
    distinct, first, counts = np.unique(numbers, return_index=True, return_counts=True)
    tied = counts == counts.max()
    return float(numbers[first[tied].min()])


_CHUNK = 1 << 14  # rows written at a time, every column of them: the block stays in the CPU's cache


def encode_columns(encoding: list, columns: dict, rows: int) -> Optional[np.ndarray]:
    """The float32 feature matrix of every row, or None when a cell cannot be encoded (a missing cell with
    nothing to fill it, a number that is not finite): the row-wise encoder then names its line."""
    sources = column_sources(encoding, columns)
    return None if sources is None else encode_rows(sources, rows)


def column_sources(encoding: list, columns: dict) -> Optional[list]:
    """What each feature's columns of the matrix are made from: (first column, its numbers, None) or (first
    column, each row's code, each distinct value's features, encoded once); None when a value cannot be
    encoded (encode_columns says what then)."""
    sources, at = [], 0
    for spec in encoding:
        column = columns[spec["name"]]
        span = TableEncoder([spec]).width
        if spec["kind"] == "number" and column.numbers() is not None:
            sources.append((at, column.numbers(), None))
        else:
            codes, values = column.cells()
            per_value = _encode_values(spec, values, span)
            if per_value is None:
                return None
            sources.append((at, codes, per_value))
        at += span
    return sources


def encode_rows(sources: list, rows: int, pick: Optional[np.ndarray] = None) -> np.ndarray:
    """The float32 features (column_sources) of every row, or of the rows `pick` when given."""
    width = sum(1 if per_value is None else per_value.shape[1] for _, _, per_value in sources)
    count = rows if pick is None else len(pick)
    x = np.empty((count, width), dtype=np.float32)
    for start in range(0, count, _CHUNK):  # a block of rows at a time, all its columns: ~4x faster than a column
        rows_here = slice(start, start + _CHUNK) if pick is None else pick[start:start + _CHUNK]
        block = x[start:start + _CHUNK]
        for first, values, per_value in sources:
            if per_value is None:
                block[:, first] = values[rows_here]
            else:
                block[:, first:first + per_value.shape[1]] = per_value[values[rows_here]]
    return x


def _encode_values(spec: dict, values: list, span: int) -> Optional[np.ndarray]:
    """Each distinct cell's features, encoded by TableEncoder itself (float32, as the row-wise tensor)."""
    encoder = TableEncoder([spec])
    out = np.empty((len(values), span), dtype=np.float32)
    try:
        for i, value in enumerate(values):
            out[i] = encoder.encode([value], lambda name: name)
    except InputError:
        return None
    return out
