"""One document as an editor sees it: unsaved text and a path in, its diagnosis and words out.

Positions here are 1-based lines and columns counted in characters, as in
`Loc`; the language server converts them from and to the protocol's UTF-16 ones.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..diagnostics import Diagnosis, diagnose
from ..language.recovery import blank_comment_and_strings
from ..planning.nodes import LayerNode

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class Word:
    """A (possibly dotted) name in the text: its characters and where it starts and ends."""

    text: str
    line: int
    column: int  # 1-based, first character
    end: int  # 1-based column just after the last character


class Analysis:
    """The diagnosis of one document's text, with the lookups editor requests need."""

    def __init__(self, path: str, text: str, run_plugins: bool = True, diagnosis: Optional[Diagnosis] = None):
        """Diagnose `text`, or take the `diagnosis` given (a provisional one, while the real one is made)."""
        self.path, self.text = path, text
        self.lines = text.split("\n")
        self.diagnosis: Diagnosis = diagnosis if diagnosis is not None else \
            diagnose(path, text=text, run_plugins=run_plugins)

    @property
    def program(self):
        spec = self.diagnosis.spec
        return spec.program if spec is not None else None

    def word_at(self, line: int, column: int) -> Optional[Word]:
        """The name under (or just before) a position; None outside names, comments and strings included."""
        if not 1 <= line <= len(self.lines):
            return None
        text = self.lines[line - 1]
        code = blank_comment_and_strings(text)
        for match in _WORD.finditer(code):
            if match.start() + 1 <= column <= match.end() + 1:
                return Word(match.group(), line, match.start() + 1, match.end() + 1)
        return None

    def nodes_at(self, line: int, column: int) -> list:
        """Plan nodes (layers, blocks) of the call starting at a position: one per use of that line."""
        found = []
        for plan in self.diagnosis.plans.values():
            for node in _walk(plan):
                loc = node.loc
                if loc.file == self.path and (loc.line, loc.column) == (line, column) and \
                        (isinstance(node, LayerNode) or node.block is not None):
                    found.append(node)
        return found

    def stand_ins_before(self, line: int, column: int) -> list:
        """Lines of the calls with an error (planned as `identity`) that come before the call at a position
        in the models using it: the shapes shown there assume those pass their input on unchanged."""
        stand_ins = self.diagnosis.stand_ins
        lines = set()
        for plan in self.diagnosis.plans.values():
            before = []
            for node in _walk(plan):
                loc = node.loc
                if loc.file == self.path and (loc.line, loc.column) == (line, column):
                    lines.update(before)
                    break
                if (loc.file, loc.line, loc.column) in stand_ins:
                    before.append(loc.line)
        return sorted(lines)

    def stand_in_at(self, line: int, column: int):
        """The error of the call at a position when the checks replaced it by `identity` to go on; else None."""
        return self.diagnosis.stand_ins.get((self.path, line, column))

    def before(self, line: int, column: int) -> str:
        """The document's text up to a position."""
        head = self.lines[: line - 1] + [self.lines[line - 1][: column - 1] if line <= len(self.lines) else ""]
        return "\n".join(head)


def _walk(node):
    yield node
    for child in getattr(node, "children", ()):
        yield from _walk(child)
