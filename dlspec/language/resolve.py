"""Resolution: parsed files in, a `Program` of checked name tables out.

Follows `include`s (relative to the including file, each file once),
gathers declarations into tables (refusing duplicates), applies `--set`
overrides to `let`s and evaluates expressions against an environment.
"""
from __future__ import annotations

import operator
import os
import stat
from dataclasses import dataclass, field
from typing import Optional

from . import ir
from ..errors import ArgumentError, DataError, DlspecError, Loc, UnknownNameError, did_you_mean
from .files import not_regular
from .limits import MAX_DEPTH, MAX_LET_CHAIN, MAX_SPEC_BYTES, checked_number
from .encoding import decode_spec
from .parser import parse_expression, parse_text
from .setting_sets import apply_setting_sets, is_setting_set, let_hint
from .spaces import read_space, space_outside_let, space_without_default
from .values import CallValue, Symbol

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv}


@dataclass
class Program:
    """Everything declared by a spec and the files it includes."""

    filename: str
    text: str = ""  # the main file's text, as read
    lets: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    trains: dict = field(default_factory=dict)  # name (None for unnamed) -> TrainDecl
    uses: list = field(default_factory=list)
    overrides: dict = field(default_factory=dict)
    spaces: dict = field(default_factory=dict)  # let name -> spaces.Space, for the lets that are search spaces
    declared: Optional[tuple] = None  # (data, trains) as written, before --set BLOCK.SETTING replaced settings
    _let_values: dict = field(default_factory=dict)
    _eval_depth: int = 0  # nesting of Env.eval calls, to turn a too-deep stack into a located error

    def linked(self, train: ir.TrainDecl, key: str) -> Optional[str]:
        """The model or data block a train block names, or the only one declared; None when unknown.

        A quick reading of the IR for decisions made before the train block is checked
        (train.config.read_train reports the errors)."""
        for s in train.settings:
            if s.key == key and s.args and isinstance(s.args[0], ir.Name):
                return s.args[0].name
        table = self.models if key == "model" else self.data
        return next(iter(table)) if len(table) == 1 else None

    def lets_in(self, expr) -> list:
        """Provenance: the lets an expression's value comes from, directly or through other lets,
        in the order first used (`dlspec explain` says which were set with --set)."""
        found, stack = [], [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, ir.Name) and node.name in self.lets and node.name not in found:
                found.append(node.name)
                stack.append(self.lets[node.name].value)
            elif isinstance(node, tuple):
                stack.extend(reversed(node))
            elif isinstance(node, (ir.Literal, ir.Name, ir.InputRef)) or not hasattr(node, "__dataclass_fields__"):
                continue
            else:  # Call, Kwarg, ListExpr, DictExpr, BinOp, Neg, and any expression added later
                stack.extend(reversed([getattr(node, f) for f in node.__dataclass_fields__ if f != "loc"]))
        return found

    def global_env(self) -> "Env":
        return Env(self, {})

    def with_overrides(self, overrides: dict) -> "Program":
        """The same declarations with other `--set` overrides (nothing is parsed or read again)."""
        data, trains = self.declared or (self.data, self.trains)
        program = Program(filename=self.filename, text=self.text, lets=self.lets, blocks=self.blocks,
                          models=self.models, data=data, trains=trains, uses=self.uses)
        kept = {k: v for k, v in self.overrides.items() if is_setting_set(k)}  # a trial's lets keep --set d.batch
        _apply_overrides(program, {**kept, **overrides})
        return program

    def let_value(self, name: str, loc: Loc, _stack=()):
        if name in self.overrides:
            return self.overrides[name]
        if name not in self._let_values:
            if name in _stack:
                raise DlspecError(f"let '{name}' depends on itself", loc)
            if len(_stack) >= MAX_LET_CHAIN:
                raise DlspecError(f"let '{name}' is the end of a chain of more than {MAX_LET_CHAIN} lets "
                                  "that use each other", loc, hint="lets may use lets only this deep")
            decl = self.lets[name]
            if isinstance(decl.value, ir.SearchSpace):
                self._let_values[name] = self._space_value(name, loc, _stack)
            else:
                self._let_values[name] = Env(self, {}, _stack + (name,)).eval(decl.value)
        return self._let_values[name]

    def _space_value(self, name: str, loc: Loc, stack: tuple):
        """A search space outside `dlspec tune` stands for its default."""
        user = next((n for n in stack if isinstance(self.lets[n].value, ir.SearchSpace)), None)
        if user is not None:  # tune samples spaces independently: one cannot bound another
            raise DlspecError(f"the search space '{user}' uses '{name}', which is a search space too; a space's "
                              "bounds and options must not depend on another space", loc)
        space = self.spaces.get(name)
        if space is None:  # while the spaces themselves are read
            space = self.spaces[name] = read_space(name, self.lets[name].value, Env(self, {}, (name,)),
                                                   self.lets[name].loc)
        if not space.has_default:
            raise space_without_default(space, loc)
        return space.default


