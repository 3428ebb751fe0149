"""Merge shapes: the operands of add, mul or concat (their shapes, and which of them are params) in,
the merged shape out, with the concat dim and, per operand, the batched axes the run inserts before broadcasting.

add/mul line up the axes of one sample by role (docs/language.md, "Axes") and broadcast the rest;
concat joins along the shared channel (feature) axis unless a dim is written. Every mismatch is a
located ShapeError naming the operands as the user wrote them (planning/graph.py calls this).
"""
from __future__ import annotations

from typing import Optional

from ..errors import ShapeError, warn
from ..language import ir
from ..shapes import Shape, broadcast, expanded_dims, role_positions
from .nodes import TEMP_PREFIX


def merged_shape(call: ir.Call, inputs: list, known: dict, params: dict, dim) -> tuple:
    """add, mul or concat of `inputs` (names in `known`, a shape each, or float constants):
    (the merged Shape, the concat dim counted with the batch dim, per input the batched axes to insert)."""
    shapes = [known[i] if not isinstance(i, float) else None for i in inputs]
    tensors = [s for s, i in zip(shapes, inputs) if s is not None and i not in params]
    if not tensors:
        raise ShapeError(f"{call.callee} needs at least one tensor that is not a param", call.loc)
    if call.callee == "concat":
        shape, dim = _concat_shape(call, tensors, dim)
        return shape, dim, ()
    if any(t.integer for t in tensors):
        raise ShapeError(f"{call.callee} of token ids: ids are names of words, not amounts to "
                         f"{'add' if call.callee == 'add' else 'multiply'}", call.loc,
                         hint="put an embedding first: x = input -> embedding(32)")
    base = max(tensors, key=lambda t: t.rank)  # the first of the largest rank
    tensor = [s is not None and i not in params for s, i in zip(shapes, inputs)]
    placed = [role_positions(s, base) if t else None for s, t in zip(shapes, tensor)]
    dims = base.dims
    for s, i, where, t in zip(shapes, inputs, placed, tensor):
        if s is None:
            continue
        if t and where is None:
            raise ShapeError(f"{call.callee} of {base.labelled()} and {s.labelled()}: their axes have different "
                             f"roles, so no axis of one lines up with the other", call.loc,
                             hint="permute or reshape(..., layout=...) one of them so the roles match")
        other = expanded_dims(s, base, where) if t else _param_dims(s.dims, len(dims))
        merged = broadcast(dims, other) if other is not None else None
        if merged is None or (i in params and merged != dims):
            first = next(name for name, shape in zip(inputs, shapes) if shape is base)
            raise ShapeError(f"{call.callee} of {shown_operand(first, params)} {base.labelled()} and "
                             f"{shown_operand(i, params)} {s.labelled()}: "
                             + _mismatch(dims, other, base.roles, i in params),
                             call.loc, hint="add and mul need equal (or broadcastable) shapes")
        dims = merged
    merged = Shape(tuple(dims), roles=base.roles)
    if call.callee == "add":
        _warn_spread(call, inputs, shapes, placed, merged)
    expand = tuple(_inserted_axes(where, base.rank) if t else () for where, t in zip(placed, tensor))
    return merged, 1, expand if any(expand) else ()


def shown_operand(name: str, params) -> str:
    """An operand as the user wrote it: a bound name, input, param s, or 'a chain' for an unnamed one."""
    if name in params:
        return f"param {name}"
    return "a chain" if name.startswith(TEMP_PREFIX) else name


def _mismatch(dims: tuple, other: Optional[tuple], roles: Optional[tuple], param: bool) -> str:
    """Why two operands do not broadcast, axis by axis (right-aligned, as torch lines them up)."""
    if other is None:
        return f"the param has more axes than the {len(dims)} of each sample (a leading 1 may stand for the batch)"
    reasons = []
    for j in range(1, len(other) + 1):
        mine, theirs = dims[-j], other[-j]
        axis = roles[-j] if roles else f"axis {len(dims) - j + 1}"
        if mine != theirs and (1 not in (mine, theirs) or param and mine == 1):
            reasons.append(f"{axis} {mine} against {theirs}")
    if param:
        return (", ".join(reversed(reasons)) + ": a param's sizes must equal the tensor's or be 1 "
                "(a param spreads over the tensor; it cannot widen it)")
    return ", ".join(reversed(reasons)) + ": sizes must be equal or 1"


