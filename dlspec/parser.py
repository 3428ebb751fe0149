"""Parse spec text into the IR: source text in, `ir.SpecFile` out.

The grammar lives in grammar.lark; this module only drives lark, turns its
parse tree into frozen IR dataclasses that carry file/line/column, and turns
lark's exceptions into `SpecSyntaxError`s with a caret and a plain-words
explanation of what was expected.
"""
from __future__ import annotations

import functools
from typing import Iterator

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ir
from .errors import DlspecError, Loc, SpecSyntaxError, remember_source

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}
_CONTINUES_AFTER = {"->", ",", "(", "[", "{"}

# Terminal names lark reports, in words a user understands.
_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "_SEP": "a new line",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "DOT": "'.'",
    "$END": "end of file", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'",
}


class _Continuations:
    """Post-lexer implementing line continuation and separator merging.

    A newline is dropped inside ( ) and [ ], after '->', ',', '(', '[' or '{',
    and before a line that starts with '->'. Runs of separators become one.
    It also remembers unclosed brackets so an early end of file can point at
    the bracket that was never closed.
    """

    always_accept = ("_SEP",)

    def __init__(self):
        self.open_brackets: list[Token] = []

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        # No look-ahead here: lark's contextual lexer lexes each token in the
        # parser state left by the tokens already yielded.
        self.open_brackets = []
        previous = None
        for tok in stream:
            if tok.type == "_SEP":
                inside_parens = self.open_brackets and self.open_brackets[-1].value in "(["
                if previous is None or previous.type == "_SEP":
                    continue
                if tok.value != ";" and (inside_parens or previous.value in _CONTINUES_AFTER):
                    continue
            else:
                self._track(tok)
            previous = tok
            yield tok

    def _track(self, tok: Token) -> None:
        if tok.type in ("STRING",):
            return
        if tok.value in _OPENERS:
            self.open_brackets.append(tok)
        elif tok.value in _CLOSERS and self.open_brackets:
            if _OPENERS[self.open_brackets[-1].value] == tok.value:
                self.open_brackets.pop()


_postlexer = _Continuations()


@functools.lru_cache(maxsize=None)
def _lark() -> Lark:
    return Lark.open(
        "grammar.lark", rel_to=__file__, parser="lalr", postlex=_postlexer,
        propagate_positions=True, maybe_placeholders=True, cache=True,
    )


def parse_text(text: str, filename: str = "<string>") -> ir.SpecFile:
    """Parse one spec's text into an `ir.SpecFile` (includes are not followed)."""
    remember_source(filename, text)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, filename) from None
    try:
        decls = _ToIR(filename).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, DlspecError):
            raise exc.orig_exc from None
        raise
    return ir.SpecFile(filename=filename, decls=tuple(decls))


def parse_expression(text: str, filename: str = "<command line>") -> ir.Expr:
    """Parse a single value, e.g. the VALUE of `--set NAME=VALUE`."""
    spec = parse_text(f"let _ = {text}", filename)
    return spec.decls[0].value


# ---- syntax errors -----------------------------------------------------


def _syntax_error(exc: UnexpectedInput, text: str, filename: str) -> SpecSyntaxError:
    loc = Loc(filename, exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1)
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        return SpecSyntaxError(_describe_char(char), loc)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return _unexpected_end(text, filename, exc)
    token = exc.token
    if token.value in _CLOSERS and _postlexer.open_brackets:
        opener = _postlexer.open_brackets[-1]
        if _OPENERS[opener.value] != token.value:  # e.g. a ')' forgotten before a '}'
            return SpecSyntaxError(f"'{opener.value}' is never closed; expected '{_OPENERS[opener.value]}' before "
                                   f"the '{token.value}' at line {token.line}", Loc(filename, opener.line, opener.column))
    expected = _expected_words(getattr(exc, "expected", None) or getattr(exc, "accepts", set()))
    found = "a new line" if token.type == "_SEP" and token.value != ";" else f"'{token.value}'"
    hint = _hint_for(token, expected)
    return SpecSyntaxError(f"unexpected {found}; expected {expected}", loc, hint)


