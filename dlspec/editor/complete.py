"""Completion: an analysed document and a position in, candidate names out.

Inside a call's parentheses the candidates are that call's argument names
(`kernel=`); elsewhere, the names the enclosing declaration can use: layers
and blocks in a model or block, sources, transforms and data settings in a
data block, losses, optimizers, schedules, metrics and train settings in a
train block; lets everywhere. Plugins are included: they are in the registries.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ..language.recovery import blank_comment_and_strings
from .analysis import Analysis
from .names import SINGULAR, block_signature, find_entry, registry_names

# The registries each kind of declaration draws on.
_BY_DECLARATION = {"model": ("layers",), "block": ("layers",), "data": ("sources", "transforms"),
                   "train": ("losses", "optimizers", "schedules", "metrics")}
_BODY_KEYWORDS = ("input", "output", "param", "repeat")
TOP_KEYWORDS = ("let", "use", "include", "block", "model", "data", "train")
_DECL_START = re.compile(r"^(let|use|include|block|model|data|train)\b")


@dataclass(frozen=True)
class Candidate:
    """One completion: the text, what it is (layer, argument, keyword, …) and a line of detail."""

    label: str
    kind: str
    detail: str = ""
    insert: Optional[str] = None  # text to insert when not the label (`kernel=`)


def complete(analysis: Analysis, line: int, column: int) -> list:
    """Candidates at (line, column), sorted by label."""
    before = analysis.before(line, column)
    callee = _open_call(before)
    if callee is not None:
        return _arguments(analysis, callee)
    return sorted(_names(analysis, _declaration_kind(before)), key=lambda c: c.label)


def _open_call(before: str) -> Optional[str]:
    """The callee of the innermost '(' still open before the cursor, if the cursor is at an argument name."""
    code = "\n".join(blank_comment_and_strings(line) for line in before.split("\n"))
    depth = 0
    for i in range(len(code) - 1, -1, -1):
        ch = code[i]
        if ch in ")]}":
            depth += 1
        elif ch in "[{":
            if depth == 0:
                return None
            depth -= 1
        elif ch == "(":
            if depth == 0:
                return _name_before(code[:i]) if _argument_position(code[i + 1:]) else None
            depth -= 1
    return None


def _argument_position(inside: str) -> bool:
    """Whether the text after '(' ends where an argument name may be typed (not after `=`)."""
    last = re.split(r",", inside)[-1]
    return re.fullmatch(r"\s*[A-Za-z_]?\w*", last) is not None


def _name_before(code: str) -> Optional[str]:
    match = re.search(r"([A-Za-z_][\w.]*)\s*$", code)
    return match.group(1) if match else None


def _arguments(analysis: Analysis, callee: str) -> list:
    program = analysis.program
    if program is not None and callee in program.blocks:
        decl = program.blocks[callee]
        return [Candidate(p.name, "argument", f"parameter of {block_signature(decl)}", f"{p.name}=")
                for p in decl.params]
    found = find_entry(callee)
    if found is None:
        return []
    kind, entry = found
    return [Candidate(a.name, "argument", f"{a.kind}{'' if a.required else ', optional'} · "
                      f"{SINGULAR[kind]} {entry.name}", f"{a.name}=") for a in entry.args]


def _declaration_kind(before: str) -> Optional[str]:
    """The keyword of the top-level declaration the cursor is inside, or None at the top level."""
    depth, kind = 0, None
    for line in before.split("\n"):
        code = blank_comment_and_strings(line)
        if depth == 0:
            match = _DECL_START.match(code.strip())
            kind = match.group(1) if match else None
        depth = max(depth + code.count("{") - code.count("}"), 0)
    return kind if depth > 0 else None


def _names(analysis: Analysis, declaration: Optional[str]) -> list:
    program = analysis.program
    out = []
    if declaration is None:
        return [Candidate(k, "keyword") for k in TOP_KEYWORDS]
    names = registry_names()
    for kind in _BY_DECLARATION.get(declaration, ()):
        out += [Candidate(n, SINGULAR[kind], _detail(n)) for n in names[kind]]
    if declaration in ("model", "block"):
        out += [Candidate(k, "keyword") for k in _BODY_KEYWORDS]
        if program is not None:
            out += [Candidate(n, "block", block_signature(d)) for n, d in program.blocks.items()]
    if declaration in ("data", "train"):
        out += _setting_keys(declaration)
    if declaration == "train" and program is not None:
        out += [Candidate(n, "model") for n in program.models] + [Candidate(n, "data") for n in program.data]
    if program is not None:
        out += [Candidate(n, "let") for n in program.lets]
    return out


def _detail(name: str) -> str:
    from ..schema.args import signature
    found = find_entry(name)
    return signature(found[1].name, found[1].args) if found else ""


def _setting_keys(declaration: str) -> list:
    if declaration == "data":
        from ..data.config import DATA_SETTINGS as table
    else:
        from ..train.config import TRAIN_SETTINGS as table
    return [Candidate(key, "setting", d.doc) for key, d in table.items()]
