"""Pooling: max/avg pooling with windows, adaptive pooling to a size, and global pooling."""
from __future__ import annotations

from ..schema.args import Arg, non_negative, positive
from ..shapes import Shape, as_tuple
from ._base import nn, spatial, _window_dims, layer

def _pool(kind: str):
    def infer(shape: Shape, a: dict) -> Shape:
        n = spatial(shape, f"{kind}pool")
        stride = a["stride"] if a["stride"] is not None else a["kernel"]
        dims = _window_dims(shape, n, a["kernel"], stride, a["padding"], a.get("dilation", 1),
                            a["ceil_mode"], what=f"{kind}pool", pool=True)
        return shape.with_dims([shape.dims[0]] + dims)

    def build(shape: Shape, a: dict):
        cls = getattr(nn(), f"{kind.capitalize()}Pool{shape.rank - 1}d")
        return cls(**{k: v for k, v in a.items()})
    return infer, build


_POOL_ARGS = (Arg("kernel", "ints", check=positive), Arg("stride", "ints", None, positive),
              Arg("padding", "ints", 0, non_negative))
_max_infer, _max_build = _pool("max")
_avg_infer, _avg_build = _pool("avg")
layer("maxpool", _POOL_ARGS + (Arg("dilation", "ints", 1, positive), Arg("ceil_mode", "bool", False)),
      infer=_max_infer, build=lambda s, a: _max_build(s, {("kernel_size" if k == "kernel" else k): v for k, v in a.items()}),
      aliases=("MaxPool1d", "MaxPool2d", "MaxPool3d"), channels_first=True,
      doc="Max pooling: maxpool(kernel, stride=kernel, padding=0).",
      examples=[((3, 9, 9), {"kernel": 2}), ((3, 12), {"kernel": 3, "stride": 2, "padding": 1})])
layer("avgpool", _POOL_ARGS + (Arg("ceil_mode", "bool", False), Arg("count_include_pad", "bool", True)),
      infer=_avg_infer, build=lambda s, a: _avg_build(s, {("kernel_size" if k == "kernel" else k): v for k, v in a.items()}),
      aliases=("AvgPool1d", "AvgPool2d", "AvgPool3d"), channels_first=True,
      doc="Average pooling: avgpool(kernel, stride=kernel, padding=0).",
      examples=[((3, 8, 8), {"kernel": 2})])


def _adaptive(kind: str, fixed_size=None):
    def infer(shape: Shape, a: dict) -> Shape:
        n = spatial(shape, f"adaptive_{kind}pool")
        size = as_tuple(fixed_size or a["size"], n)
        return shape.with_dims((shape.dims[0],) + size)

    def build(shape: Shape, a: dict):
        cls = getattr(nn(), f"Adaptive{kind.capitalize()}Pool{shape.rank - 1}d")
        return cls(fixed_size or a["size"])
    return infer, build


_i, _b = _adaptive("avg")
layer("adaptive_avgpool", (Arg("size", "ints", check=positive),), infer=_i, build=_b, channels_first=True,
      aliases=("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"),
      doc="Average pooling to a fixed output size: adaptive_avgpool(size).",
      examples=[((3, 9, 9), {"size": 2})])
_i, _b = _adaptive("max")
layer("adaptive_maxpool", (Arg("size", "ints", check=positive),), infer=_i, build=_b, channels_first=True,
      aliases=("AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"),
      doc="Max pooling to a fixed output size: adaptive_maxpool(size).",
      examples=[((3, 9, 9), {"size": [3, 1]})])
_i, _b = _adaptive("avg", 1)
layer("global_avgpool", (), infer=_i, build=_b, channels_first=True,
      doc="Average over all spatial positions: [C, H, W] -> [C, 1, 1], [T, F] -> [1, F]; follow with flatten.",
      examples=[((5, 7, 7), {})])
_i, _b = _adaptive("max", 1)
layer("global_maxpool", (), infer=_i, build=_b, channels_first=True,
      doc="Maximum over all spatial positions: [C, H, W] -> [C, 1, 1], [T, F] -> [1, F]; follow with flatten.",
      examples=[((5, 7), {})])
