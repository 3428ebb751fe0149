"""Dropout: dropout(p) on any features, dropout2d(p) on whole channels."""
from __future__ import annotations

from ..schema.args import Arg, probability
from ..shapes import Shape, ShapeProblem
from ._base import _features, _need_features, _nn, layer

layer("dropout", (Arg("p", "float", 0.5, probability),), infer=_features("dropout"),
      build=lambda s, a: _nn().Dropout(a["p"]), aliases=("Dropout",),
      doc="Zero each element with probability p while training: dropout(p=0.5).",
      examples=[((10,), {"p": 0.2})])


def _dropout2d_infer(shape: Shape, a: dict) -> Shape:
    _need_features(shape, "dropout2d")
    if shape.rank != 3:
        raise ShapeProblem("dropout2d needs an image-like input [C, H, W]")
    return shape


layer("dropout2d", (Arg("p", "float", 0.5, probability),), infer=_dropout2d_infer,
      build=lambda s, a: _nn().Dropout2d(a["p"]), aliases=("Dropout2d",),
      doc="Zero whole channels with probability p while training: dropout2d(p=0.5).",
      examples=[((4, 5, 5), {"p": 0.1})])
