"""Syntax errors past the first: spec text in, the IR of what parses and every syntax error out.

lark's LALR parser stops at the first mistake. To find the next one, the
broken statement is blanked out (its characters replaced by spaces, so every
other line and column keeps its place) and the text is parsed again, up to
MAX_REPORTED_ERRORS times. A statement whose lines open or close a `{ }` body
cannot be cut alone without misplacing everything after it, so then the whole
top-level declaration around it is blanked. An error that turns up in a
declaration before the place already cut there is a consequence of the cut,
not a mistake of its own: it is not reported, and the declaration is blanked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional

from . import ir
from ..errors import MAX_REPORTED_ERRORS, DlspecError, SpecSyntaxError
from .parser import BOM, parse_text

_CONTINUES = ("->", ",", "(", "[")  # a line ending so continues on the next (docs/language.md, line continuation)
_DECL = re.compile(r"(let|use|include|block|model|data|train)\b")
_DECLARES = re.compile(r"\s*(?:(?:let|block|model|data|train|param)\s+(\w+)|(\w+)\s*[=:])")


@dataclass
class Recovered:
    """What `parse_recovering` found.

    `spec` is the IR of `text`, the original with the broken parts blanked
    (None when not even that parses); `errors` the syntax errors, in the order
    found; `broken` the (first, last) line ranges of the declarations that held
    an error; `lost_names` the names declared by blanked lines (an error naming
    one is a consequence of the cut); `more` whether errors were left out after
    the cap.
    """

    spec: Optional[ir.SpecFile]
    errors: list
    text: str
    broken: list = field(default_factory=list)
    lost_names: set = field(default_factory=set)
    more: bool = False

    def in_broken(self, line: int) -> bool:
        """Whether a line lies in a declaration that had a syntax error."""
        return any(first <= line <= last for first, last in self.broken)


@dataclass(frozen=True)
class _Line:
    depth: int  # ( and [ still open where the line starts
    braces: int  # { still open where the line starts
    has_brace: bool
    continues: bool  # ends with ->, ',', ( or [
    arrow_first: bool  # starts with ->


def parse_recovering(text: str, filename: str = "<string>", limit: int = MAX_REPORTED_ERRORS) -> Recovered:
    """Parse `text`, collecting every syntax error the parser can get past (at most `limit`)."""
    original = text[1:] if text.startswith(BOM) else text
    found = Recovered(None, [], original)
    cut_at: dict = {}  # first line of a declaration -> (line, column) of the error whose statement was cut there
    while True:
        try:
            found.spec = parse_text(found.text, filename)
            return found
        except DlspecError as exc:
            error = exc
        if error.loc is None or error.loc.file != filename or len(found.errors) >= limit:
            found.more = error.loc is not None and len(found.errors) >= limit
            if not found.more:
                found.errors.append(_quoting(error, original))
            return found
        if not _cut(found, error, original, cut_at):
            return found


def _cut(found: Recovered, error: DlspecError, original: str, cut_at: dict) -> bool:
    """Record `error` (unless it is a consequence of an earlier cut) and blank what it is in.

    False when nothing was left to blank (the text would parse the same again)."""
    lines = found.text.split("\n")  # lark counts lines by "\n" alone
    infos = _scan(lines)
    index = min(max(error.loc.line - 1, 0), len(lines) - 1)
    if _starts_declaration(lines[index], infos[index]) and infos[index].braces > 0:
        error, index = _unclosed_brace(lines, index, error.loc)
    first, last = _declaration(lines, infos, index)
    position = (error.loc.line, error.loc.column)
    consequence = first in cut_at and position <= cut_at[first]
    if not consequence:
        found.errors.append(_quoting(error, original))
    span = (first, last) if consequence else _statement(infos, index, first, last)
    if any(infos[i].has_brace for i in range(span[0], span[1] + 1)):
        span = (first, last)
    if span != (first, last):
        cut_at[first] = max(position, cut_at.get(first, position))
    found.broken.append((first + 1, last + 1))
    blanked = _blank(lines, span)
    if blanked == found.text:
        return False
    found.lost_names |= _declared_names(lines[span[0]:span[1] + 1])
    found.text = blanked
    return True


def _unclosed_brace(lines: list, index: int, loc) -> tuple:
    """A declaration that starts while a `{` is open: the error is that `{`, never closed.

    The parser notices only at the next declaration (`unexpected 'N'` in
    `model N {`); the report points at the brace, and the cut is its declaration."""
    open_braces = []
    for i, line in enumerate(lines[:index]):
        for column, ch in enumerate(blank_comment_and_strings(line), 1):
            if ch == "{":
                open_braces.append((i + 1, column))
            elif ch == "}" and open_braces:
                open_braces.pop()
    line, column = open_braces[-1] if open_braces else (index + 1, 1)
    keyword = lines[index].split()[0]
    error = SpecSyntaxError(f"'{{' is never closed; expected '}}' before the '{keyword}' at line {index + 1}",
                            replace(loc, line=line, column=column),
                            hint=f"add the missing '}}' before line {index + 1}")
    return error, line - 1


def _quoting(error: DlspecError, text: str) -> DlspecError:
    """The error with its caret line taken from the text as the user wrote it."""
    if error.loc is not None:
        error.loc = replace(error.loc, text=text)
    return error


def _scan(lines: list) -> list:
    """Bracket depths and line-continuation marks of every line (strings and comments skipped)."""
    depth = braces = 0
    infos = []
    for line in lines:
        code = blank_comment_and_strings(line).strip()
        infos.append(_Line(depth, braces, "{" in code or "}" in code, code.endswith(_CONTINUES),
                           code.startswith("->")))
        for ch in code:
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth = max(depth - 1, 0)
            elif ch == "{":
                braces += 1
            elif ch == "}":
                braces = max(braces - 1, 0)
    return infos


def blank_comment_and_strings(line: str) -> str:
    """The line with its comment and the contents of its strings (quotes included) blanked: only code is
    left, every character at its column. Used here to find braces and declarations, and by the editor."""
    out, in_string, escaped = [], False, False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            out.append(" ")
        elif ch == "#":
            out.append(" " * (len(line) - len(out)))
            break
        else:
            in_string = ch == '"'
            out.append(" " if in_string else ch)
    return "".join(out)


def _declaration(lines: list, infos: list, index: int) -> tuple:
    """(first, last) 0-based lines of the top-level declaration around line `index`.

    A declaration starts at a line that begins, in column 1, with a top-level
    keyword; `model`, `data` and `train` (also setting names) count only where
    no `{` is open, or when the line opens one itself.
    """
    starts = [i for i, line in enumerate(lines) if _starts_declaration(line, infos[i])]
    first = max((i for i in starts if i <= index), default=0)
    last = min((i - 1 for i in starts if i > index), default=len(lines) - 1)
    return first, last


def _starts_declaration(line: str, info: _Line) -> bool:
    match = _DECL.match(line)
    if match is None:
        return False
    return match.group(1) in ("let", "use", "include", "block") or info.braces == 0 or "{" in blank_comment_and_strings(line)


def _statement(infos: list, index: int, first: int, last: int) -> tuple:
    """(first, last) lines of the statement around line `index`, within its declaration.

    A statement goes back over lines inside a call begun earlier and over
    continued lines; it goes on over continued lines, but not over the lines
    after a bracket left open (that bracket is usually the mistake)."""
    start = index
    while start > first and (infos[start].depth > 0 or infos[start].arrow_first or infos[start - 1].continues):
        start -= 1
    end = index
    while end < last and (infos[end].continues or infos[end + 1].arrow_first):
        end += 1
    return start, end


def _blank(lines: list, span: tuple) -> str:
    out = list(lines)
    for i in range(span[0], span[1] + 1):
        out[i] = " " * len(out[i])
    return "\n".join(out)


def _declared_names(lines: list) -> set:
    """Names the given lines declare: lets, blocks, models, bindings, params, labels."""
    names = set()
    for line in lines:
        match = _DECLARES.match(blank_comment_and_strings(line))
        if match:
            names.add(match.group(1) or match.group(2))
    return names