class Env:
    """Names visible to an expression: block parameters first, then lets."""

    def __init__(self, program: Program, local: dict, stack=()):
        self.program = program
        self.local = local
        self.stack = stack

    def child(self, local: dict) -> "Env":
        return Env(self.program, {**self.local, **local}, self.stack)

    def names(self):
        return list(self.local) + list(self.program.lets)

    def lookup(self, name: str, loc: Loc):
        if name in self.local:
            return self.local[name]
        if name in self.program.lets:
            return self.program.let_value(name, loc, self.stack)
        return Symbol(name)

    def eval(self, expr):
        """Evaluate an expression; unknown bare names become `Symbol`s.

        Numbers stay within 64 bits (`limits.checked_number`); a stack that runs
        out (lets nested in lets nested in expressions) is a located error.
        """
        program = self.program
        program._eval_depth += 1
        try:
            return self._eval(expr)
        except RecursionError:
            if program._eval_depth > 1:
                raise
            raise DlspecError("expression nested too deeply to evaluate", getattr(expr, "loc", None),
                              hint=f"nesting is limited to {MAX_DEPTH} levels") from None
        finally:
            program._eval_depth -= 1

    def _eval(self, expr):
        if isinstance(expr, ir.Literal):
            return expr.value
        if isinstance(expr, ir.Name):
            return self.lookup(expr.name, expr.loc)
        if isinstance(expr, ir.ListExpr):
            return [self.eval(e) for e in expr.items]
        if isinstance(expr, ir.DictExpr):
            return {k: self.eval(v) for k, v in expr.items}
        if isinstance(expr, ir.Neg):
            return -self._number(expr.operand)
        if isinstance(expr, ir.BinOp):
            return self._binop(expr)
        if isinstance(expr, ir.SearchSpace) or (isinstance(expr, ir.Call) and _looks_like_space(expr)):
            raise space_outside_let(getattr(expr, "kind", None) or expr.callee, expr.loc)
        if isinstance(expr, ir.Call):
            return self._call(expr)
        if isinstance(expr, ir.InputRef):
            return Symbol("input")
        if isinstance(expr, ir.Labelled):
            raise DlspecError(f"'{expr.label}: ...' names an output of the model; only loss and metrics take a "
                              "value per output", expr.loc,
                              hint=f"e.g. loss {expr.label}: mse * 0.5, other: cross_entropy")
        if isinstance(expr, ir.Chain):
            raise DlspecError("a chain (a -> b) can only be an operand of a merge: add, mul, concat or matmul",
                              expr.loc, hint="bind it first: y = a -> b, then use y")
        raise AssertionError(f"unknown expression {expr!r}")

    def _call(self, expr: ir.Call) -> CallValue:
        args, kwargs, locs = tuple(self.eval(a) for a in expr.args), {}, {i: a.loc for i, a in enumerate(expr.args)}
        for k in expr.kwargs:
            if k.name in kwargs:  # as layers refuse it (planning/nodes.py): never let the last one win silently
                raise ArgumentError(f"{expr.callee}: argument '{k.name}' given twice", k.loc)
            kwargs[k.name], locs[k.name] = self.eval(k.value), k.loc
        return CallValue(expr.callee, args, kwargs, expr.loc, locs)

    def _number(self, expr):
        value = self.eval(expr)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = did_you_mean(value, self.names()) if isinstance(value, Symbol) else ""
            what = f"unknown name '{value}'" if isinstance(value, Symbol) else f"{_short(value)} is not a number"
            raise ArgumentError(f"arithmetic needs numbers: {what}." + hint, expr.loc)
        return value

    def _binop(self, expr: ir.BinOp):
        # `a + b + c` is a left-leaning tree as deep as the chain is long:
        # walk its left spine in a loop, not by recursion.
        spine = []
        while isinstance(expr, ir.BinOp):
            spine.append(expr)
            expr = expr.left
        value = self._number(expr)
        for node in reversed(spine):
            value = _arithmetic(node, value, self._number(node.right))
        return value


