"""Plan nodes: the tree the planner makes and the compiler reads (pure Python, no torch).

Also the two helpers every planning module needs: evaluating a call's
arguments with their locations, and checking a size.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from . import ir
from .errors import ArgumentError, Loc
from .layers.registry import LayerDef
from .resolve import Env
from .shapes import Shape

MERGES = ("add", "mul", "concat")


@dataclass
class LayerNode:
    """One layer with its bound arguments and shapes."""

    name: str
    layer: LayerDef
    args: dict
    in_shape: Shape
    out_shape: Shape
    loc: Loc
    time_major: bool = False  # a channels-first layer applied to a [T, F] sequence (transposed around it)


@dataclass
class ParamNode:
    """A `param NAME(dims) = INIT` declaration."""

    name: str
    shape: tuple
    init: tuple  # (kind, {arguments})
    loc: Loc


@dataclass
class BodyNode:
    """A model or block body: sequential children, or a graph of operations."""

    name: str
    block: Optional[str]
    graph: bool
    in_shape: Shape
    out_shape: Shape
    loc: Loc
    children: list = field(default_factory=list)
    params: list = field(default_factory=list)
    ops: list = field(default_factory=list)
    output: str = "input"


def evaluate_args(node, env: Env):
    """Evaluate a call's arguments; also return the Loc of each (by index or name)."""
    if isinstance(node, ir.Name):
        return [], {}, {}
    args = [env.eval(a) for a in node.args]
    kwargs, locs = {}, {i: a.loc for i, a in enumerate(node.args)}
    for kw in node.kwargs:
        if kw.name in kwargs:
            raise ArgumentError(f"argument '{kw.name}' given twice", kw.loc)
        kwargs[kw.name] = env.eval(kw.value)
        locs[kw.name] = kw.loc
    return args, kwargs, locs


def int_dim(value, loc: Loc) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ArgumentError(f"a size must be a positive integer, received {value!r}", loc)
    return value
