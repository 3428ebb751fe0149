"""The language stage: spec text in (grammar.lark, parser), IR with source locations out (ir),
resolved into a Program (resolve: includes, lets, --set overrides).

- encoding.py: a spec file's bytes in, its text out (UTF-8 only; other encodings and binary named)
- grammar.lark, parser.py, postlex.py: text in, `ir.SpecFile` out (lark LALR; line continuation)
- syntax_errors.py, recovery.py: lark's exceptions in plain words; every syntax error of a file at once
- stand_ins.py: a failing step replaced by `identity` in the IR, so diagnostics plans a model on past it
- ir.py: the frozen dataclasses the parser makes, each with its Loc
- resolve.py: includes, let values, --set overrides, name tables -> Program
- spaces.py: search spaces (`loguniform(...)`, `choice(...)`) checked and evaluated
- fmt.py: `dlspec fmt`, a spec in dlspec's one canonical layout
- limits.py: the caps on numbers, nesting depth and file size that keep hostile specs from crashing dlspec
- files.py: the one check before dlspec reads any path a user named (a spec's include, a `use` file, a
  checkpoint, data, a run's files): only regular files are read; every stage that reads user files uses it
"""