def _looks_like_space(call: ir.Call) -> bool:
    """A search space written where a value is expected (`uniform(a, b)` alone is also a param init)."""
    return call.callee in ("loguniform", "int", "choice") or \
        (call.callee == "uniform" and any(k.name == "default" for k in call.kwargs))


def _arithmetic(node: ir.BinOp, a, b):
    if node.op in ("/", "//") and b == 0:
        raise ArgumentError("division by zero", node.right.loc)
    try:
        value = _OPS[node.op](a, b)
    except OverflowError:  # e.g. an int too large to become a float
        value = float("inf")
    return checked_number(value, node.loc, f"{_short(a)} {node.op} {_short(b)}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_program(path: str, overrides: Optional[dict] = None, text: Optional[str] = None) -> Program:
    """Parse `path` (or `text` under that name), follow includes, apply overrides."""
    if text is None:
        text = read_spec_text(path, None)
    program = Program(filename=path, text=text)
    _gather(program, parse_text(text, path), set(), 0)
    _apply_overrides(program, overrides or {})
    return program


def _apply_overrides(program: Program, overrides: dict) -> None:
    if program.declared is None:
        program.declared = (program.data, program.trains)
    sets = {k: v for k, v in overrides.items() if is_setting_set(k)}
    program.data, program.trains = apply_setting_sets(*program.declared, sets, program.global_env().eval)
    program.overrides = {**_parse_overrides(program, {k: v for k, v in overrides.items() if k not in sets}),
                         **sets}  # BLOCK.SETTING kept as its text: it is read again as a setting line
    program.spaces.clear()  # values computed while the overrides were read did not see them
    program._let_values.clear()
    _read_spaces(program)


def _read_spaces(program: Program) -> None:
    """Check every search space once, in declaration order, so a mistake in one is found by any command."""
    for name, decl in program.lets.items():
        if isinstance(decl.value, ir.SearchSpace) and name not in program.spaces:
            program.spaces[name] = read_space(name, decl.value, Env(program, {}, (name,)), decl.loc)
        elif not isinstance(decl.value, ir.SearchSpace):
            _refuse_nested_space(decl.value)


def _refuse_nested_space(expr) -> None:
    """`let lr = loguniform(...) * 2`: a space inside a let's value, found even when the let is unused."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Call) and _looks_like_space(node):
            raise space_outside_let(node.callee, node.loc)
        if isinstance(node, ir.BinOp):
            stack += [node.left, node.right]
        elif isinstance(node, ir.Neg):
            stack.append(node.operand)
        elif isinstance(node, ir.ListExpr):
            stack += list(node.items)
        elif isinstance(node, ir.DictExpr):
            stack += [value for _, value in node.items]
        elif isinstance(node, ir.Call):
            stack += list(node.args) + [k.value for k in node.kwargs]


def read_spec_text(path: str, loc: Optional[Loc]) -> str:
    """The text of a spec file; a missing, special or huge file is a `DataError`, one that is not UTF-8 text a
    `SpecSyntaxError` (language/encoding.py)."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a folder, /dev/zero, a FIFO: never read those
            kind = not_regular(path) or "not a file"
            said = kind if kind == "a folder" else f"not a regular file ({kind})"
            raise DataError(f"cannot read {path}: it is {said}", loc, hint="give the path of a .dlspec file")
        if info.st_size > MAX_SPEC_BYTES:
            raise DataError(f"{path} is too large for a spec ({info.st_size:,} bytes; at most "
                            f"{MAX_SPEC_BYTES:,})", loc)
        with open(path, "rb") as f:  # bytes, so a decoding error's offset counts from the file's start
            data = f.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise DataError(f"file not found: {path}", loc) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
        raise DataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}", loc) from None
    return decode_spec(data, path, loc)  # UTF-16, binary, not UTF-8: a located syntax error


