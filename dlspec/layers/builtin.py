"""The built-in layers of LANGUAGE.md §4: a registration per layer, torch built lazily.

Each layer's shape rule works on `Shape`s without torch; its builder imports
torch only when a module is actually made. Input sizes (channels,
in_features, normalised features) come from the incoming shape, never from
the user.
"""
from __future__ import annotations

import math

from ..shapes import Shape, as_tuple, conv_out, conv_transpose_out
from .registry import Arg, LayerDef, non_negative, positive, register_layer


class ShapeProblem(Exception):
    """Raised by a shape rule; the planner adds the spec line and incoming shape."""


def _nn():
    import torch.nn as nn
    return nn


def layer(name, args=(), *, infer, build, doc, aliases=(), macs=None, examples=(), **extra):
    return register_layer(LayerDef(name=name, args=tuple(args), infer=infer, build=build, doc=doc,
                                   aliases=tuple(aliases), macs=macs, examples=tuple(examples),
                                   extra=extra))


def _need_features(shape: Shape, what: str) -> None:
    if shape.integer:
        raise ShapeProblem(f"{what} needs float features, but its input holds integer token ids; "
                           "put an embedding first")


def _spatial(shape: Shape, what: str, forced: int | None = None) -> int:
    """Number of spatial dims of a channels-first input, checked for `what`."""
    _need_features(shape, what)
    n = shape.rank - 1
    if forced is not None and n != forced:
        want = {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}[forced]
        raise ShapeProblem(f"{what} needs an input of shape {want}")
    if n not in (1, 2, 3):
        raise ShapeProblem(f"{what} needs a channels-first input [C, L], [C, H, W] or [C, D, H, W]"
                           + (" (it comes after flatten?)" if shape.rank == 1 else ""))
    return n


