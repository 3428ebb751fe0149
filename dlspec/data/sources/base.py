"""What every data source shares: `SourceData`, the source registry, and reading files safely.

A `source` setting in, a `SourceData` (samples, labels, classes) out. Each
source is registered with typed arguments, so `dlspec compile` checks a
source without loading it; loading happens only when training starts.
Relative paths are resolved against the spec's folder by the caller.
`read_text` decodes a whole file in one declared encoding and reports the
first undecodable byte with its line and column (never replacing characters);
`number` refuses NaN and infinite cells with their line and column;
`require_path` refuses a path that is not a regular file before it is read.
This module imports no source family (the package `__init__` does).
"""
from __future__ import annotations

import codecs
import csv
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ...errors import DataError, Loc, did_you_mean
from ...language.files import not_regular, require_regular
from ...schema.args import Arg
from ...schema.registry import Registry, register_entry


@dataclass(frozen=True)
class SeriesInfo:
    """A windowed series: all its values, the window of past values fed in, the values predicted."""

    values: list
    window: int
    horizon: int


@dataclass
class SourceData:
    """What a source provides: a train part, maybe its own test part, and labels."""

    train: Any  # a Dataset of (x, y)
    test: Any = None
    targets: Optional[list] = None  # train labels, for stratified splits
    classes: Optional[list] = None
    task: str = "classification"  # or "regression"
    series: Optional[SeriesInfo] = None  # timeseries, sine: what a forecast continues from
    skipped: tuple = ()  # image files that could not be read (warned about once)
    max_len: Optional[int] = None  # text: tokens per sample
    features: Optional[list] = None  # csv: the feature columns, in order (predict checks a CSV against them)
    target_column: Optional[str] = None  # csv: named in task errors and warnings
    fit_on_train: Optional[Callable] = None  # called with the training indices (e.g. to build a vocabulary)
    chronological: bool = False  # split in time order, never shuffled across time
    shared_scale: bool = False  # inputs and targets are the same quantity (a series): scale both alike
    # several targets (or a csv with inputs=): output name -> {"column", "task", "classes"}; a model's one
    # unnamed output is keyed "output"
    targets_info: Optional[dict] = None
    given_splits: Optional[dict] = None  # {split: indices into train}: splits the data gives (folders, a column)
    dense: bool = False  # targets are [H, W] class maps (segmentation): steps move them with their image


@dataclass(frozen=True)
class SourceDef:
    name: str
    args: tuple
    load: Callable[[dict, Loc], SourceData]
    doc: str
    paths: tuple = ()  # argument names holding file paths (resolved against the spec)
    source: str = "built-in"  # where it came from: built-in, or plugin MODULE.NAME
    # what one sample is, so predict reads its inputs the same way: "image", "grayscale image",
    # "table", "text", "series", or "any" (plugins and Dataset classes)
    input_kind: str = "any"
    split_args: tuple = ()  # arguments naming a folder per split (image_folder's train=, val=, test=)
    split_column: Optional[str] = None  # the argument naming a column of split names (csv's split=)
    dense: bool = False  # its targets are per-pixel class maps (data/dense.py): known before loading


SOURCES = Registry("data source")


def register_source(source: SourceDef, override: bool = False) -> SourceDef:
    return register_entry(SOURCES, source, "data source", override)


def source(name, args=(), doc="", paths=(), input_kind="any", split_args=(), split_column=None, dense=False):
    def wrap(fn):
        register_source(SourceDef(name, tuple(args), fn, doc or (fn.__doc__ or "").strip(), tuple(paths),
                                  input_kind=input_kind, split_args=tuple(split_args), split_column=split_column,
                                  dense=dense))
        return fn
    return wrap


# ---- in-memory tensors --------------------------------------------------


