"""Convolutions: conv (1d/2d/3d by the input rank), conv1d/conv2d/conv3d and conv_transpose.

Input channels are inferred; output sizes follow torch's formulas, checked in
pure Python before any weight exists.
"""
from __future__ import annotations

import math

from ..schema.args import Arg, non_negative, positive
from ..shapes import Shape, ShapeProblem, as_tuple, conv_transpose_out
from ._base import _fmt, nn, spatial, _window_dims, layer

_CONV_ARGS = (
    Arg("out", "int", check=positive, doc="output channels"),
    Arg("kernel", "ints", check=positive, doc="kernel size"),
    Arg("stride", "ints", 1, positive),
    Arg("padding", "int_or_str", 0, lambda v: None if isinstance(v, str) else non_negative(v),
        doc="an int, a list, or same/valid"),
    Arg("dilation", "ints", 1, positive),
    Arg("groups", "int", 1, positive),
    Arg("bias", "bool", True),
    Arg("padding_mode", "str", "zeros", choices=("zeros", "reflect", "replicate", "circular")),
)


def _conv_infer(forced):
    def infer(shape: Shape, a: dict) -> Shape:
        n = spatial(shape, "conv", forced)
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
                    raise ShapeProblem("padding=same needs stride 1", arg="stride")
                _check_padding_mode(shape, a, _same_padding(a, n))
                return shape.with_dims((a["out"],) + shape.dims[1:])
            pad = 0
        _check_padding_mode(shape, a, as_tuple(pad, n))
        dims = _window_dims(shape, n, a["kernel"], a["stride"], pad, a["dilation"], what="conv")
        return shape.with_dims([a["out"]] + dims)
    return infer


def _same_padding(a: dict, n: int) -> tuple:
    """The widest side of the padding torch adds for padding=same (the total is dilation * (kernel - 1))."""
    total = [d * (k - 1) for k, d in zip(as_tuple(a["kernel"], n), as_tuple(a["dilation"], n))]
    return tuple(t - t // 2 for t in total)


# padding_mode -> (what torch allows of each side's padding against the input size, the rule in words)
_MODE_RULES = {"reflect": (lambda pad, size: pad < size, "less than"),
               "circular": (lambda pad, size: pad <= size, "at most")}


def _check_padding_mode(shape: Shape, a: dict, pads: tuple) -> None:
    """reflect mirrors inside the input and circular wraps around it once: both bound the padding by its size."""
    rule = _MODE_RULES.get(a["padding_mode"])
    if rule is None:
        return
    allowed, words = rule
    for pad, size in zip(pads, shape.dims[1:]):
        if not allowed(pad, size):
            raise ShapeProblem(f"padding_mode={a['padding_mode']} needs a padding {words} the input size it pads; "
                               f"padding {pad} against an axis of size {size}", arg="padding")


def _conv_build(shape: Shape, a: dict):
    n = shape.rank - 1
    cls = getattr(nn(), f"Conv{n}d")
    return cls(shape.dims[0], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
               dilation=a["dilation"], groups=a["groups"], bias=a["bias"], padding_mode=a["padding_mode"])


def _conv_macs(inp: Shape, out: Shape, a: dict) -> int:
    k = math.prod(as_tuple(a["kernel"], inp.rank - 1))
    return out.numel * (inp.dims[0] // a["groups"]) * k


_CONV_DOC = """Convolution over a channels-first input; input channels are inferred.

conv(out, kernel, stride=1, padding=0, dilation=1, groups=1, bias=true).
The dimensionality follows the input: [C, L] -> 1d, [C, H, W] -> 2d, [C, D, H, W] -> 3d;
on a sequence [T, F] the features are the channels and it convolves along time."""

layer("conv", _CONV_ARGS, infer=_conv_infer(None), build=_conv_build, macs=_conv_macs, doc=_CONV_DOC,
      channels_first=True, weights="matrix",
      examples=[((3, 16, 16), {"out": 8, "kernel": 3}), ((2, 20), {"out": 4, "kernel": 5, "padding": "same"}),
                ((2, 6, 6, 6), {"out": 4, "kernel": 3, "stride": 2})])
for _n in (1, 2, 3):
    layer(f"conv{_n}d", _CONV_ARGS, infer=_conv_infer(_n), build=_conv_build, macs=_conv_macs, channels_first=True, weights="matrix",
          aliases=(f"Conv{_n}d",), doc=f"{_n}-d convolution; like conv but insists on a {_n}-d input.",
          examples=[((4,) + (10,) * _n, {"out": 6, "kernel": 3, "padding": 1})])


def _conv_t_infer(shape: Shape, a: dict) -> Shape:
    n = spatial(shape, "conv_transpose")
    k, s, p = as_tuple(a["kernel"], n), as_tuple(a["stride"], n), as_tuple(a["padding"], n)
    op, d = as_tuple(a["output_padding"], n), as_tuple(a["dilation"], n)
    if any(o >= si and o >= di for o, si, di in zip(op, s, d)):
        raise ShapeProblem(f"output_padding {_fmt(op)} must be smaller than the stride ({_fmt(s)}) or the "
                           f"dilation ({_fmt(d)}) along each axis", arg="output_padding")
    dims = [conv_transpose_out(size, *args) for size, *args in zip(shape.dims[1:], k, s, p, op, d)]
    if min(dims) <= 0:
        raise ShapeProblem("conv_transpose: padding is too large for this input")
    return shape.with_dims([a["out"]] + dims)


def _conv_t_build(shape: Shape, a: dict):
    cls = getattr(nn(), f"ConvTranspose{shape.rank - 1}d")
    return cls(shape.dims[0], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
               output_padding=a["output_padding"], groups=a["groups"], bias=a["bias"], dilation=a["dilation"])


layer("conv_transpose", (_CONV_ARGS[0], _CONV_ARGS[1], _CONV_ARGS[2], Arg("padding", "ints", 0, non_negative),
                         Arg("output_padding", "ints", 0, non_negative), Arg("groups", "int", 1, positive),
                         Arg("bias", "bool", True), Arg("dilation", "ints", 1, positive)),
      infer=_conv_t_infer, build=_conv_t_build, channels_first=True, weights="matrix", aliases=("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"),
      doc="Transposed convolution (learned upsampling): conv_transpose(out, kernel, stride=1, padding=0).",
      macs=lambda i, o, a: i.numel * (o.dims[0] // a["groups"]) * math.prod(as_tuple(a["kernel"], i.rank - 1)),
      examples=[((8, 7, 7), {"out": 4, "kernel": 2, "stride": 2})])
