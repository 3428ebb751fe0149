"""Formatting (`dlspec fmt`): spec text in, the same spec in dlspec's one canonical layout out.

The layout follows the grammar, not a list of constructs: the text is cut
into lark's own tokens (grammar.lark's terminals, comments and line breaks
kept), and the parse tree says what each ambiguous token is (a keyword
argument's `=`, a dict's braces, a unary minus, a device's `:`). Any call,
whatever its callee, is spaced the same way, so new syntax built from calls
needs nothing here.

Rules: the author's line breaks are kept (statements stay where they are);
indentation is four spaces per open bracket, plus four for a line that
continues a statement (after `->` or `,`, or starting with `->`); one space
around `->`, binary operators and a statement's `=`, none around a keyword
argument's `=`, one after `,`, `;` and `:`; comments stay on their lines
(two spaces before a trailing one); at most one blank line, none just inside
brackets, one around every top-level block, model, data and train.

`format_text` re-parses its output and refuses to return text whose parse
tree or comments differ from the input's: formatting never changes meaning.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Optional

from lark import Token, Tree
from lark.lexer import LexerThread

from ..errors import DlspecError, Loc
from .parser import BOM, lark_parser, parse_tree

INDENT = "    "
_NEWLINE = re.compile(r"\r?\n[ \t]*(#[^\n]*)?")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_OPENERS, _CLOSERS = "([{", ")]}"
_CONTINUES = ("->", ",")
_TOP_BLOCKS = ("block", "model", "data", "train")
_BINARY_RULES = ("add", "sub", "mul", "div", "floordiv")


@dataclass
class _Roles:
    """What the parse tree says about tokens, keyed by their character offset."""

    tight_equals: set = field(default_factory=set)  # `=` of a keyword argument or a block parameter default
    dict_braces: set = field(default_factory=set)  # `{` and `}` of a dict literal
    tight_colons: set = field(default_factory=set)  # `cuda:1`
    binary_ops: set = field(default_factory=set)  # `+ - * / //` between two operands
    setting_keys: set = field(default_factory=set)  # `epochs` in `epochs (10)` is no callee


@dataclass
class _Line:
    tokens: list = field(default_factory=list)  # significant lark Tokens
    comment: Optional[str] = None
    level: int = 0  # indentation, in INDENT units
    top_start: bool = False  # first line of a top-level block/model/data/train
    top_end: bool = False  # last line of one


def format_text(text: str, filename: str = "<string>") -> str:
    """The canonical layout of a spec's text; raises the parser's error for text that does not parse."""
    text = text[1:] if text.startswith(BOM) else text
    tree = parse_tree(text, filename)  # a located, explained error for a spec that does not parse
    tokens = _lex(text)
    lines = _lines(tokens)
    roles = _roles(tree, [t for line in lines for t in line.tokens])
    _indent(lines, roles)
    out = _render(lines, roles)
    _check_same_meaning(text, tokens, out, tree, filename)
    return out


def format_file(path: str, check: bool = False) -> bool:
    """Format a spec file in place (unless `check`); True when its text changes (or would)."""
    from .resolve import read_spec_text
    text = read_spec_text(path, None)
    formatted = format_text(text, path)
    if formatted == text:
        return False
    if not check:
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(formatted)
    return True


# ---- the parse tree's view of the tokens ----------------------------------


def _roles(tree: Tree, tokens: list) -> _Roles:
    starts = [t.start_pos for t in tokens]

    def token_after(pos: int, skip: str = ""):
        i = bisect.bisect_left(starts, pos)
        while i < len(tokens) and tokens[i].value in skip:
            i += 1
        return tokens[i] if i < len(tokens) else None

    roles = _Roles()
    for node in tree.iter_subtrees():
        if not node.children or getattr(node.meta, "empty", True):
            continue
        first = node.children[0]
        first_end = first.end_pos if isinstance(first, Token) else \
            getattr(getattr(first, "meta", None), "end_pos", None)
        if node.data in ("kwarg", "block_param") and first_end is not None:
            _add(roles.tight_equals, token_after(first_end), "=")
        elif node.data == "dict":
            roles.dict_braces.update({node.meta.start_pos, node.meta.end_pos - 1})
        elif node.data == "labelled" and _is_device(node) and first_end is not None:
            _add(roles.tight_colons, token_after(first_end), ":")
        elif node.data in _BINARY_RULES and first_end is not None:
            _add(roles.binary_ops, token_after(first_end, skip=")"), "+-*///")
        elif node.data == "setting" and isinstance(first, Tree):
            roles.setting_keys.add(first.meta.start_pos)
    return roles


def _is_device(node: Tree) -> bool:
    """`cuda:1` is written tight; a per-output `price: mse` keeps its space, like a step's label."""
    value = node.children[1]
    return isinstance(value, Tree) and value.data == "number"


