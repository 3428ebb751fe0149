"""Built-in layers that move data around without weights: flatten, reshape,
permute, upsample and identity. Shape rules in pure Python.
"""
from __future__ import annotations

import math

from ..shapes import Shape, as_tuple, default_roles, parse_layout
from ..shapes import ShapeProblem
from ._base import SPATIAL_LAYOUTS, nn, layer
from ..schema.args import Arg, positive


def _flatten_infer(shape: Shape, a: dict) -> Shape:
    if shape.integer:  # token ids stay token ids along one time axis
        return Shape((shape.numel,), integer=True, vocab=shape.vocab, roles=("T",))
    return Shape((shape.numel,), roles=("F",))


layer("flatten", (), infer=_flatten_infer, build=lambda s, a: nn().Flatten(), aliases=("Flatten",),
      doc="Flatten each sample to a vector: [C, H, W] -> [C*H*W].", examples=[((3, 4, 5), {})])


def _reshape_infer(shape: Shape, a: dict) -> Shape:
    dims = list(a["shape"]) if isinstance(a["shape"], (list, tuple)) else [a["shape"]]
    if dims.count(-1) > 1 or any(d == 0 or d < -1 for d in dims):
        raise ShapeProblem("reshape takes positive sizes and at most one -1")
    known = math.prod(d for d in dims if d != -1)
    if -1 in dims:
        if shape.numel % known:
            raise ShapeProblem(f"cannot reshape {shape} ({shape.numel} values) to {dims}")
        dims[dims.index(-1)] = shape.numel // known
    elif known != shape.numel:
        raise ShapeProblem(f"cannot reshape {shape} ({shape.numel} values) to {dims} ({known} values)")
    if a["layout"] is not None:
        roles = parse_layout(a["layout"], len(dims))
    else:  # the same number of axes keeps their roles; otherwise read like tensor(...): channels first
        roles = shape.roles if len(dims) == shape.rank else default_roles(len(dims))
    return Shape(tuple(dims), roles=roles)


def _reshape_build(shape: Shape, a: dict):
    from ..runtime.graph import Reshape
    return Reshape(a["shape"] if isinstance(a["shape"], (list, tuple)) else (a["shape"],))


layer("reshape", (Arg("shape", "ints"), Arg("layout", "str", None, doc="axis roles, e.g. CL or TF")),
      infer=_reshape_infer, build=_reshape_build, varargs="shape",
      aliases=("Reshape", "view"),
      doc="Reshape each sample (batch dim left out): reshape(4, -1) or reshape([4, -1]). The result keeps "
          "its input's axis roles when the number of axes stays, and is otherwise channels first like "
          "tensor(...); layout=\"TF\" (or CL, CHW, HWC, ...) names them.",
      examples=[((4, 6), {"shape": (2, -1)})])


def _permute_infer(shape: Shape, a: dict) -> Shape:
    order = list(a["dims"])
    if len(order) == shape.rank:  # sample dims only, counted from 1 as in Keras
        order = [0] + order
    if sorted(order) != list(range(shape.rank + 1)) or order[0] != 0:
        raise ShapeProblem(f"permute needs an order of the dims 1..{shape.rank} (or 0..{shape.rank} "
                           f"with the batch dim 0 first); received {list(a['dims'])}")
    full = (None,) + shape.dims
    roles = tuple(shape.roles[i - 1] for i in order[1:]) if shape.roles is not None else None
    return Shape(tuple(full[i] for i in order[1:]), roles=roles)  # each axis takes its role along


def _permute_build(shape: Shape, a: dict):
    from ..runtime.graph import Permute
    order = list(a["dims"])
    return Permute([0] + order if len(order) == shape.rank else order)


layer("permute", (Arg("dims", "ints"),), infer=_permute_infer, build=_permute_build, varargs="dims",
      aliases=("Permute",),
      doc="Reorder dims: permute(0, 2, 1) counts the batch dim (0 first); permute(2, 1) counts from 1.",
      examples=[((3, 5), {"dims": (0, 2, 1)}), ((2, 3, 4), {"dims": (3, 1, 2)})])


def _upsample_infer(shape: Shape, a: dict) -> Shape:
    n = shape.rank - 1
    if n not in (1, 2, 3) or shape.integer:
        raise ShapeProblem(f"upsample needs a channels-first input {SPATIAL_LAYOUTS}")
    if (a["scale"] is None) == (a["size"] is None):
        raise ShapeProblem("upsample needs exactly one of scale or size")
    if a["size"] is not None:
        return shape.with_dims((shape.dims[0],) + as_tuple(a["size"], n))
    sides = [d * a["scale"] for d in shape.dims[1:]]
    if any(not math.isfinite(side) or side > 2**31 for side in sides):
        raise ShapeProblem(f"upsample({a['scale']:g}) makes the input {shape} far too large")
    if min(sides) < 1:
        raise ShapeProblem(f"upsample({a['scale']:g}) shrinks a side of {min(shape.dims[1:])} to nothing; "
                           f"scale must keep every side at least 1 (scale >= {1 / min(shape.dims[1:]):g} here)",
                           arg="scale")
    return shape.with_dims((shape.dims[0],) + tuple(int(math.floor(side)) for side in sides))


def _upsample_build(shape: Shape, a: dict):
    return nn().Upsample(size=a["size"], scale_factor=a["scale"], mode=a["mode"])


layer("upsample", (Arg("scale", "float", None, positive), Arg("size", "ints", None, positive),
                   Arg("mode", "str", "nearest", choices=("nearest", "linear", "bilinear", "bicubic", "trilinear"))),
      infer=_upsample_infer, build=_upsample_build, aliases=("Upsample",), channels_first=True,
      doc="Upsample the spatial dims: upsample(2) or upsample(size=[64, 64], mode=bilinear).",
      examples=[((3, 4, 4), {"scale": 2.0}), ((2, 5), {"size": 9})])

layer("identity", (), infer=lambda s, a: s, build=lambda s, a: nn().Identity(), aliases=("Identity",),
      doc="Pass the input through unchanged.", examples=[((3,), {})])
