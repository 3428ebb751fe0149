"""Lark's parse exceptions in, `SpecSyntaxError`s in plain words out.

Each error points at the spot to fix: an unclosed bracket is reported at the
bracket that was left open (with the place the closer was expected), an
unexpected token at the token, with the tokens that would have been valid.
"""
from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import Loc, SpecSyntaxError

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {")", "]", "}"}
_OPENER_OF = {closer: opener for opener, closer in OPENERS.items()}

# Terminal names lark reports, in words a user understands.
_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string", "_SEP": "a new line",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "COMMA": "','", "EQUAL": "'='", "COLON": "':'", "DOT": "'.'",
    "$END": "end of file", "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'",
}


def syntax_error(exc: UnexpectedInput, text: str, filename: str, postlexer, terminals) -> SpecSyntaxError:
    """The `SpecSyntaxError` for one of lark's exceptions.

    `postlexer` knows the brackets still open and which token followed a line
    break inside brackets; `terminals` maps lark's terminal names to definitions.
    """
    loc = Loc(filename, exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1)
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        char = text[pos] if pos < len(text) else ""
        if char == ">" and text[pos - 1:pos] == "-":  # '->' lexed as '-' then '>' inside ( ) or [ ]
            brackets = postlexer.open_brackets
            if brackets and brackets[-1].value in "([":
                return _unclosed(brackets[-1], "'->'", exc.line, exc.column - 1, filename)
        return SpecSyntaxError(_describe_char(char), loc)
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        return _unexpected_end(text, filename, postlexer)
    token = exc.token
    unclosed = _unclosed_before(token, postlexer, filename, _starts_line(text, token))
    if unclosed is not None:
        return unclosed
    expected = _expected_words(getattr(exc, "expected", None) or getattr(exc, "accepts", set()), terminals)
    found = "a new line" if token.type == "_SEP" and token.value != ";" else f"'{_clip(token.value)}'"
    before = text.splitlines()[token.line - 1][:token.column - 1] if token.line else ""
    return SpecSyntaxError(f"unexpected {found}; expected {expected}", loc, _hint_for(token, expected, before))


def _starts_line(text: str, token: Token) -> bool:
    """Whether `token` is the first thing on its line. The post-lexer marks the token after a line break
    inside brackets, but a chain inside a call's arguments (`conv(8, 3 -> relu` and the next line) can fail
    before the break reaches it."""
    start = getattr(token, "start_pos", None)
    return start is not None and "\n" in text[:start] and text[:start].rsplit("\n", 1)[-1].strip() == ""


def _unclosed_before(token: Token, postlexer, filename: str, starts_line: bool = False):
    """The 'never closed' error when `token` shows that the innermost open bracket lacks its closer.

    That is a closer of the wrong kind (a ')' forgotten before a '}'), a '->'
    or '{' inside ( ) or [ ], or a token that follows a line break inside them
    (`linear(10` and the next line).
    """
    stack = list(postlexer.open_brackets)
    if token.value in OPENERS and stack and stack[-1].start_pos == token.start_pos:
        stack.pop()  # the post-lexer saw the failing opener before the parser did
    if not stack:
        return None
    opener = stack[-1]
    if token.value in CLOSERS:
        if token.start_pos == postlexer.matched_closer_at or OPENERS[opener.value] == token.value:
            return None
        if opener.value == "{" and not any(OPENERS[o.value] == token.value for o in stack):  # a stray closer
            return SpecSyntaxError(f"unexpected '{token.value}': no '{_OPENER_OF[token.value]}' is open here",
                                   Loc(filename, token.line, token.column), hint="remove it, or add the missing "
                                   f"'{_OPENER_OF[token.value]}' before it")
    elif opener.value == "{":
        return None
    elif token.value not in ("->", "{") and token.start_pos != postlexer.after_line_break and not starts_line:
        return None
    unclosed = _unclosed(opener, f"'{_clip(token.value)}'", token.line, token.column, filename)
    if token.start_pos == postlexer.after_line_break or starts_line:  # or a ',' forgotten at the end of a line
        unclosed.hint += ", or a ',' if the list goes on"
    return unclosed


def _unclosed(opener: Token, what: str, line: int, column: int, filename: str) -> SpecSyntaxError:
    closer = OPENERS[opener.value]
    return SpecSyntaxError(
        f"'{opener.value}' is never closed; expected '{closer}' before the {what} at line {line}",
        Loc(filename, opener.line, opener.column),
        hint=f"add the missing '{closer}' before line {line}, column {column}",
    )


def _clip(value: str) -> str:
    return value if len(value) <= 30 else value[:27] + "..."


def _describe_char(char: str) -> str:
    if char == "\ufeff":
        return "stray byte-order mark U+FEFF; remove it"
    if char and (ord(char) < 32 or ord(char) == 127 or char in "\u2028\u2029\u0085"):
        return f"stray control character U+{ord(char):04X}; remove it"
    if char == "'":
        return "unexpected \"'\"; strings use double quotes"
    return f"unexpected character {char!r}"


def _unexpected_end(text: str, filename: str, postlexer) -> SpecSyntaxError:
    if postlexer.open_brackets:
        opener = postlexer.open_brackets[-1]
        return SpecSyntaxError(
            f"'{opener.value}' is never closed; expected '{OPENERS[opener.value]}' before the end of the file",
            Loc(filename, opener.line, opener.column),
        )
    lines = text.splitlines() or [""]
    return SpecSyntaxError("unexpected end of file", Loc(filename, len(lines), len(lines[-1]) + 1))


def _expected_words(names, terminals) -> str:
    words = sorted({_TERMINAL_WORDS.get(t, _keyword(t, terminals)) for t in names})
    if len(words) > 6:
        words = words[:6] + ["..."]
    return ", ".join(words) if words else "something else"


def _keyword(terminal: str, terminals) -> str:
    term = terminals.get(terminal)
    if term is not None and hasattr(term.pattern, "value") and term.pattern.type == "str":
        return f"'{term.pattern.value}'"
    return terminal.lower()


def _hint_for(token: Token, expected: str, before: str = "") -> str:
    """A hint for the unexpected `token`, given what was expected and the line's text `before` it."""
    if token.type == "NAME" and "','" in expected:
        return "arguments are separated by commas"
    if token.type == "_SEP" and "')'" in expected:
        return "a '(' is not closed on this line"
    if token.value == "=" and before.split()[-1:] == ["output"]:
        return ("an output has a name: output NAME = CHAIN (a model with one output may leave out `output`: "
                "its last chain is what it returns)")
    if token.value == "=":
        return "'=' binds a name (`y = input -> conv(8, 3)`) or a keyword argument inside '(...)'"
    return ""
