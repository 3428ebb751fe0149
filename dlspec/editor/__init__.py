"""Editor support: what a spec means at a place in its text, for the language server and highlighters.

`analysis` runs the real checks on an editor's unsaved text (dlspec.diagnostics)
and finds the word at a position; `hover`, `complete` and `definition` answer
those requests as plain Python values; `lsp` serves them over the Language
Server Protocol (pygls, the `lsp` extra); `lexer` is the Pygments lexer and
`textmate` writes the VS Code grammar, both from grammar.lark's keywords and
the registries.
"""
