"""The `matmul(a, b)` merge's shape rule: two operands' shapes in, the product's shape (or a located error) out.

`matmul` is a merge, like `add`: it takes two tensors, `a @ b` over one sample's last two axes
(`torch.matmul` on the batch). Both tensors have at least two axes per sample and the same number
of them; the axes before the last two broadcast (equal or 1). A `param` of two axes is a matrix
shared by every sample (`matmul(x, w)` with `param w(F, H)`), as torch broadcasts it over the batch.
Pure Python: the planner checks it before any weight exists.
"""
from __future__ import annotations

from ..errors import ShapeError
from ..shapes import Shape


def matmul_shape(call, shown: list, a: Shape, b: Shape, params: dict, inputs: list) -> Shape:
    """The shape of `a @ b` per sample; `shown` names the operands as the user wrote them."""
    what = f"matmul of {shown[0]} {a.labelled()} and {shown[1]} {b.labelled()}"
    is_param = [i in params for i in inputs]
    if all(is_param):
        raise ShapeError(f"{what}: at least one operand must be a tensor, not a param", call.loc)
    for shape, name, param in zip((a, b), shown, is_param):
        if shape.integer:
            raise ShapeError(f"{what}: {name} holds token ids, which are not amounts to multiply", call.loc,
                             hint="put an embedding first: x = words -> embedding(32)")
        if shape.rank < 2 or param and shape.rank != 2:
            kind = "a param must be a matrix of two axes" if param else "each sample must be a matrix (two axes or more)"
            raise ShapeError(f"{what}: {kind}; {name} has {shape.rank}", call.loc,
                             hint="reshape a vector to a matrix first (reshape(1, N)), or use linear for x @ W")
    if not any(is_param) and a.rank != b.rank:
        raise ShapeError(f"{what}: both need the same number of axes per sample ({a.rank} against {b.rank})",
                         call.loc, hint="reshape one of them; the axes before the last two pair up one by one")
    if a.dims[-1] != b.dims[-2]:
        raise ShapeError(f"{what}: the last axis of {shown[0]} ({a.dims[-1]}) must equal the second-to-last of "
                         f"{shown[1]} ({b.dims[-2]})", call.loc,
                         hint="a [n, k] @ [k, m] product gives [n, m]")
    lead_a, lead_b = a.dims[:-2], b.dims[:-2]
    lead = lead_a if len(lead_a) >= len(lead_b) else lead_b
    if lead_a and lead_b:
        lead = []
        for x, y in zip(lead_a, lead_b):
            if x != y and 1 not in (x, y):
                raise ShapeError(f"{what}: the axes before the last two must be equal or 1 ({lead_a} against "
                                 f"{lead_b})", call.loc)
            lead.append(max(x, y))
    dims = tuple(lead) + (a.dims[-2], b.dims[-1])
    base = b if is_param[0] else a
    return Shape(dims, roles=base.roles if base.rank == len(dims) else None)
