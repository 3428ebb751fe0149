"""Parse spec text into the IR: source text in, `ir.SpecFile` out.

The grammar lives in grammar.lark; this module only drives lark, turns its
parse tree into frozen IR dataclasses that carry file/line/column, and turns
lark's exceptions into `SpecSyntaxError`s with a caret and a plain-words
explanation of what was expected.
"""
from __future__ import annotations

import copy
import functools
import threading
from collections import OrderedDict
from dataclasses import replace

from lark import Lark, Token, Tree
from lark.exceptions import GrammarError, UnexpectedInput, VisitError
from lark.visitors import Transformer_NonRecursive

from . import ir
from ..errors import DlspecError, Loc, SpecSyntaxError
from .limits import MAX_DEPTH, float_literal, gc_paused, int_literal
from .encoding import misread_text
from .postlex import Continuations
from .syntax_errors import syntax_error

BOM = "\ufeff"

_postlexer = Continuations()  # one per process: lark is built once, and the error path reads its state


@functools.lru_cache(maxsize=None)
def lark_parser() -> Lark:
    """The spec grammar's LALR parser, built once per process (the formatter and the editor's keywords read it too)."""
    return Lark.open(
        "grammar.lark", rel_to=__file__, parser="lalr", postlex=_postlexer,
        propagate_positions=True, maybe_placeholders=True, cache=True,
    )


def parse_text(text: str, filename: str = "<string>") -> ir.SpecFile:
    """Parse one spec's text into an `ir.SpecFile` (includes are not followed).

    A leading UTF-8 byte-order mark is dropped (editors on Windows write one).
    The last two results are kept: `dlspec compile` reads a spec in several
    passes (search spaces, error recovery, the checks), and a 20,000-line spec
    should be parsed once. The IR is frozen, so sharing it is safe; an error is
    raised as a fresh copy, so a caller that relocates it changes no other's.
    """
    text = text[1:] if text.startswith(BOM) else text
    key = (filename, text)
    with _parsed_lock:
        found = _parsed.get(key)
        if found is not None:
            _parsed.move_to_end(key)
    if found is None:
        try:
            found = _parse(text, filename)[1]
        except DlspecError as exc:
            found = exc
        _keep(key, found)
    if isinstance(found, DlspecError):
        raise copy.copy(found) from None
    return found


def parse_tree(text: str, filename: str = "<string>") -> Tree:
    """lark's parse tree of a spec's text (for `dlspec fmt`), after the same checks as `parse_text`.

    Not kept (a tree takes several times the memory of the IR); its IR is."""
    text = text[1:] if text.startswith(BOM) else text
    tree, spec = _parse(text, filename)
    _keep((filename, text), spec)
    return tree


_PARSED_KEPT = 2
_parsed: "OrderedDict[tuple, object]" = OrderedDict()  # (filename, text) -> SpecFile or the DlspecError
_parsed_lock = threading.Lock()


def _keep(key: tuple, found) -> None:
    with _parsed_lock:
        _parsed[key] = found
        _parsed.move_to_end(key)
        while len(_parsed) > _PARSED_KEPT:
            _parsed.popitem(last=False)


def _parse(text: str, filename: str) -> tuple:
    """(lark's tree, the IR) of a spec's text, or its located error."""
    with gc_paused():  # a spec's tokens, trees and IR all stay alive to the end: nothing to collect
        return _parse_unpaused(text, filename)


def _parse_unpaused(text: str, filename: str) -> tuple:
    try:
        tree = lark_parser().parse(text)
    except UnexpectedInput as exc:
        misread = misread_text(text, filename)  # UTF-16 read as bytes: say so, not "unexpected 'm'"
        if misread is not None:
            raise misread from None
        terminals = {t.name: t for t in lark_parser().terminals}
        raise _with_text(syntax_error(exc, text, filename, _postlexer, terminals), text) from None
    try:
        _check_depth(tree, filename)
        decls = _ToIR(filename, text).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, DlspecError):
            raise _with_text(exc.orig_exc, text) from None
        raise
    except DlspecError as exc:
        raise _with_text(exc, text) from None
    return tree, ir.SpecFile(filename=filename, decls=tuple(decls))


def _with_text(error: DlspecError, text: str) -> DlspecError:
    """The error with its location carrying the text it points into (for the caret line)."""
    if error.loc is not None and error.loc.text is None:
        error.loc = replace(error.loc, text=text)
    return error


def parse_expression(text: str, filename: str = "<command line>") -> ir.Expr:
    """Parse a single value, e.g. the VALUE of `--set NAME=VALUE`."""
    spec = _parse(f"let _ = {text}", filename)[1]  # not kept: --set values would push the spec out
    if len(spec.decls) != 1:  # `1; model M {...}`: more than a value
        raise SpecSyntaxError("expected a single value", Loc(filename, 1, 1))
    return spec.decls[0].value


