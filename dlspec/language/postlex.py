"""Line continuation for the lexer: lark's token stream in, the same stream with newlines dropped
where a statement goes on, out.

A newline is dropped inside ( ) and [ ], after '->', ',', '(', '[' or '{', and
before a line that starts with '->'; runs of separators become one.
"""
from __future__ import annotations

from typing import Iterator

from lark import Token

from .syntax_errors import CLOSERS, OPENERS

_CONTINUES_AFTER = {"->", ",", "(", "[", "{"}
class Continuations:
    """Post-lexer implementing line continuation and separator merging.

    A newline is dropped inside ( ) and [ ], after '->', ',', '(', '[' or '{',
    and before a line that starts with '->'. Runs of separators become one.
    It also remembers what syntax errors need to name a bracket that was never
    closed: the open brackets, the last closer that matched its opener, and the
    token that followed a line break inside ( ) or [ ].
    """

    always_accept = ("_SEP",)

    def __init__(self):
        self.open_brackets: list[Token] = []
        self.matched_closer_at = self.after_line_break = -1

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        # No look-ahead here: lark's contextual lexer lexes each token in the
        # parser state left by the tokens already yielded.
        self.open_brackets = []
        self.matched_closer_at = self.after_line_break = -1
        previous, broke_line = None, False
        for tok in stream:
            if tok.type == "_SEP":
                inside_parens = self.open_brackets and self.open_brackets[-1].value in "(["
                if previous is None or previous.type == "_SEP":
                    continue
                if tok.value != ";" and (inside_parens or previous.value in _CONTINUES_AFTER):
                    broke_line = broke_line or previous.value not in _CONTINUES_AFTER
                    continue
            else:
                self._track(tok)
                if broke_line:
                    self.after_line_break, broke_line = tok.start_pos, False
            previous = tok
            yield tok

    def _track(self, tok: Token) -> None:
        if tok.type in ("STRING",):
            return
        if tok.value in OPENERS:
            self.open_brackets.append(tok)
        elif tok.value in CLOSERS and self.open_brackets:
            if OPENERS[self.open_brackets[-1].value] == tok.value:
                self.open_brackets.pop()
                self.matched_closer_at = tok.start_pos