def _add(positions: set, token, allowed: str) -> None:
    if token is not None and token.value in allowed:
        positions.add(token.start_pos)


# ---- lines --------------------------------------------------------------


def _lines(tokens: list) -> list:
    """Physical lines of significant tokens and comments, as the author broke them."""
    lines = [_Line()]
    for tok in tokens:
        if tok.type == "WS":
            continue
        if tok.type == "COMMENT":
            lines[-1].comment = tok.value.rstrip()
        elif tok.type in ("_SEP", "ARROW_CONTINUATION") and tok.value != ";":
            for match in _NEWLINE.finditer(tok.value):
                lines.append(_Line(comment=match.group(1).rstrip() if match.group(1) else None))
        else:
            lines[-1].tokens.append(tok)
    return lines


def _indent(lines: list, roles: _Roles) -> None:
    """Set each line's level: the open brackets' and a continued statement's."""
    stack: list = []  # (bracket, level of the line that opened it)
    previous = None  # the previous line with tokens
    in_top_block = False
    for line in lines:
        if not line.tokens:
            continue
        leading = 0
        while leading < len(line.tokens) and line.tokens[leading].value in _CLOSERS:
            leading += 1
        outer = stack[:len(stack) - leading] if leading else stack
        line.level = _level(outer, None if leading else previous, line, roles)
        if not stack and line.tokens[0].value in _TOP_BLOCKS and not _continues(previous, line, stack):
            line.top_start, in_top_block = True, True
        for tok in line.tokens:
            if tok.value in _OPENERS:
                stack.append((tok, line.level))
            elif tok.value in _CLOSERS and stack:
                stack.pop()
        if in_top_block and not stack and not line.tokens[-1].value in _CONTINUES:
            line.top_end, in_top_block = True, False
        previous = line
    _indent_comments(lines)


def _level(stack: list, previous, line: _Line, roles: _Roles) -> int:
    base = stack[-1][1] + 1 if stack else 0
    if stack and _paren_like(stack[-1][0], roles):
        return base  # inside ( ) [ ] or a dict the bracket alone indents
    return base + (1 if _continues(previous, line, stack) else 0)


def _continues(previous, line: _Line, stack: list) -> bool:
    """Whether `line` goes on with the statement of the line before it."""
    if line.tokens[0].value == "->":
        return True
    if line.tokens[0].value in _CLOSERS:
        return False
    if previous is None or previous.tokens[-1].value not in _CONTINUES:
        return False
    return not stack or previous.tokens[-1].value == "->" or stack[-1][0].value == "{"


def _paren_like(tok, roles: _Roles) -> bool:
    return tok.value in "([" or tok.start_pos in roles.dict_braces


def _indent_comments(lines: list) -> None:
    """A comment line takes the level of the code below it (inside a bracket that code closes)."""
    below = 0
    for line in reversed(lines):
        if line.tokens:
            closes = line.tokens[0].value in _CLOSERS
            below = line.level + (1 if closes else 0)
        else:
            line.level = below


# ---- rendering -------------------------------------------------------------


def _render(lines: list, roles: _Roles) -> str:
    codes = [INDENT * line.level + _join(line.tokens, roles) if line.tokens else None for line in lines]
    entries: list = []  # the index of a line that is kept, or None for a blank line
    for i, line in enumerate(lines):
        if not line.tokens and line.comment is None:
            entries.append(None)
            continue
        if line.top_start:  # a blank line above the block and the comments right above it
            at = len(entries)
            while at > 0 and entries[at - 1] is not None and not lines[entries[at - 1]].tokens:
                at -= 1
            entries.insert(at, None)
        entries.append(i)
        if line.top_end:
            entries.append(None)
    kept = _blank_lines(entries, lines)
    # Comments are aligned over the lines as they come out, so a second pass finds the same runs (idempotence).
    columns = _comment_columns(kept, lines, codes)
    texts = []
    for i in kept:
        if i is None:
            texts.append("")
            continue
        line, code = lines[i], codes[i]
        texts.append(code.ljust(columns[i]) + line.comment if code and line.comment
                     else code or INDENT * line.level + line.comment)
    return "".join(text + "\n" for text in texts)