class TensorData:
    """A dataset of pre-made tensors; `x[i], y[i]` per sample."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def require_path(path: str, loc: Loc, what: str = "file") -> str:
    """`path` if it exists (a folder when what ends in 'folder', else a regular file); else a DataError
    that says where it was looked for, or what it is instead: a device or a pipe is never read (/dev/zero
    never ends)."""
    folder = what.endswith("folder")
    if folder and os.path.exists(path) and not os.path.isdir(path):
        raise DataError(f"{what} {path} is not a folder ({not_regular(path) or 'a file'})", loc,
                        hint="give the folder holding one subfolder per class")
    exists = os.path.isdir(path) if folder else os.path.exists(path)
    if not exists:
        raise DataError(f"{what} not found: {path}", loc,
                        hint="relative paths in a spec are resolved against the spec's own folder; "
                             "fix the path, or override a `let` holding it with --set NAME=\"path\"")
    if not folder:
        require_regular(path, DataError, what, loc,
                        hint="give the path of a file holding the data; devices, pipes and sockets are never read")
    return path


def known_encoding(name) -> Optional[str]:
    """An Arg check: None when Python knows the encoding, else the message."""
    try:
        codecs.lookup(str(name))
        return None
    except LookupError:
        return "is not an encoding Python knows (e.g. utf-8, utf-8-sig, latin-1, cp1252, utf-16)"


ENCODING = Arg("encoding", "str", "utf-8", known_encoding)


def read_text(path: str, encoding: str, loc: Loc) -> str:
    """The file's text; bytes that are not `encoding` are a DataError naming the line and column."""
    require_path(path, loc)
    with open(path, "rb") as f:
        raw = f.read()
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding  # a BOM is not data
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(f"{path}, line {line}, column {column}: byte(s) {raw[exc.start:exc.end]!r} are not valid "
                        f"{encoding}", loc, hint="give the file's encoding, e.g. encoding=\"latin-1\" or "
                                                 "encoding=\"cp1252\", or save it as UTF-8") from None


def number(text: str, path: str, line: int, column: str, loc: Loc) -> float:
    """A finite number from a cell; empty, non-numeric, NaN and infinite cells name their place."""
    cell = text.strip()
    if not cell:
        raise DataError(f"{path}, line {line}, column {column}: the cell is empty", loc,
                        hint="fill in or remove the row: missing values are not guessed")
    try:
        value = float(cell)
    except ValueError:
        raise DataError(f"{path}, line {line}, column {column}: '{cell}' is not a number", loc) from None
    if not math.isfinite(value):
        raise DataError(f"{path}, line {line}, column {column}: '{cell}' is not a finite number", loc,
                        hint="NaN and infinite values would make the loss NaN; fix or remove the row")
    return value


def natural(value: str):
    """Sort key: numbers by value first, then text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def read_lines(path: str, loc: Loc, encoding: str = "utf-8") -> list:
    """(line number, text) of the non-blank lines of a file, decoded strictly."""
    text = read_text(path, encoding, loc)
    # split on \n only: \u2028, \x85 and friends inside a sentence are not line ends
    return [(i + 1, line.rstrip("\r")) for i, line in enumerate(text.split("\n")) if line.strip()]


def split_fields(line: str, sep: str) -> list:
    """The fields of one line; a comma separator follows CSV quoting, one line at a time."""
    if sep == ",":
        return next(csv.reader([line], skipinitialspace=True), [])  # one line at a time: a stray quote stays local
    return line.split(sep)


def column_index(spec, header: list, what: str, path: str, loc: Loc) -> int:
    """A column given by name or 0-based index, checked against the header."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 0 or (header and spec >= len(header)):
            raise DataError(f"{path}: no column {spec} for {what}; the header has {len(header or [])} columns "
                            f"({', '.join(header or [])})", loc, hint="column indexes are 0-based")
        return spec
    if header and spec in header:
        return header.index(spec)
    raise DataError(f"{path}: no column '{spec}' for {what}." + did_you_mean(str(spec), header or []), loc,
                    hint="with header=false, give a 0-based column index")