def _describe_char(char: str) -> str:
    if char and (ord(char) < 32 or ord(char) == 127 or char in "\u2028\u2029\u0085"):
        return f"stray control character U+{ord(char):04X}; remove it"
    if char == "'":
        return "unexpected \"'\"; strings use double quotes"
    return f"unexpected character {char!r}"


def _unexpected_end(text: str, filename: str, exc: UnexpectedInput) -> SpecSyntaxError:
    if _postlexer.open_brackets:
        opener = _postlexer.open_brackets[-1]
        return SpecSyntaxError(
            f"'{opener.value}' is never closed; expected '{_OPENERS[opener.value]}' before the end of the file",
            Loc(filename, opener.line, opener.column),
        )
    lines = text.splitlines() or [""]
    return SpecSyntaxError("unexpected end of file", Loc(filename, len(lines), len(lines[-1]) + 1))


def _expected_words(terminals) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, _keyword(t)) for t in terminals})
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words) if words else "something else"


def _keyword(terminal: str) -> str:
    grammar_terminals = {t.name: t for t in _lark().terminals}
    term = grammar_terminals.get(terminal)
    if term is not None and hasattr(term.pattern, "value") and term.pattern.type == "str":
        return f"'{term.pattern.value}'"
    return terminal.lower()


def _hint_for(token: Token, expected: str) -> str:
    if token.type == "NAME" and "','" in expected:
        return "arguments are separated by commas"
    if token.type == "_SEP" and "')'" in expected:
        return "a '(' is not closed on this line"
    if token.value == "=" :
        return "'=' binds a name (`y = input -> conv(8, 3)`) or a keyword argument inside '(...)'"
    return ""


# ---- tree to IR --------------------------------------------------------