def _gather(program: Program, spec: ir.SpecFile, seen: set, depth: int) -> None:
    seen.add(os.path.abspath(spec.filename))
    for decl in spec.decls:
        if isinstance(decl, ir.IncludeDecl):
            path = resolve_path(decl.path, decl.loc)
            if depth >= MAX_DEPTH:
                raise DlspecError(f"includes nested more than {MAX_DEPTH} files deep", decl.loc)
            if os.path.abspath(path) not in seen:
                _gather(program, parse_text(read_spec_text(path, decl.loc), path), seen, depth + 1)
        elif isinstance(decl, ir.LetDecl):
            _add(program.lets, decl.name, decl, "let")
        elif isinstance(decl, (ir.BlockDecl, ir.ModelDecl)):
            other = program.models if isinstance(decl, ir.BlockDecl) else program.blocks
            if decl.name in other:
                _duplicate(decl.name, decl.loc, other[decl.name].loc)
            _add(program.blocks if isinstance(decl, ir.BlockDecl) else program.models, decl.name, decl, "")
        elif isinstance(decl, ir.DataDecl):
            _add(program.data, decl.name, decl, "data")
        elif isinstance(decl, ir.TrainDecl):
            _add(program.trains, decl.name, decl, "train")
        elif isinstance(decl, ir.UseDecl):
            program.uses.append(decl)


def _add(table: dict, name, decl, what: str) -> None:
    if name in table:
        _duplicate(name, decl.loc, table[name].loc, what)
    table[name] = decl


def _duplicate(name, loc: Loc, first: Loc, what: str = "") -> None:
    label = f"'{name}'" if name is not None else "an unnamed train block"
    raise DlspecError(f"{what + ' ' if what else ''}{label} is declared twice; the first is at {first}".strip(),
                      loc, hint="names of top-level declarations must be unique")


def resolve_path(path: str, loc: Loc) -> str:
    """A path written in a spec, resolved against the folder of that spec."""
    if os.path.isabs(path) or loc.file.startswith("<"):
        return path
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(loc.file)), path))


def _parse_overrides(program: Program, overrides: dict) -> dict:
    values = {}
    for name, raw in overrides.items():
        if name not in program.lets:
            raise UnknownNameError(f"--set {name}: the spec has no `let {name}`." + did_you_mean(name, program.lets),
                                   None, hint=let_hint(name, *program.declared))
        if isinstance(raw, str):
            try:
                expr = parse_expression(raw, f"<--set {name}>")
                raw = program.global_env().eval(expr)
            except DlspecError:
                pass  # not an expression: keep the text as a string
        elif isinstance(raw, (int, float)):
            raw = checked_number(raw, None, f"--set {name}")
        values[name] = raw
    return values