def _window_dims(shape: Shape, n: int, kernel, stride, padding, dilation=1, ceil=False, what="layer"):
    k, s = as_tuple(kernel, n), as_tuple(stride, n)
    p, d = as_tuple(padding, n), as_tuple(dilation, n)
    out = []
    for size, ki, si, pi, di in zip(shape.dims[1:], k, s, p, d):
        o = conv_out(size, ki, si, pi, di) if not ceil else -(-(size + 2 * pi - di * (ki - 1) - 1) // si) + 1
        if ceil and (o - 1) * si >= size + pi:
            o -= 1
        if o <= 0:
            raise ShapeProblem(f"{what}: kernel {_fmt(k)} (padding {_fmt(p)}, dilation {_fmt(d)}) is larger "
                               f"than the {'x'.join(map(str, shape.dims[1:]))} input")
        out.append(o)
    return out


def _fmt(t):
    return str(t[0]) if len(set(t)) == 1 else "x".join(map(str, t))


# ---- convolutions ------------------------------------------------------

_CONV_ARGS = (
    Arg("out", "int", check=positive, doc="output channels"),
    Arg("kernel", "ints", check=positive, doc="kernel size"),
    Arg("stride", "ints", 1, positive),
    Arg("padding", "int_or_str", 0, doc="an int, a list, or same/valid"),
    Arg("dilation", "ints", 1, positive),
    Arg("groups", "int", 1, positive),
    Arg("bias", "bool", True),
    Arg("padding_mode", "str", "zeros", choices=("zeros", "reflect", "replicate", "circular")),
)


def _conv_infer(forced):
    def infer(shape: Shape, a: dict) -> Shape:
        n = _spatial(shape, "conv", forced)
        channels = shape.dims[0]
        if channels % a["groups"] or a["out"] % a["groups"]:
            raise ShapeProblem(f"groups={a['groups']} must divide both the {channels} input channels "
                               f"and the {a['out']} output channels")
        pad = a["padding"]
        if isinstance(pad, str):
            if pad not in ("same", "valid"):
                raise ShapeProblem(f"padding must be a number, same or valid; received {pad}")
            if pad == "same":
                if as_tuple(a["stride"], n) != (1,) * n:
                    raise ShapeProblem("padding=same needs stride 1")
                return shape.with_dims((a["out"],) + shape.dims[1:])
            pad = 0
        dims = _window_dims(shape, n, a["kernel"], a["stride"], pad, a["dilation"], what="conv")
        return shape.with_dims([a["out"]] + dims)
    return infer


def _conv_build(shape: Shape, a: dict):
    n = shape.rank - 1
    cls = getattr(_nn(), f"Conv{n}d")
    return cls(shape.dims[0], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
               dilation=a["dilation"], groups=a["groups"], bias=a["bias"], padding_mode=a["padding_mode"])


def _conv_macs(inp: Shape, out: Shape, a: dict) -> int:
    k = math.prod(as_tuple(a["kernel"], inp.rank - 1))
    return out.numel * (inp.dims[0] // a["groups"]) * k


_CONV_DOC = """Convolution over a channels-first input; input channels are inferred.

conv(out, kernel, stride=1, padding=0, dilation=1, groups=1, bias=true).
The dimensionality follows the input: [C, L] -> 1d, [C, H, W] -> 2d, [C, D, H, W] -> 3d."""

layer("conv", _CONV_ARGS, infer=_conv_infer(None), build=_conv_build, macs=_conv_macs, doc=_CONV_DOC,
      channels_first=True,
      examples=[((3, 16, 16), {"out": 8, "kernel": 3}), ((2, 20), {"out": 4, "kernel": 5, "padding": "same"}),
                ((2, 6, 6, 6), {"out": 4, "kernel": 3, "stride": 2})])
for _n in (1, 2, 3):
    layer(f"conv{_n}d", _CONV_ARGS, infer=_conv_infer(_n), build=_conv_build, macs=_conv_macs, channels_first=_n == 1,
          aliases=(f"Conv{_n}d",), doc=f"{_n}-d convolution; like conv but insists on a {_n}-d input.",
          examples=[((4,) + (10,) * _n, {"out": 6, "kernel": 3, "padding": 1})])


def _conv_t_infer(shape: Shape, a: dict) -> Shape:
    n = _spatial(shape, "conv_transpose")
    k, s, p = as_tuple(a["kernel"], n), as_tuple(a["stride"], n), as_tuple(a["padding"], n)
    op, d = as_tuple(a["output_padding"], n), as_tuple(a["dilation"], n)
    dims = [conv_transpose_out(size, *args) for size, *args in zip(shape.dims[1:], k, s, p, op, d)]
    if min(dims) <= 0:
        raise ShapeProblem("conv_transpose: padding is too large for this input")
    return shape.with_dims([a["out"]] + dims)


def _conv_t_build(shape: Shape, a: dict):
    cls = getattr(_nn(), f"ConvTranspose{shape.rank - 1}d")
    return cls(shape.dims[0], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
               output_padding=a["output_padding"], groups=a["groups"], bias=a["bias"], dilation=a["dilation"])


layer("conv_transpose", (_CONV_ARGS[0], _CONV_ARGS[1], _CONV_ARGS[2], Arg("padding", "ints", 0, non_negative),
                         Arg("output_padding", "ints", 0, non_negative), Arg("groups", "int", 1, positive),
                         Arg("bias", "bool", True), Arg("dilation", "ints", 1, positive)),
      infer=_conv_t_infer, build=_conv_t_build, aliases=("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"),
      doc="Transposed convolution (learned upsampling): conv_transpose(out, kernel, stride=1, padding=0).",
      macs=lambda i, o, a: i.numel * (o.dims[0] // a["groups"]) * math.prod(as_tuple(a["kernel"], i.rank - 1)),
      examples=[((8, 7, 7), {"out": 4, "kernel": 2, "stride": 2})])


# ---- pooling -----------------------------------------------------------


def _pool(kind: str):
    def infer(shape: Shape, a: dict) -> Shape:
        n = _spatial(shape, f"{kind}pool")
        stride = a["stride"] if a["stride"] is not None else a["kernel"]
        dims = _window_dims(shape, n, a["kernel"], stride, a["padding"], a.get("dilation", 1),
                            a["ceil_mode"], what=f"{kind}pool")
        return shape.with_dims([shape.dims[0]] + dims)

    def build(shape: Shape, a: dict):
        cls = getattr(_nn(), f"{kind.capitalize()}Pool{shape.rank - 1}d")
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
        n = _spatial(shape, f"adaptive_{kind}pool")
        size = as_tuple(fixed_size or a["size"], n)
        return shape.with_dims((shape.dims[0],) + size)

    def build(shape: Shape, a: dict):
        cls = getattr(_nn(), f"Adaptive{kind.capitalize()}Pool{shape.rank - 1}d")
        return cls(fixed_size or a["size"])
    return infer, build


_i, _b = _adaptive("avg")
layer("adaptive_avgpool", (Arg("size", "ints", check=positive),), infer=_i, build=_b,
      aliases=("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d"),
      doc="Average pooling to a fixed output size: adaptive_avgpool(size).",
      examples=[((3, 9, 9), {"size": 2})])
_i, _b = _adaptive("max")
layer("adaptive_maxpool", (Arg("size", "ints", check=positive),), infer=_i, build=_b,
      aliases=("AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"),
      doc="Max pooling to a fixed output size: adaptive_maxpool(size).",
      examples=[((3, 9, 9), {"size": [3, 1]})])
_i, _b = _adaptive("avg", 1)
layer("global_avgpool", (), infer=_i, build=_b,
      doc="Average over all spatial positions: [C, H, W] -> [C, 1, 1]; follow with flatten.",
      examples=[((5, 7, 7), {})])
_i, _b = _adaptive("max", 1)
layer("global_maxpool", (), infer=_i, build=_b,
      doc="Maximum over all spatial positions: [C, H, W] -> [C, 1, 1]; follow with flatten.",
      examples=[((5, 7), {})])

from . import core, reshape  # noqa: E402,F401 - the rest of the built-ins register on import
from . import recurrent  # noqa: E402,F401
