"""The Pygments lexer: .dlspec text in, coloured tokens out (pygmentize, Sphinx, MkDocs).

Registered through the `pygments.lexers` entry point, so `pygmentize
file.dlspec` and ```dlspec code fences pick it up once dlspec is installed.
Its word lists come from vocabulary.py, generated from grammar.lark and the
registries (and checked against them by tests/editor/test_highlight.py); importing
it imports neither torch nor the rest of dlspec. Text the language cannot
hold (a single quote, a stray `@`, an unterminated string) is an Error token.
"""
from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from .vocabulary import VOCABULARY

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_BUILTINS = sorted({n for names in VOCABULARY["builtins"].values() for n in names}, key=lambda n: (-len(n), n))


class DlspecLexer(RegexLexer):
    """Lexer for dlspec model specs (the language of docs/language.md)."""

    name = "dlspec"
    aliases = ["dlspec"]
    filenames = ["*.dlspec"]
    mimetypes = ["text/x-dlspec"]

    tokens = {
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?", Number),
            (rf"\b(block|model|data|train)(\s+)({_NAME})", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (words(VOCABULARY["declarations"], suffix=r"\b"), Keyword.Declaration),
            (words(VOCABULARY["statements"], suffix=r"\b"), Keyword),
            (words(VOCABULARY["constants"], suffix=r"\b"), Keyword.Constant),
            (words(VOCABULARY["settings"], prefix=r"(?<![\w.])", suffix=rf"\b(?=[ \t]*(?:[^\s=(]|$))"),
             Keyword.Pseudo),
            (words(VOCABULARY["inputs"], suffix=r"\b(?=\s*\()"), Name.Builtin.Pseudo),
            (words(_BUILTINS, prefix=r"(?<![\w.])", suffix=r"\b(?!\s*=)"), Name.Builtin),
            (rf"{_NAME}(?:\.{_NAME})*(?=\s*\()", Name.Function),
            (rf"{_NAME}(?=\s*=(?!=))", Name.Variable),
            (rf"{_NAME}(?:\.{_NAME})*", Name),
            (r"->", Operator),
            (r"//|[-+*/=]", Operator),
            (r"[(){}\[\],;:]", Punctuation),
            (r"\.", Punctuation),
        ],
    }

