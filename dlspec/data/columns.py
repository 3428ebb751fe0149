"""Table columns held column-wise: a pyarrow column (a csv file's cells as text, a Parquet file's typed
values) in; per row, as numpy arrays, what the row-wise path (sources/tables.py) asks of each cell out.

Nothing here decides anything the row-wise path does not: each distinct cell is looked at once, by the
same Python functions the row-wise path calls on every cell (str.strip, is_missing, float, level_key),
and the answers are spread to the rows with numpy. A column of plain numbers skips even that: when
pyarrow parses every cell as a finite number, those numbers are the ones Python's float() gives
(both round correctly, and pyarrow accepts fewer spellings: no spaces, no `1_000`, no NA).
"""
from __future__ import annotations

import math

import numpy as np

from ..runtime.tables import is_missing
from .encoding import is_number

_UNSET = object()


def pyarrow_or_none():
    """pyarrow, or None when it is not installed (the row-wise reader then reads csv files)."""
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401  (pyarrow.compute is a submodule: imported so pa.compute works)
    except ImportError:
        return None
    return pyarrow


def give_back_freed_memory() -> None:
    """Return the heap memory freed so far to the system (glibc's malloc_trim; elsewhere nothing). pyarrow's
    reader threads parse into per-thread heaps that glibc keeps after the buffers are freed: about half
    the file's size at every read, which would otherwise add to the peak of everything allocated next."""
    import ctypes
    import ctypes.util
    pa = pyarrow_or_none()
    if pa is not None:
        pa.default_memory_pool().release_unused()  # what pyarrow's own pool holds (a Parquet file's pages)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


# pyarrow's to_numpy, pa.array and pa.scalar ask whether pandas is installed, importing it (0.2-0.35 s and about
# 32 MB that a table read by pyarrow never uses): these go through buffers instead.


def numpy_of(array) -> np.ndarray:
    """A column of fixed-width numbers without nulls (an Array or a ChunkedArray) as a numpy array, read from
    its buffers: a view of a single chunk, a copy of several."""
    pa = pyarrow_or_none()
    kind = array.type
    dtype = np.dtype(f"{'f' if pa.types.is_floating(kind) else 'i' if pa.types.is_signed_integer(kind) else 'u'}"
                     f"{kind.bit_width // 8}")
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    parts = [np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c), offset=c.offset * dtype.itemsize)
             for c in chunks if len(c)]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def arrow_mask(keep: np.ndarray):
    """A numpy boolean mask as a pyarrow boolean array (bits packed as arrow packs them)."""
    pa = pyarrow_or_none()
    bits = np.packbits(np.asarray(keep, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(keep), [None, pa.py_buffer(bits)])


def _empty_text(pa):
    """The empty string as a pyarrow scalar (a one-cell array's cell: pa.scalar would import pandas)."""
    return pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(np.zeros(2, dtype=np.int32)),
                                                  pa.py_buffer(b"")])[0]