@v_args(meta=True)
class _ToIR(Transformer):
    """One method per grammar rule or alias: lark tree -> IR dataclasses."""

    def __init__(self, filename: str):
        super().__init__()
        self.filename = filename

    def _loc(self, meta) -> Loc:
        return Loc(self.filename, getattr(meta, "line", 1), getattr(meta, "column", 1))

    def _tok_loc(self, tok: Token) -> Loc:
        return Loc(self.filename, tok.line, tok.column)

    def start(self, meta, children):
        return list(children)

    # declarations
    def let_decl(self, meta, c):
        return ir.LetDecl(str(c[0]), c[1], self._tok_loc(c[0]))

    def use_file(self, meta, c):
        return ir.UseDecl(_unquote(c[0]), True, self._loc(meta))

    def use_module(self, meta, c):
        return ir.UseDecl(c[0].name, False, self._loc(meta))

    def include_decl(self, meta, c):
        return ir.IncludeDecl(_unquote(c[0]), self._loc(meta))

    def block_decl(self, meta, c):
        name, params, body = c
        return ir.BlockDecl(str(name), tuple(params or ()), body, self._tok_loc(name))

    def block_params(self, meta, c):
        return list(c)

    def block_param(self, meta, c):
        return ir.BlockParam(str(c[0]), c[1], self._tok_loc(c[0]))

    def model_decl(self, meta, c):
        return ir.ModelDecl(str(c[0]), c[1], self._tok_loc(c[0]))

    def data_decl(self, meta, c):
        return ir.DataDecl(str(c[0]), c[1], self._tok_loc(c[0]))

    def train_decl(self, meta, c):
        name = str(c[0]) if c[0] is not None else None
        return ir.TrainDecl(name, c[1], self._loc(meta))

    # bodies
    def body(self, meta, c):
        return ir.Body(tuple(c), self._loc(meta))

    def input_stmt(self, meta, c):
        args, kwargs = _split_args(c[1])
        return ir.InputDecl(str(c[0]), args, kwargs, self._loc(meta))

    def param_stmt(self, meta, c):
        args, kwargs = _split_args(c[1])
        return ir.ParamDecl(str(c[0]), args, kwargs, c[2], self._loc(meta))

    def repeat_stmt(self, meta, c):
        return ir.Repeat(c[0], c[1], self._loc(meta))

    def binding(self, meta, c):
        return ir.Binding(str(c[0]), c[1], self._tok_loc(c[0]))

    def chain(self, meta, c):
        return ir.Chain(tuple(c), self._loc(meta))

    def step(self, meta, c):
        label, target = c
        return ir.Step(target, str(label) if label is not None else None, self._loc(meta))

    def input_ref(self, meta, c):
        return ir.InputRef(self._loc(meta))

    # settings
    def settings(self, meta, c):
        return tuple(c)

    def setting(self, meta, c):
        key, *items, body = c
        args = tuple(i for i in items if not isinstance(i, ir.Kwarg))
        kwargs = tuple(i for i in items if isinstance(i, ir.Kwarg))
        return ir.Setting(key, args, kwargs, body, self._loc(meta))

    def setting_key(self, meta, c):
        return str(c[0])

    def device_ref(self, meta, c):
        return ir.Literal(f"{c[0]}:{c[1]}", self._tok_loc(c[0]))

    def setting_body(self, meta, c):
        return tuple(c)

    # expressions
    def arguments(self, meta, c):
        return list(c)

    def kwarg(self, meta, c):
        return ir.Kwarg(str(c[0]), c[1], self._tok_loc(c[0]))

    def _binop(self, op, meta, c):
        return ir.BinOp(op, c[0], c[1], self._loc(meta))

    def add(self, meta, c):
        return self._binop("+", meta, c)

    def sub(self, meta, c):
        return self._binop("-", meta, c)

    def mul(self, meta, c):
        return self._binop("*", meta, c)

    def div(self, meta, c):
        return self._binop("/", meta, c)

    def floordiv(self, meta, c):
        return self._binop("//", meta, c)

    def neg(self, meta, c):
        return ir.Neg(c[0], self._loc(meta))

    def number(self, meta, c):
        text = str(c[0])
        value = float(text) if any(ch in text for ch in ".eE") else int(text)
        return ir.Literal(value, self._tok_loc(c[0]))

    def string(self, meta, c):
        return ir.Literal(_unquote(c[0]), self._tok_loc(c[0]))

    def true(self, meta, c):
        return ir.Literal(True, self._loc(meta))

    def false(self, meta, c):
        return ir.Literal(False, self._loc(meta))

    def none(self, meta, c):
        return ir.Literal(None, self._loc(meta))

    def list(self, meta, c):
        return ir.ListExpr(tuple(x for x in c if x is not None), self._loc(meta))

    def dict(self, meta, c):
        return ir.DictExpr(tuple(x for x in c if x is not None), self._loc(meta))

    def dict_item(self, meta, c):
        key = _unquote(c[0]) if c[0].type == "STRING" else str(c[0])
        return (key, c[1])

    def call(self, meta, c):
        args, kwargs = _split_args(c[1])
        return ir.Call(c[0].name, args, kwargs, c[0].loc)

    def dotted(self, meta, c):
        return ir.Name(".".join(str(t) for t in c), self._tok_loc(c[0]))


def _split_args(items) -> tuple[tuple, tuple]:
    items = items or []
    return (tuple(i for i in items if not isinstance(i, ir.Kwarg)),
            tuple(i for i in items if isinstance(i, ir.Kwarg)))


def _unquote(tok: Token) -> str:
    body = str(tok)[1:-1]
    if "\\" not in body:
        return body
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    out, chars = [], iter(body)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            out.append(escapes.get(nxt, "\\" + nxt))
        else:
            out.append(ch)
    return "".join(out)
