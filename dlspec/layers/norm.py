"""Normalisation: batchnorm, layernorm and groupnorm; the normalised features are inferred."""
from __future__ import annotations

import math

from ..schema.args import Arg, positive
from ..shapes import Shape, ShapeProblem
from ._base import SPATIAL_LAYOUTS, need_features, nn, layer

def _bn_build(shape: Shape, a: dict):
    n = {1: 1, 2: 1, 3: 2, 4: 3}.get(shape.rank)
    return getattr(nn(), f"BatchNorm{n}d")(shape.dims[0], eps=a["eps"], momentum=a["momentum"], affine=a["affine"])


def _norm_macs(i: Shape, o: Shape, a: dict) -> int:
    return i.numel  # one scale-and-shift per element


def _bn_infer(shape: Shape, a: dict) -> Shape:
    need_features(shape, "batchnorm")
    if shape.rank not in (1, 2, 3, 4):
        raise ShapeProblem("batchnorm needs [N], [C, L], [C, H, W] or [C, D, H, W]")
    return shape


layer("batchnorm", (Arg("eps", "float", 1e-5, positive), Arg("momentum", "float", 0.1),
                    Arg("affine", "bool", True)),
      infer=_bn_infer, build=_bn_build, macs=_norm_macs, weights="scale", aliases=("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "batch_norm"),
      channels_first=True,
      doc="Batch normalisation over the channel (first) dimension; features are inferred.",
      examples=[((6, 5, 5), {}), ((10,), {"momentum": 0.01}), ((4, 9), {})])


def _ln_infer(shape: Shape, a: dict) -> Shape:
    need_features(shape, "layernorm")
    if shape.rank == 0:
        raise ShapeProblem("layernorm needs at least one feature dimension")
    return shape


layer("layernorm", (Arg("eps", "float", 1e-5, positive), Arg("affine", "bool", True)),
      infer=_ln_infer, macs=_norm_macs, weights="scale",
      build=lambda s, a: nn().LayerNorm(s.dims[-1], eps=a["eps"], elementwise_affine=a["affine"]),
      aliases=("LayerNorm", "layer_norm"),
      doc="Layer normalisation over the last dimension (the features of each position).",
      examples=[((12,), {}), ((5, 8), {})])


def _gn_infer(shape: Shape, a: dict) -> Shape:
    need_features(shape, "groupnorm")
    if shape.rank < 2:
        raise ShapeProblem(f"groupnorm needs a channels-first input {SPATIAL_LAYOUTS}; it does not take a "
                           f"vector {shape} (layernorm normalises a vector's features)")
    if shape.dims[0] % a["groups"]:
        raise ShapeProblem(f"groupnorm({a['groups']}) needs channels that divide into {a['groups']} groups; "
                           f"{shape.dims[0]} channels do not", arg="groups")
    return shape


layer("groupnorm", (Arg("groups", "int", check=positive), Arg("eps", "float", 1e-5, positive),
                    Arg("affine", "bool", True)),
      infer=_gn_infer, macs=_norm_macs, channels_first=True, weights="scale", build=lambda s, a: nn().GroupNorm(a["groups"], s.dims[0], eps=a["eps"], affine=a["affine"]),
      aliases=("GroupNorm", "group_norm"), doc="Group normalisation: groupnorm(groups) over channel groups.",
      examples=[((8, 4, 4), {"groups": 2})])


def _in_infer(shape: Shape, a: dict) -> Shape:
    need_features(shape, "instancenorm")
    if shape.rank not in (2, 3, 4):
        raise ShapeProblem("instancenorm needs a channel axis and 1 to 3 spatial axes: [C, L], [C, H, W] "
                           "or [C, D, H, W] (or a sequence [T, F])")
    if math.prod(shape.dims[1:]) == 1:  # torch refuses this in training, where its variance is undefined
        raise ShapeProblem("instancenorm needs more than 1 spatial (or time) position per channel to normalise "
                           "over; this input has 1")
    return shape


def _in_build(shape: Shape, a: dict):
    cls = getattr(nn(), f"InstanceNorm{shape.rank - 1}d")
    return cls(shape.dims[0], eps=a["eps"], momentum=a["momentum"], affine=a["affine"],
               track_running_stats=a["track_running_stats"])


layer("instancenorm", (Arg("eps", "float", 1e-5, positive), Arg("momentum", "float", 0.1),
                       Arg("affine", "bool", False), Arg("track_running_stats", "bool", False)),
      infer=_in_infer, build=_in_build, macs=_norm_macs, channels_first=True, weights="scale",
      aliases=("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "instance_norm"),
      doc="Instance normalisation: each channel of each sample over its spatial (or time) positions.",
      examples=[((6, 5, 5), {}), ((4, 9), {"affine": True})])
