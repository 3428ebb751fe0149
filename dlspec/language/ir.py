"""The intermediate representation: what the parser makes of a spec.

Parser output in, plain frozen dataclasses out; no torch, no evaluation. Every
node carries the `Loc` (file, line, column) it came from, so later stages can
point at the spot a user has to fix.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from ..errors import Loc

# ---- expressions -------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """A number, string, boolean or none."""

    value: object
    loc: Loc


@dataclass(frozen=True)
class Name:
    """A (possibly dotted) name: a `let` variable, a symbol like `horizontal`, a callee."""

    name: str
    loc: Loc


@dataclass(frozen=True)
class InputRef:
    """`input` used as a value: the incoming tensor of a model or block."""

    loc: Loc


@dataclass(frozen=True)
class ListExpr:
    items: tuple
    loc: Loc


@dataclass(frozen=True)
class DictExpr:
    items: tuple  # of (key, Expr)
    loc: Loc


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / //
    left: "Expr"
    right: "Expr"
    loc: Loc


@dataclass(frozen=True)
class Neg:
    operand: "Expr"
    loc: Loc


@dataclass(frozen=True)
class Kwarg:
    name: str
    value: "Expr"
    loc: Loc


@dataclass(frozen=True)
class Call:
    """`callee(args, key=value)`; also used for layer steps and sources."""

    callee: str
    args: tuple  # of Expr
    kwargs: tuple  # of Kwarg
    loc: Loc


SPACE_KINDS = ("loguniform", "uniform", "int", "choice")


@dataclass(frozen=True)
class SearchSpace:
    """`loguniform(lo, hi)`, `uniform(lo, hi)`, `int(lo, hi)` or `choice(a, b, ...)` as the whole value
    of a `let`: the values `dlspec tune` searches."""

    kind: str
    args: tuple  # of Expr
    kwargs: tuple  # of Kwarg
    loc: Loc


Expr = Union[Literal, Name, InputRef, ListExpr, DictExpr, BinOp, Neg, Call, SearchSpace]

# ---- model bodies ------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One element of a chain: a layer, block or merge call, a name, or `input`."""

    target: Expr  # Call, Name or InputRef
    label: Optional[str]
    loc: Loc


@dataclass(frozen=True)
class Chain:
    steps: tuple  # of Step
    loc: Loc


@dataclass(frozen=True)
class Binding:
    name: str
    chain: Chain
    loc: Loc
    # `mu, logvar = h -> chunk(2)`: every name bound, in order (name is the first); () for one name
    names: tuple = ()


@dataclass(frozen=True)
class Repeat:
    count: Expr
    body: "Body"
    loc: Loc


@dataclass(frozen=True)
class InputDecl:
    """`input KIND(...)`, or `input NAME: KIND(...)` (a named input; a model may have several)."""

    kind: str
    args: tuple
    kwargs: tuple
    loc: Loc
    name: Optional[str] = None


@dataclass(frozen=True)
class Labelled:
    """`price: mse * 0.5` in a train setting: a value for one named output of the model."""

    label: str
    value: "Expr"
    loc: Loc


@dataclass(frozen=True)
class OutputDecl:
    """`output NAME = CHAIN`: a named result the model returns (a model may have several)."""

    name: str
    chain: Chain
    loc: Loc


@dataclass(frozen=True)
class ParamDecl:
    name: str
    args: tuple
    kwargs: tuple
    init: Expr
    loc: Loc


Statement = Union[InputDecl, OutputDecl, ParamDecl, Repeat, Binding, Chain]


@dataclass(frozen=True)
class Body:
    statements: tuple
    loc: Loc


# ---- declarations ------------------------------------------------------


@dataclass(frozen=True)
class LetDecl:
    name: str
    value: Expr
    loc: Loc


@dataclass(frozen=True)
class UseDecl:
    target: str
    is_file: bool
    loc: Loc


@dataclass(frozen=True)
class IncludeDecl:
    path: str
    loc: Loc


@dataclass(frozen=True)
class BlockParam:
    name: str
    default: Optional[Expr]
    loc: Loc


@dataclass(frozen=True)
class BlockDecl:
    name: str
    params: tuple  # of BlockParam
    body: Body
    loc: Loc


@dataclass(frozen=True)
class ModelDecl:
    name: str
    body: Body
    loc: Loc


@dataclass(frozen=True)
class Setting:
    """`key item item key=value { chain ... }` inside a data or train block."""

    key: str
    args: tuple  # of Expr
    kwargs: tuple  # of Kwarg
    body: Optional[tuple]  # of Chain, for transform { ... } / augment { ... }
    loc: Loc


@dataclass(frozen=True)
class DataDecl:
    name: str
    settings: tuple
    loc: Loc


@dataclass(frozen=True)
class TrainDecl:
    name: Optional[str]
    settings: tuple
    loc: Loc


Decl = Union[LetDecl, UseDecl, IncludeDecl, BlockDecl, ModelDecl, DataDecl, TrainDecl]


@dataclass(frozen=True)
class SpecFile:
    """One parsed file: its declarations in source order."""

    filename: str
    decls: tuple = field(default_factory=tuple)
