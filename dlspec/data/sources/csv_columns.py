"""A csv file read column-wise: a csv source's arguments in; (header, {name: Column}) out, or None when the
row-wise reader (tables.py) must read the file, so that every cell is split, typed and refused exactly as
Python's csv module and the row-wise path would (columnar.py turns the columns into a source).

Why pyarrow: its csv reader is a multi-threaded C++ parser that splits cells exactly as Python's csv
module does (quotes, doubled quotes, newlines inside quotes, \\r line ends) and refuses a ragged row
instead of guessing. Where it would read otherwise (a cell past csv's field limit, a NaN spelt `-nan`,
a blank header line), the file goes to the row-wise reader. A plain header lets the read keep only the
columns the source uses and guess their types from a sample (numbers as float64, other features as
dictionaries of texts); a wrong guess costs a second read as text, never a different result.
"""
from __future__ import annotations

import codecs
import csv
import functools
import os
from typing import Optional

from ...errors import DataError, Loc
from ...runtime.tables import is_blank_line
from ..columns import Column, finite_number, give_back_freed_memory, pyarrow_or_none
from .tables import category_names, checked_features


def read_csv_columns(a: dict, loc: Loc) -> Optional[tuple]:
    """(header, {name: Column}) of a csv file, or None when the row-wise reader must read it: no pyarrow,
    or anything pyarrow would read otherwise than Python's csv module (a ragged row, a blank header line,
    a repeated column name, a cell longer than csv's field limit, an encoding that does not write `,`
    and a line end as ASCII does) or that is an error there (a byte that is not the encoding's)."""
    pa = pyarrow_or_none()
    path, encoding = a["path"], codecs.lookup(a["encoding"]).name
    if pa is None or not os.path.isfile(path) or ",\n".encode(encoding) != b",\n":
        return None
    try:
        with open(path, "rb") as f:
            first = f.readline()
        size = os.path.getsize(path)
    except OSError:
        return None
    if not first.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf").strip():
        return None
    known = _plain_header(first, encoding)
    wanted = _wanted(a, known, loc)
    typed = _sampled_types(pa, a, path, encoding, known, wanted)
    width = first.count(b",") + 1
    table = _parse_csv(pa, path, encoding, width, wanted, typed)
    if table is not None and typed is not None and _holds_nan(pa, table):
        table = None  # pyarrow reads `-nan` and `nan(1)` as NaN too, which the row-wise path does not call missing
    if table is None and typed is not None:  # a cell past the sample is not a number: every cell as text
        typed, table = None, _parse_csv(pa, path, encoding, width, wanted)
    give_back_freed_memory()
    if table is None or table.num_rows < (1 if typed else 2):
        return None
    if typed is not None:
        header = known
        columns = {name: Column(column, numbers_only=pa.types.is_floating(column.type))
                   for name, column in zip(typed, table.columns)}
    else:
        read = [str(cell).strip() for cell in table.slice(0, 1).to_pylist()[0].values()]
        header = known if wanted is not None else read
        columns = {name: Column(column.slice(1)) for name, column in zip(read, table.columns)}
    if not any(header) or len(set(header)) < len(header):
        return None
    if size > csv.field_size_limit() and not _cells_within_field_limit(pa, path, encoding, width, wanted,
                                                                       table.columns):
        return None
    return header, columns


def _cells_within_field_limit(pa, path: str, encoding: str, width: int, wanted: Optional[list], read: list) -> bool:
    """Whether no cell of the file is longer than csv's field limit (counted in bytes, at least its
    characters); False when that is not sure, and the row-wise reader says which line. A long cell without a
    comma or a line end spans a stretch of the file without one; any other long cell is quoted, and is looked
    for in every text column, those the source leaves out too (a number's cell holds no comma)."""
    limit = csv.field_size_limit()
    half = limit // 2  # a stretch of `limit` bytes holds a whole aligned block of `half` bytes
    with open(path, "rb") as f:
        blocks = iter(lambda: f.read(half), b"")
        if any(b"," not in block and b"\n" not in block and b"\r" not in block for block in blocks):
            return False
    if not _quoted(path):
        return True
    longest = max((_longest_cell(pa, column) for column in read), default=0)  # a text read's header row too
    unused = sorted(set(range(width)) - set(wanted)) if wanted is not None else []
    return longest <= limit and (not unused or _longest_left_out_cell(pa, path, encoding, unused) <= limit)