def _comment_columns(kept: list, lines: list, codes: list) -> dict:
    """Where each trailing comment starts: aligned over a run of output code lines at one level (as gofmt
    aligns them), two spaces after the longest code line that has one. A blank or comment line ends a run."""
    columns: dict = {}
    run: list = []
    for i in kept + [None]:
        line = lines[i] if i is not None else None
        if run and (line is None or not line.tokens or line.level != lines[run[0]].level):
            commented = [j for j in run if lines[j].comment]
            width = max((len(codes[j]) for j in commented), default=0) + 2
            columns.update((j, width) for j in commented)
            run = []
        if line is not None and line.tokens:
            run.append(i)
    return columns


def _blank_lines(entries: list, lines: list) -> list:
    """At most one blank line in a row; none at either end or just inside a bracket."""
    def opens(i):
        return bool(lines[i].tokens) and lines[i].tokens[-1].value in _OPENERS

    def closes(i):
        return bool(lines[i].tokens) and lines[i].tokens[0].value in _CLOSERS

    following_at: list = [None] * len(entries)  # the next line kept after each entry (linear, not a search each)
    following = None
    for k in range(len(entries) - 1, -1, -1):
        following_at[k] = following
        following = entries[k] if entries[k] is not None else following
    kept: list = []
    previous = None
    for k, entry in enumerate(entries):
        if entry is None:
            following = following_at[k]
            if previous is None or kept[-1] is None or opens(previous) or following is None or closes(following):
                continue
            kept.append(None)
        else:
            kept.append(entry)
            previous = entry
    return kept


def _join(tokens: list, roles: _Roles) -> str:
    parts, previous = [], None
    for tok in tokens:
        if previous is not None and _space(previous, tok, roles):
            parts.append(" ")
        parts.append(tok.value)
        previous = tok
    return "".join(parts)


def _space(a, b, roles: _Roles) -> bool:
    """Whether one space separates tokens a and b on a line."""
    if b.value in (",", ";", ")", "]", ":") or a.value in ("(", "["):
        return False
    if a.value == ":":
        return a.start_pos not in roles.tight_colons
    if a.value == "." or b.value == ".":
        return False
    if b.value == "(":
        return not (_IDENTIFIER.match(a.value) and a.start_pos not in roles.setting_keys and a.value != "repeat")
    if a.start_pos in roles.tight_equals or b.start_pos in roles.tight_equals:
        return False
    if (a.value == "{" and a.start_pos in roles.dict_braces) or (b.value == "}" and b.start_pos in roles.dict_braces):
        return False
    if a.value == "{" and b.value == "}":
        return False
    return not (a.value in ("-", "+") and a.start_pos not in roles.binary_ops)  # a sign sticks to its operand


# ---- the guarantee -----------------------------------------------------------


def _lex(text: str) -> list:
    """lark's tokens of `text`, comments, blanks and line breaks included."""
    return list(LexerThread.from_text(lark_parser()._build_lexer(True), text).lex(None))


def _comments(tokens: list) -> list:
    found = []
    for tok in tokens:
        if tok.type == "COMMENT":
            found.append(tok.value.rstrip())
        elif tok.type in ("_SEP", "ARROW_CONTINUATION"):
            found += [m.group(1).rstrip() for m in _NEWLINE.finditer(tok.value) if m.group(1)]
    return found


def _same_tree(a, b) -> bool:
    """Tree equality without recursion: a flat 20,000-term sum is a tree 20,000 deep."""
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if isinstance(x, Tree) != isinstance(y, Tree):
            return False
        if not isinstance(x, Tree):
            if x != y:  # tokens (compared as text) or None placeholders
                return False
        elif x.data != y.data or len(x.children) != len(y.children):
            return False
        else:
            pending.extend(zip(x.children, y.children))
    return True


def _check_same_meaning(before: str, tokens: list, after: str, tree: Tree, filename: str) -> None:
    """`tokens` and `tree`: the input's tokens and parse tree."""
    if after == before:
        return
    try:
        same = _same_tree(lark_parser().parse(after), tree) and _comments(_lex(after)) == _comments(tokens)
    except Exception:  # noqa: BLE001 - any failure to re-read the output means: do not write it
        same = False
    if not same:
        raise DlspecError("dlspec fmt cannot lay out this file without changing what it says; "
                          "the file is left as it is", Loc(filename, 1, 1),
                          hint="this is a bug in dlspec fmt: please report it with the file")
