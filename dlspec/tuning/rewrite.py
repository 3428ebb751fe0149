"""best.dlspec: a spec's text and values for its search spaces in, the same text out with only
those `let` values replaced (comments, layout and every other line untouched).

Each space is found where the parser says it starts (its `Loc`); its end is
the bracket that closes its call, found by scanning the text with strings
and comments skipped, so a space written over several lines or inside
parentheses is replaced whole.
"""
from __future__ import annotations

from ..errors import DlspecError
from ..language.parser import BOM


def rewrite_lets(text: str, spaces: dict, values: dict) -> str:
    """`text` with each space named in `values` replaced by that value's spec text."""
    bom = BOM if text.startswith(BOM) else ""
    body = text[len(bom):]
    starts = _line_starts(body)
    edits = []
    for name, space in spaces.items():
        if name in values:
            begin = starts[space.loc.line - 1] + space.loc.column - 1
            edits.append((begin, _call_end(body, begin, name), values[name]))
    for begin, end, new in sorted(edits, reverse=True):
        body = body[:begin] + new + body[end:]
    return bom + body


def _line_starts(text: str) -> list:
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def _call_end(text: str, begin: int, name: str) -> int:
    """The offset just past the `)` that closes the call starting at `begin`."""
    depth, i = 0, begin
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i)
            continue
        if ch == "#":
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise DlspecError(f"cannot find the end of the search space of '{name}' in the spec text")


def _string_end(text: str, i: int) -> int:
    i += 1
    while i < len(text) and text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return i + 1