def _longest_left_out_cell(pa, path: str, encoding: str, unused: list) -> float:
    """The longest cell, in bytes, of the columns `unused` (their indices), streamed a block at a time so
    they are never held whole; infinite when pyarrow cannot read them."""
    import pyarrow.csv as pcsv
    names = [f"f{i}" for i in unused]
    try:
        batches = pcsv.open_csv(
            path, read_options=pcsv.ReadOptions(autogenerate_column_names=True, skip_rows=1,
                                                encoding="utf8" if encoding == "utf-8" else encoding),
            parse_options=pcsv.ParseOptions(newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(include_columns=names, column_types={n: pa.binary() for n in names}))
        return max((_longest_cell(pa, column) for batch in batches for column in batch.columns), default=0)
    except (pa.ArrowException, ValueError, UnicodeError, LookupError):
        return float("inf")


def _longest_cell(pa, array) -> int:
    """The longest cell of a text, binary or dictionary-of-text column, in bytes (0 for a number column)."""
    if pa.types.is_dictionary(array.type):
        chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
        return max((_longest_cell(pa, chunk.dictionary) for chunk in chunks), default=0)
    if not (pa.types.is_string(array.type) or pa.types.is_binary(array.type) or pa.types.is_large_string(array.type)):
        return 0
    return pa.compute.max(pa.compute.binary_length(array)).as_py() or 0


def _quoted(path: str) -> bool:
    """Whether the file holds a quote (then a cell may hold commas and line ends); asked twice per read."""
    stat = os.stat(path)
    return _quoted_file(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _quoted_file(path: str, size: int, mtime_ns: int) -> bool:  # size and time: a file written since is scanned
    with open(path, "rb") as f:
        return any(b'"' in block for block in iter(lambda: f.read(1 << 24), b""))


def _holds_nan(pa, table) -> bool:
    """Whether a number column holds a NaN: its cell's spelling is lost once read (`NaN`, `-nan`, `nan(1)`)."""
    return any(pa.compute.any(pa.compute.is_nan(column)).as_py() for column in table.columns
               if pa.types.is_floating(column.type))


def _plain_header(first: bytes, encoding: str) -> Optional[list]:
    """The header's names when its line holds no quote and no carriage return inside (then the cells are
    the line split at commas, as Python's csv module splits it), else None."""
    try:
        line = first.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeError:
        return None
    line = line[:-2] if line.endswith("\r\n") else line.rstrip("\n")
    if '"' in line or "\r" in line:
        return None
    return [name.strip() for name in line.split(",")]


def _wanted(a: dict, header: Optional[list], loc: Loc) -> Optional[list]:
    """The indices of the columns the source uses (its target and features), or None to read them all: when
    the header is not plain, repeats a name, or the source names a column it lacks (that is said once the
    whole file is read, after any mistake the row-wise reader would name first)."""
    if header is None or len(set(header)) < len(header):
        return None
    try:
        used = {a["target"], *checked_features(a, header, loc), a.get("split")}
    except DataError:
        return None
    return [i for i, name in enumerate(header) if name in used]


def _sampled_types(pa, a: dict, path: str, encoding: str, header: Optional[list], wanted: Optional[list]):
    """{column: pyarrow type} for a typed read, or None to read every cell as text. A feature column whose
    cells in the file's first 64 KB are all plain numbers is read as float64 (8 bytes a row, not its text);
    another feature column as a dictionary of its texts (4 bytes a row); a regression's target as a number
    column; a class target, the split column and declared categories as text, since their cells' spellings
    are their names. A cell past the sample that is not a number fails the read, and the file is read again
    as text: the sample only guesses."""
    if header is None or wanted is None:
        return None
    try:
        with open(path, encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="") as f:
            sample = f.read(1 << 16)
    except (OSError, UnicodeError):
        return None
    lines = sample.splitlines(keepends=True)
    rows = [row for row in csv.reader(lines[1:-1] if len(lines) > 2 else lines[1:])
            if not is_blank_line(row)]  # skipped by both readers: no cell of any column
    if not rows:
        return None
    as_text = {a.get("split"), *category_names(a)}
    if a["task"] != "regression" and (a["task"] != "auto" or a.get("loss_task") != "regression"):
        as_text.add(a["target"])  # a class's spelling is its name
    dictionary = pa.dictionary(pa.int32(), pa.string())
    types = {}
    for i in wanted:
        name, cells = header[i], [row[i] if i < len(row) else "" for row in rows]
        plain = all(cell == cell.strip() and finite_number(cell) is not None for cell in cells)
        types[name] = pa.string() if name in as_text else pa.float64() if plain else dictionary
    return types


def _parse_csv(pa, path: str, encoding: str, width: int, wanted: Optional[list] = None, typed: Optional[dict] = None):
    """The table, or None when pyarrow cannot read it as asked. Without `typed`, every cell as text, the
    header as the first row (a cell is never null: an empty cell is the empty string); with it (the header's
    name of each wanted column: its type), the rows after the header, a number column's empty or
    non-number cell failing the read. The file is read by pyarrow itself (a UTF-8 byte-order mark skipped,
    as utf-8-sig does; other encodings decoded by Python's codec), with no copy of its text in Python;
    `width`: at least the number of columns; `wanted`: the indices of the columns kept (every row is still
    split and counted: a ragged row is still refused)."""
    import pyarrow.csv as pcsv
    names = [f"f{i}" for i in range(width)]
    kept = [names[i] for i in wanted] if wanted else []
    types = dict(zip(kept, typed.values())) if typed else {n: pa.string() for n in names}
    quoted = _quoted(path)
    try:
        return pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(autogenerate_column_names=True, skip_rows=1 if typed else 0,
                                          encoding="utf8" if encoding == "utf-8" else encoding),
            parse_options=pcsv.ParseOptions(newlines_in_values=quoted),
            convert_options=pcsv.ConvertOptions(column_types=types, include_columns=kept, null_values=[],
                                                strings_can_be_null=False, quoted_strings_can_be_null=False),
            memory_pool=pa.system_memory_pool())  # freed cells go back at once, not into a pool numpy cannot use
    except (pa.ArrowException, ValueError, UnicodeError, LookupError):
        return None
