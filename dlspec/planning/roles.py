"""Axis roles through one layer: a layer, its input `Shape` and bound arguments in, the output `Shape`
(with roles) and the axis its channels were moved from out.

A layer flagged `channels_first` (conv, pooling, normalisation, upsample, dropout2d) sees its input
channels first: on a [T, F] sequence it sees [F, T] and works along time, on any layout it finds the
channel axis by its role. Its output is moved back, so it keeps the input's roles. Other layers set
the roles of what they produce; where one does not (a torch.nn module, a plugin), the roles are kept
when the shape is, or when the number of axes is and the layer is built in, the input was channels
first (torch's convention) or the plugin declared what it accepts; a one-axis float output is a feature vector; otherwise the
roles are unknown, and a layer that needs them says so at its line.
"""
from __future__ import annotations

from ..layers.registry import LayerDef
from ..shapes import KIND_LAYOUTS, Shape, ShapeProblem

_KINDS = {layout: kind for kind, layout in KIND_LAYOUTS.items()}


def describe_layout(layout: str) -> str:
    """`image [C, H, W]`-style words for a layout."""
    kind = _KINDS.get(layout)
    axes = "[" + ", ".join(layout) + "]"
    return f"{'an ' if kind == 'image' else 'a '}{kind} {axes}" if kind else axes


def infer_with_roles(layer: LayerDef, callee: str, shape: Shape, bound: dict) -> tuple:
    """(output Shape, channel axis moved to the front for the layer, 0 when none)."""
    _check_accepts(layer, callee, shape)
    if not layer.channels_first:
        return _with_output_roles(layer, shape, layer.infer(shape, bound)), 0
    if shape.integer:  # the layer's own rule says that it needs float features
        return layer.infer(shape, bound), 0
    axis = _channel_axis(callee, shape)
    seen = shape.channels_first()
    out = layer.infer(seen, bound)
    if out.rank != shape.rank:
        return _with_output_roles(layer, shape, out), axis
    return Shape(out.dims, out.integer, out.vocab, seen.roles, out.hidden).channels_back(axis), axis


def _channel_axis(callee: str, shape: Shape) -> int:
    if shape.roles is None:
        raise ShapeProblem(f"{callee} works along the channel and spatial axes, but the axes of this input have no "
                           f"known roles (a torch.nn or plugin layer before it changed the shape); name them with "
                           f"reshape({', '.join(map(str, shape.dims))}, layout=\"CL\") (C channels, L length, "
                           f"T time, F features, H, W, D space)")
    axis = shape.channel_axis
    if axis is None:
        raise ShapeProblem(f"{callee} needs an input with a channel axis, and this one has none"
                           + (" (token ids: put an embedding first)" if shape.layout == "T" else ""))
    return axis


def _check_accepts(layer: LayerDef, callee: str, shape: Shape) -> None:
    if not layer.accepts:
        return
    wanted = [KIND_LAYOUTS.get(a, a) for a in layer.accepts]
    if shape.layout not in wanted:
        raise ShapeProblem(f"{callee} takes {' or '.join(describe_layout(w) for w in wanted)}")


def _with_output_roles(layer: LayerDef, shape: Shape, out: Shape) -> Shape:
    if out.roles is not None:
        return out
    if layer.produces is not None and len(layer.produces) == out.rank:
        return Shape(out.dims, out.integer, out.vocab, tuple(layer.produces), out.hidden)
    if out.dims == shape.dims and out.integer == shape.integer or _keeps_axes(layer, shape, out):
        roles = shape.roles
    elif out.rank == 1 and not out.integer:
        roles = ("F",)
    else:
        return out
    return Shape(out.dims, out.integer, out.vocab, roles, out.hidden)


def _keeps_axes(layer: LayerDef, shape: Shape, out: Shape) -> bool:
    """A module that keeps the number of axes keeps their roles when it is built in (each built-in layer
    that changes the axes sets their roles), when it was handed its input channels first (torch's own
    convention: nn.Conv2d on [C, H, W] gives [C', H', W']) or when it declared what it accepts."""
    if out.rank != shape.rank or shape.roles is None:
        return False
    return layer.source == "built-in" or shape.channel_axis == 0 or bool(layer.accepts)
