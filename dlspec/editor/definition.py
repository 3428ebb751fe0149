"""Go to definition: an analysed document and a position in, the `Loc` of what a name means out.

Block names, lets, models and data blocks go to their declarations (in
included files too); an `include` or `use` line goes to the file it names.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from ..errors import Loc
from ..language.resolve import resolve_path
from .analysis import Analysis

_FILE_LINE = re.compile(r'^\s*(include|use)\s+"([^"\n]*)"')


def definition(analysis: Analysis, line: int, column: int) -> Optional[Loc]:
    """Where the name at (line, column) is declared; None when it is not a declared name."""
    target = _named_file(analysis, line)
    if target is not None:
        return target
    word = analysis.word_at(line, column)
    program = analysis.program
    if word is None or program is None:
        return None
    for table in (program.blocks, program.lets, program.models, program.data):
        if word.text in table:
            return table[word.text].loc
    return None


def _named_file(analysis: Analysis, line: int) -> Optional[Loc]:
    if not 1 <= line <= len(analysis.lines):
        return None
    match = _FILE_LINE.match(analysis.lines[line - 1])
    if match is None:
        return None
    path = resolve_path(match.group(2), Loc(analysis.path, line, 1))
    return Loc(path, 1, 1) if os.path.isfile(path) else None
