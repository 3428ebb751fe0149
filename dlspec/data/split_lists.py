"""Splits the data gives: `split files(train="train.txt", val="val.txt")` (a data block's list files and its
loaded samples in, {split: sample indices} out, kept as given), and a split column's cells read as split names.

Each non-blank line of a list file names one sample: for a source of files (image_folder) its path
relative to the folder (`ants/0013035.jpg`), or absolute; for any other source its 0-based index (a csv's
first data row is 0, counted in the file: rows a table leaves out, as `missing=drop` does, keep their
numbers, and listing one puts it in no split). A line naming no sample is an error at that line with the
nearest names; a sample listed twice (in one file or two) is an error too; samples no file lists are left
out, and a warning says how many.
"""
from __future__ import annotations

import os

from ..errors import DataError, Loc, did_you_mean, warn
from .sources.base import read_lines

SPLIT_NAMES = ("train", "val", "test")
LEFT_OUT = -1  # a listed table row the source left out (missing=drop): it was said so, and is in no split


def split_of(value: str, where: str, loc: Loc) -> str:
    """A split column's cell as a split name; anything else is an error naming the nearest."""
    name = value.strip().lower()
    if name in SPLIT_NAMES:
        return name
    raise DataError(f"{where}: '{value.strip()}' is not a split." + did_you_mean(name, SPLIT_NAMES), loc,
                    hint="a split column holds train, val or test in every row")


def listed_splits(cfg, dataset, n: int) -> dict:
    """{split: indices} of the samples each of `cfg.split_files` lists."""
    lookup, names = _sample_names(dataset, n)
    seen: dict = {}
    out: dict = {}
    for split, path in cfg.split_files.items():
        out[split] = []
        for line, text in read_lines(path, cfg.split_loc):
            entry = text.strip()
            index = lookup(entry)
            if index == LEFT_OUT:
                continue
            if index is None:
                raise DataError(f"{path}, line {line}: '{entry}' is not a sample of data {cfg.name}."
                                + did_you_mean(entry, names()), cfg.split_loc, hint=_what_lines_are(dataset, n))
            if index in seen:
                raise DataError(f"{path}, line {line}: '{entry}' is listed twice (first in {seen[index]})",
                                cfg.split_loc, hint="each sample belongs to one split")
            seen[index] = f"{os.path.basename(path)}, line {line}"
            out[split].append(index)
    if len(seen) < n:
        warn(f"data {cfg.name}: {n - len(seen)} of {n} samples are in no split list and are left out",
             cfg.split_loc)
    return out


def _sample_names(dataset, n: int) -> tuple:
    """(entry -> index or None, the valid entries for suggestions) of a source's samples."""
    files = getattr(dataset, "files", None)
    if files:
        root = getattr(dataset, "root", None)
        by_name = {}
        for i, f in enumerate(files):
            by_name[os.path.abspath(f)] = i
            if root:
                by_name[os.path.relpath(f, root).replace(os.sep, "/")] = i
        relative = [k for k in by_name if not os.path.isabs(k)] or list(by_name)

        def lookup(entry):
            key = entry.replace("\\", "/")
            return by_name.get(key, by_name.get(os.path.abspath(os.path.join(root, key)) if root else key))
        return lookup, lambda: relative

    rows = getattr(dataset, "source_rows", None)  # a table that left rows out: the file's index of each kept one
    position = {row: i for i, row in enumerate(rows)} if rows is not None else None
    total = _row_count(dataset, n)

    def by_index(entry):
        if not entry.isdigit() or int(entry) >= total:
            return None
        return int(entry) if position is None else position.get(int(entry), LEFT_OUT)
    return by_index, lambda: []


def _row_count(dataset, n: int) -> int:
    return getattr(dataset, "source_row_count", None) or n


def _what_lines_are(dataset, n: int) -> str:
    if getattr(dataset, "files", None):
        return "each line names an image by its path relative to the image folder, e.g. cats/001.jpg"
    return f"each line is a sample's index, 0 to {_row_count(dataset, n) - 1}"