class Column:
    """One column of a table, the rows in file order; `take` keeps some of them."""

    def __init__(self, array, numbers_only: bool = False):
        self.array = array  # a pyarrow Array or ChunkedArray (None once settled)
        self.numbers_only = numbers_only  # read as numbers and never asked for as text: see numbers()
        self._numbers = _UNSET
        self._cells = None
        self._flags = None

    def __len__(self):
        if self.array is not None:
            return len(self.array)
        return len(self._cells[0]) if self._cells is not None else len(self._numbers)

    def numbers(self) -> "np.ndarray | None":
        """Each row's number (float64) when every cell is a plain finite number, else None."""
        if self._numbers is _UNSET:
            self._numbers = _plain_numbers(self.array)
            if self._numbers is not None and self.numbers_only:
                self.array = None  # the numbers are all a number column is read as: its arrow copy goes now
                give_back_freed_memory()
        return self._numbers

    def cells(self) -> tuple:
        """(codes, values): row i's cell, stripped, is values[codes[i]]; the values are distinct and each is used."""
        if self._cells is None:
            self._cells = _distinct_cells(self.array)
        return self._cells

    def value_flags(self) -> tuple:
        """(rows per value, value is missing, value is a number) over `cells()`'s values."""
        if self._flags is None:
            codes, values = self.cells()
            self._flags = (np.bincount(codes, minlength=len(values)),
                           np.array([is_missing(v) for v in values], dtype=bool),
                           np.array([is_number(v) for v in values], dtype=bool))
        return self._flags

    def missing(self) -> np.ndarray:
        """Whether each row's cell is missing (empty, NA, nan, ...)."""
        if self.numbers() is not None:
            return np.zeros(len(self), dtype=bool)
        codes, _ = self.cells()
        return self.value_flags()[1][codes]

    def text_counts(self) -> tuple:
        """(rows with a cell, rows whose cell is not a number): what a stray-text check counts."""
        if self.numbers() is not None:
            return len(self), 0
        counts, missing, numbers = self.value_flags()
        return int(counts[~missing].sum()), int(counts[~missing & ~numbers].sum())

    def settle(self, kind: str) -> None:
        """The column's kind is known: its cells as pyarrow text go when what encoding reads of them is
        kept (a number column's numbers, a category column's codes and values)."""
        if self._cells is not None or (kind == "number" and isinstance(self._numbers, np.ndarray)):
            self.array = None

    def take(self, keep: np.ndarray) -> "Column":
        """The column of the rows where `keep` is True."""
        pa = pyarrow_or_none()
        kept = Column(None if self.array is None else self.array.filter(arrow_mask(keep)))
        if self._numbers is not _UNSET:
            kept._numbers = None if self._numbers is None else self._numbers[keep]
        if self._cells is not None:
            kept._cells = _compact(self._cells[0][keep], self._cells[1])
        return kept


def finite_number(cell: str):
    """float(cell) when it is a finite number, else None."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _plain_numbers(array):
    pa = pyarrow_or_none()
    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        if array.null_count:
            return None
    elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    if pa.types.is_floating(kind) and kind != pa.float64():  # the number the csv written from it holds:
        array, kind = pa.compute.cast(array, pa.string()), pa.string()  # float32 0.1 is `0.1`, not 0.10000000149
    try:
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):  # text: a failing cast parses it all
            pa.compute.cast(array.slice(0, 1024), pa.float64())  # so a column of words fails on its first cells
        numbers = array if kind == pa.float64() else pa.compute.cast(array, pa.float64(), safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    values = np.ascontiguousarray(numpy_of(numbers), dtype=np.float64)
    return values if np.isfinite(values).all() else None


def as_text(array):
    """A column's cells as text: a csv's cells as they are; a Parquet value as pyarrow writes it (whole
    floats as integers: 1.0 is `1`); a null or NaN is a missing cell."""
    pa = pyarrow_or_none()
    if (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)) and not array.null_count:
        return array  # (a Parquet text column's nulls are filled below)
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return pa.compute.fill_null(pa.compute.cast(array, pa.string()), _empty_text(pa))


def _distinct_cells(array) -> tuple:
    dictionary, indices = _dictionary_encoded(array)
    position, values = {}, []
    remap = np.empty(len(dictionary), dtype=np.int64)
    for i, raw in enumerate(dictionary.to_pylist()):
        cell = raw.strip()
        if cell not in position:
            position[cell] = len(values)
            values.append(cell)
        remap[i] = position[cell]
    return _compact(remap[indices], values)


def _dictionary_encoded(array) -> tuple:
    """(distinct texts, each row's index among them): a column read as a dictionary of texts (a csv's
    category column) as it is, any other column's cells as text encoded."""
    pa = pyarrow_or_none()
    if pa.types.is_dictionary(array.type) and pa.types.is_string(array.type.value_type) and not array.null_count:
        chunks = array.unify_dictionaries().chunks if isinstance(array, pa.ChunkedArray) else [array]
        if chunks:
            return chunks[0].dictionary, np.concatenate([numpy_of(c.indices) for c in chunks])
    text = as_text(array)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    encoded = pa.compute.dictionary_encode(text)
    return encoded.dictionary, numpy_of(encoded.indices)


def _compact(codes: np.ndarray, values: list) -> tuple:
    """(codes, values) with the values no row uses left out (after rows were dropped)."""
    used = np.bincount(codes, minlength=len(values)) > 0
    if used.all():
        return codes, values
    renumber = np.cumsum(used) - 1
    return renumber[codes], [v for v, u in zip(values, used) if u]
