"""Table rows as feature vectors: cells (text) and a fitted column encoding in, numbers out.

Imports only the standard library (planning a spec never loads torch, and the
csv source uses this module), and `dlspec export --format python` copies it
into predict.py: training rows and rows given to predict are encoded by the
same code.
"""
import csv
import math
import re

from .inputs import InputError, not_utf8

# cells that mean "no value" (as pandas reads them), compared in lower case
MISSING_CELLS = ("", "nan", "na", "n/a", "null", "?")
MISSING_HINT = ("fill in or remove the row, or let the csv source fill missing cells: "
                "csv(..., missing=median|mean|most_frequent|drop)")


_WHOLE_NUMBER = re.compile(r"[+-]?\d+")


def is_missing(cell):
    return cell.strip().lower() in MISSING_CELLS


def is_blank_line(cells):
    """A line with nothing on it (csv.reader gives [] or one blank cell), skipped; a line of empty cells
    (`,,,`) is a row whose cells are missing, not a blank line."""
    return not cells or (len(cells) == 1 and not cells[0].strip())


def level_key(cell):
    """A category level as the key a numeric code column (zip codes, ids) compares by: the number it
    writes, so ` 101`, `101.0` and `+101` are level `101` and `101.5` stays `101.5`; any other cell as it
    is (stripped)."""
    cell = cell.strip()
    if _WHOLE_NUMBER.fullmatch(cell):
        return str(int(cell))
    try:
        value = float(cell)
    except ValueError:
        return cell
    if value.is_integer():
        return str(int(value))
    return repr(value) if math.isfinite(value) else cell


def finite(cell, where):
    """A finite number from a cell; `where` names the file, line and column in the error."""
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"{where}: '{cell}' is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: '{cell}' is not a finite number",
                         "NaN and infinite values would make the loss NaN; fix or remove the row")
    return value


class TableEncoder:
    """One table row (cells as text) -> one feature vector, by the encoding fitted on the training split.

    A column is {"name", "kind": number|onehot|embed|index, "levels": [...], "fill": value or None,
    "numeric": true for a category column of codes written as numbers (absent in older runs)}:
    numbers stay numbers, `onehot` gives one 0/1 feature per level (an unseen level: all 0),
    `embed` (and `index`, as earlier runs wrote it) one feature holding the level's
    position + 1 (0: unseen), which the model embeds; a `numeric` column's cells are
    compared by `level_key` (`101.0` is level `101`); an empty or NA cell takes
    `fill`, or is an error naming its place when there is none.
    """

    def __init__(self, columns):
        self.columns = columns
        self.lookup = [{v: i for i, v in enumerate(c.get("levels") or [])} for c in columns]
        self.unseen = {}  # column name -> levels met that the training rows never had (predict says so)

    @property
    def width(self):
        return sum(len(c["levels"]) if c["kind"] == "onehot" else 1 for c in self.columns)

    def encode(self, cells, where):
        """`cells` in column order; `where(column)` says 'file, line N, column NAME' for errors."""
        out = []
        for column, lookup, cell in zip(self.columns, self.lookup, cells):
            cell = cell.strip()
            if is_missing(cell):
                if column.get("fill") is None:
                    raise InputError(f"{where(column['name'])}: {_missing(cell)}", MISSING_HINT)
                cell = str(column["fill"])
            if column.get("numeric"):
                cell = level_key(cell)
            if column["kind"] == "number":
                out.append(finite(cell, where(column["name"])))
                continue
            if cell not in lookup:
                self.unseen.setdefault(column["name"], set()).add(cell)
            if column["kind"] == "onehot":
                hot = [0.0] * len(lookup)
                if cell in lookup:
                    hot[lookup[cell]] = 1.0
                out.extend(hot)
            else:
                out.append(float(lookup.get(cell, -1) + 1))
        return out


def _missing(cell):
    if not cell:
        return "the cell is empty"
    if cell.lower() == "nan":
        return f"'{cell}' is not a finite number"
    return f"'{cell}' marks a missing value"


def read_csv(path, encoding="utf-8"):
    """(header, [(line number, cells)]) of a CSV file; blank lines skipped, a line of empty cells kept
    (its cells are missing). An empty or header-only file and a repeated column name are errors."""
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        with open(path, encoding=codec, newline="") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows = [(reader.line_num, r) for r in reader if not is_blank_line(r)]
    except UnicodeDecodeError:
        raise _bad_text(path, codec, encoding) from None
    except csv.Error as exc:
        raise InputError(f"{path}: not valid CSV ({exc})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    _check_read(path, header, rows)
    return header, rows


def _bad_text(path, codec, encoding):
    """The InputError for a CSV that is not `encoding` text, at the line and column of its first bad
    byte (the reader's own error counts bytes from the start of a buffer, not of the file)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        data.decode(codec)
    except UnicodeDecodeError as exc:
        return not_utf8(path, exc, "UTF-8" if codec.startswith("utf-8") else encoding)
    return InputError(f"{path} is not {encoding} text")


def _check_read(path, header, rows):
    if not any(header):
        raise InputError(f"{path} is empty; expected a header row naming the columns, then rows")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise InputError(f"{path}: the header names {', '.join(repr(h) for h in twice)} more than once",
                         "give each column its own name: which one holds the values is otherwise a guess")
    if not rows:
        raise InputError(f"{path} has a header ({', '.join(header)}) but no rows",
                         "add rows of values below the header")