def _param_dims(dims: tuple, rank: int) -> Optional[tuple]:
    """A param's dims seen against a per-sample shape of `rank` (a leading 1 is the batch)."""
    if len(dims) == rank + 1:
        return dims[1:] if dims[0] == 1 else None
    return dims if len(dims) <= rank else None


def _inserted_axes(positions: tuple, rank: int) -> tuple:
    """The batched axes (dim 0 is the batch) to insert, in increasing order, so an operand whose axes sit
    at `positions` among `rank` per-sample axes lines up with the others."""
    return tuple(j + 1 for j in range(rank) if j not in positions)


def _warn_spread(call, inputs, shapes, placed, merged: Shape) -> None:
    """An add that spreads a computed result over a larger spatial or time size of another: the residual
    shortcut that forgot its stride ([512, 1, 1] + [512, 2, 2]). Params, constants and an axis the operand
    does not have at all (a pooled [F] added to every step) are meant to broadcast."""
    spatial = set(merged.spatial_axes)
    for name, s, where in zip(inputs, shapes, placed):
        if where is None:
            continue
        spread = [j for size, j in zip(s.dims, where) if j in spatial and size == 1 and merged.dims[j] > 1]
        if spread:
            shown = name if not name.startswith(TEMP_PREFIX) else "an operand"
            axes = ", ".join(f"{merged.roles[j]}={merged.dims[j]}" for j in spread)
            warn(f"add broadcasts {shown} {s.labelled()} over {axes} of the result {merged.labelled()}: one value "
                 f"is added at every position", call.loc,
                 hint="a residual shortcut needs the same stride and pooling as its branch; to add a pooled "
                      "summary on purpose, flatten it first (a [C] vector is added to every position silently)")


def _concat_shape(call, tensors, dim) -> tuple:
    """(the joined Shape, the dim counted with the batch dim); no `dim`: the channel (feature) axis."""
    rank = tensors[0].rank
    if dim is None:
        dim = _channel_dim(call, tensors)
    d = dim + rank + 1 if dim < 0 else dim
    if not 1 <= d <= rank:
        raise ShapeError(f"concat: dim={dim} is out of range (dims count the batch dim: 1..{rank})", call.loc)
    total = 0
    for s in tensors:
        if s.rank != rank or any(a != b for k, (a, b) in enumerate(zip(s.dims, tensors[0].dims)) if k != d - 1):
            raise ShapeError(f"concat along dim {dim} of {tensors[0]} and {s}: the other dims must match", call.loc)
        total += s.dims[d - 1]
    dims = list(tensors[0].dims)
    dims[d - 1] = total
    same_roles = all(s.roles == tensors[0].roles for s in tensors)
    ids = all(s.integer for s in tensors)  # token ids joined stay token ids
    return Shape(tuple(dims), integer=ids, vocab=tensors[0].vocab if ids else None,
                 roles=tensors[0].roles if same_roles else None), d


def _channel_dim(call, tensors) -> int:
    """concat's default dim: the channel (feature) axis the operands share, counted with the batch dim."""
    first = tensors[0]
    for s in tensors:
        if s.roles is None:
            raise ShapeError(f"concat joins along the channel (feature) axis, and the axes of {s} have no known "
                             f"roles (a torch.nn or plugin layer changed its shape)", call.loc,
                             hint="write the dim, counted with the batch dim: concat(a, b, dim=1)")
        if s.roles != first.roles:
            raise ShapeError(f"concat of {first.labelled()} and {s.labelled()}: their axes have different roles",
                             call.loc, hint="permute or reshape one of them, or write dim=")
    if first.channel_axis is None:
        raise ShapeError(f"concat joins along the channel (feature) axis, and {first.labelled()} has none",
                         call.loc, hint="write the dim, counted with the batch dim: concat(a, b, dim=1)")
    return first.channel_axis + 1