# ---- nesting depth -----------------------------------------------------

_BINOPS = {"add", "sub", "mul", "div", "floordiv"}
_NESTING = _BINOPS | {"neg", "list", "dict", "call", "repeat_stmt"}


def _check_depth(tree: Tree, filename: str) -> None:
    """Refuse expressions and repeat blocks nested more than MAX_DEPTH deep.

    Later stages walk these recursively (Python's stack is about 1,000 frames).
    The left operand of an operator does not count, so a flat `1 + 1 + ... + 1`
    of any length is fine; parentheses leave no trace in the tree and cost nothing.
    """
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        for i, child in enumerate(node.children):
            if not isinstance(child, Tree):
                continue
            flat = i == 0 and node.data in _BINOPS and child.data in _BINOPS
            child_depth = depth + (child.data in _NESTING and not flat)
            if child_depth > MAX_DEPTH:
                loc = Loc(filename, getattr(child.meta, "line", 1), getattr(child.meta, "column", 1))
                raise SpecSyntaxError(f"nested too deeply (limit {MAX_DEPTH} levels of brackets, signs, calls "
                                      "and repeat blocks)", loc, hint="split it up with a `let` or a block")
            stack.append((child, child_depth))


# ---- tree to IR --------------------------------------------------------


class _ToIR(Transformer_NonRecursive):
    """One method per grammar rule or alias, called as `rule(meta, children)`: lark tree -> IR dataclasses.

    Non-recursive, so a 3,000-term sum (a 3,000-deep tree) needs no Python stack.
    Tokens are not visited (no method is named after a terminal), and each rule's
    method is called directly rather than through lark's `v_args` wrapper, which
    built a new wrapper per node: on a 20,000-line spec that was a fifth of the time.
    """

    def __init__(self, filename: str, text: str):
        super().__init__(visit_tokens=False)
        self.filename, self.text = filename, text

    def _call_userfunc(self, tree, new_children=None):
        children = new_children if new_children is not None else tree.children
        method = getattr(self, tree.data, None)
        if method is None:
            return self.__default__(tree.data, children, tree.meta)
        try:
            return method(tree.meta, children)
        except GrammarError:
            raise
        except Exception as e:  # as lark's own Transformer does: the caller unwraps a DlspecError
            raise VisitError(tree.data, tree, e)

    def _loc(self, meta) -> Loc:
        return Loc(self.filename, getattr(meta, "line", 1), getattr(meta, "column", 1), self.text)

    def _tok_loc(self, tok: Token) -> Loc:
        return Loc(self.filename, tok.line, tok.column, self.text)

    def start(self, meta, children):
        return list(children)

    # declarations
    def let_decl(self, meta, c):
        value = c[1]
        if isinstance(value, ir.Call) and value.callee in ir.SPACE_KINDS:  # a search space for dlspec tune
            value = ir.SearchSpace(value.callee, value.args, value.kwargs, value.loc)
        return ir.LetDecl(str(c[0]), value, self._tok_loc(c[0]))

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

    def named_input_stmt(self, meta, c):
        args, kwargs = _split_args(c[2])
        return ir.InputDecl(str(c[1]), args, kwargs, self._loc(meta), name=str(c[0]))

    def arg_chain(self, meta, c):
        first = ir.Step(c[0], None, getattr(c[0], "loc", None) or self._loc(meta))
        return ir.Chain((first,) + tuple(c[1:]), self._loc(meta))

    def output_stmt(self, meta, c):
        return ir.OutputDecl(str(c[0]), c[1], self._tok_loc(c[0]))

    def param_stmt(self, meta, c):
        args, kwargs = _split_args(c[1])
        return ir.ParamDecl(str(c[0]), args, kwargs, c[2], self._loc(meta))

    def repeat_stmt(self, meta, c):
        return ir.Repeat(c[0], c[1], self._loc(meta))

    def binding(self, meta, c):
        names = tuple(str(n) for n in c[:-1])
        return ir.Binding(names[0], c[-1], self._tok_loc(c[0]), names if len(names) > 1 else ())

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

    def labelled(self, meta, c):
        """`cuda:1` (a device) stays the literal it always was; `price: mse * 0.5` names an output."""
        name, value = c
        if isinstance(value, ir.Literal) and isinstance(value.value, int) and not isinstance(value.value, bool):
            return ir.Literal(f"{name}:{value.value}", self._tok_loc(name))
        return ir.Labelled(str(name), value, self._tok_loc(name))

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
        text, loc = str(c[0]), self._tok_loc(c[0])
        value = float_literal(text, loc) if any(ch in text for ch in ".eE") else int_literal(text, loc)
        return ir.Literal(value, loc)

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
