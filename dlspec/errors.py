"""User-facing errors: a location in a spec file in, a `file:line:col` report out.

Every mistake a user can make raises a subclass of `DlspecError`. The report
quotes the offending source line with a caret under the column, says what was
expected and suggests the nearest valid names. Source texts are carried by
every `Loc` the parser makes, so that errors raised in later stages can
quote lines of any spec, included files too.
"""
from __future__ import annotations

import contextlib
import difflib
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Optional

def source_line(loc: "Loc") -> Optional[str]:
    """The text of the line `loc` points at: from the spec text it was parsed from, else from its file."""
    text = loc.text
    if text is None:
        try:
            with open(loc.file, encoding="utf-8", errors="replace") as f:
                text = f.read(2 ** 24)
        except (OSError, ValueError):  # ValueError: a NUL character in the name
            return None
    lines = text.splitlines()
    if 1 <= loc.line <= len(lines):
        return lines[loc.line - 1]
    return None


@dataclass(frozen=True)
class Loc:
    """A position in a spec: file name, 1-based line and column.

    `text` is the whole text the position was parsed from (shared, not copied),
    so an error raised in any later stage quotes the right line even when two
    specs share a name (`loads()` of two texts as "<string>").
    """

    file: str
    line: int
    column: int
    text: Optional[str] = field(default=None, compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The valid names closest to a misspelt one, best first."""
    pool = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[c] for c in close]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ' Did you mean ...?' sentence, or '' when nothing is close."""
    close = suggest(name, candidates)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


def format_report(kind: str, message: str, loc: Optional[Loc], hint: str = "") -> str:
    """`file:line:col: kind: message`, the source line with a caret, and the hint."""
    if loc is None:
        parts = [f"{kind}: {message}"]
    else:
        parts = [f"{loc}: {kind}: {message}"]
        text = source_line(loc)
        if text is not None:
            shown = text.expandtabs(4) if "\t" not in text[: loc.column] else text
            parts.append("    " + shown.rstrip())
            parts.append("    " + " " * max(loc.column - 1, 0) + "^")
    if hint:
        parts.append(f"hint: {hint}")
    return "\n".join(parts)


class DlspecWarning(UserWarning):
    """Something that compiles and runs but is probably not what the user meant.

    Raised through Python's `warnings` machinery (so `pytest.warns` and
    `warnings.filterwarnings` work); the CLI prints its `report()` in the same
    `file:line:col` format as errors.
    """

    def __init__(self, message: str, loc: Optional[Loc] = None, hint: str = ""):
        super().__init__(message)
        self.message, self.loc, self.hint = message, loc, hint

    def report(self) -> str:
        return format_report("warning", self.message, self.loc, self.hint)

    def __str__(self) -> str:
        return self.message if self.loc is None else f"{self.loc}: {self.message}"


def warn(message: str, loc: Optional[Loc] = None, hint: str = "") -> None:
    """Issue a located dlspec warning (shown once per message and place)."""
    warnings.warn(DlspecWarning(message, loc, hint), stacklevel=2)


@contextlib.contextmanager
def each_warning_once():
    """Inside, warnings are held back; on leaving (after an error too), each distinct one (its message and
    place) is issued once. A check that reads one data block for several models and train blocks says
    what it found about that block once, though checks inside record warnings of their own (which
    makes Python's once-per-place filter forget what it has shown)."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        seen = set()
        for record in caught:
            key = (record.category, str(getattr(record.message, "loc", None)), str(record.message))
            if key not in seen:
                seen.add(key)
                warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)


class DlspecError(Exception):
    """Base class of every error caused by what a user wrote or supplied.

    Attributes `file`, `line` and `column` locate it (any may be None when no
    spec position applies, e.g. a bad command-line option); `hint` adds advice.
    """

    kind = "error"

    def __init__(self, message: str, loc: Optional[Loc] = None, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint

    def at(self, loc: Optional[Loc]) -> "DlspecError":
        """Place an error raised without a position (e.g. by a registry entry's code) at `loc`, the spec text
        that ran it; a position it already has is kept. Returns the error, to `raise exc.at(loc)`."""
        if self.loc is None:
            self.loc = loc
        return self

    @property
    def file(self) -> Optional[str]:
        return self.loc.file if self.loc else None

    @property
    def line(self) -> Optional[int]:
        return self.loc.line if self.loc else None

    @property
    def column(self) -> Optional[int]:
        return self.loc.column if self.loc else None

    def report(self) -> str:
        """The full multi-line report shown to users."""
        return format_report(self.kind, self.message, self.loc, self.hint)

    def __str__(self) -> str:
        return self.report()


class SpecSyntaxError(DlspecError):
    """The text is not valid dlspec syntax."""

    kind = "syntax error"


class UnknownNameError(DlspecError):
    """A layer, block, setting or variable name that does not exist."""


class ArgumentError(DlspecError):
    """A missing, unknown, mistyped or out-of-range argument."""


class ShapeError(DlspecError):
    """A layer cannot take the shape of its input."""

    kind = "shape error"


class DataError(DlspecError):
    """A dataset, file or data setting cannot be used."""

    kind = "data error"


class TrainError(DlspecError):
    """A training setting cannot be used, or training cannot go on."""

    kind = "train error"


class PluginError(DlspecError):
    """A plugin failed to load or raised while it ran."""

    kind = "plugin error"


# A file with many mistakes reports this many; past the cap, the rest are most likely
# consequences of the first ones, and a screenful is all a reader takes in.
MAX_REPORTED_ERRORS = 20


class DlspecErrors(DlspecError):
    """Several independent mistakes in one spec, reported together, one after another.

    `errors` holds the individual `DlspecError`s in the order given (line
    order, from `dlspec.diagnostics`); `more` says that others were left out
    after the cap. Its message, location and kind are the first error's, so
    code that reads one error still works.
    """

    def __init__(self, errors: list, more: bool = False):
        first = errors[0]
        super().__init__(first.message, first.loc, first.hint)
        self.kind = first.kind
        self.errors = list(errors)
        self.more = more

    def report(self) -> str:
        """Every error's report, a blank line between them, then how many there were."""
        count = f"{len(self.errors)} errors"
        if self.more:
            count += f"; stopped after the first {len(self.errors)}"
        return "\n\n".join(e.report() for e in self.errors) + f"\n\n{count}"


def raise_errors(errors: list, more: bool = False) -> None:
    """Raise nothing for no error, the error itself for one, a `DlspecErrors` for several."""
    if len(errors) == 1 and not more:
        raise errors[0]
    if errors:
        raise DlspecErrors(errors, more)
