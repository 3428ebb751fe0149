"""Dropout: dropout(p) on any features, dropout2d(p) on whole channels."""
from __future__ import annotations

from ..schema.args import Arg, probability
from ..shapes import Shape, ShapeProblem
from ._base import features, need_features, nn, layer

layer("dropout", (Arg("p", "float", 0.5, probability),), infer=features("dropout"),
      build=lambda s, a: nn().Dropout(a["p"]), aliases=("Dropout",),
      doc="Zero each element with probability p while training: dropout(p=0.5).",
      examples=[((10,), {"p": 0.2})])


def _dropout2d_infer(shape: Shape, a: dict) -> Shape:
    need_features(shape, "dropout2d")
    if shape.rank not in (2, 3, 4):
        raise ShapeProblem("dropout2d needs a channel axis and 1 to 3 spatial axes: [C, H, W], [C, L], "
                           "a sequence [T, F] or [C, D, H, W]")
    return shape


def _dropout2d_build(shape: Shape, a: dict):
    # torch's Dropout2d reads a 3-d batch as unbatched; each rank gets its own form
    return getattr(nn(), f"Dropout{shape.rank - 1}d")(a["p"])


layer("dropout2d", (Arg("p", "float", 0.5, probability),), infer=_dropout2d_infer, build=_dropout2d_build,
      aliases=("Dropout2d", "Dropout1d", "Dropout3d"), channels_first=True,
      doc="Zero whole channels with probability p while training: dropout2d(p=0.5). On [C, L] and on a "
          "sequence [T, F] (whose F are the channels) it is Dropout1d, on [C, D, H, W] Dropout3d.",
      examples=[((4, 5, 5), {"p": 0.1}), ((3, 8), {"p": 0.2})])
