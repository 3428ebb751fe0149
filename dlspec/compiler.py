"""The compiler: a plan tree in, a torch `nn.Module` out.

A sequential body becomes `nn.Sequential` with named children; a body with
bindings becomes a `GraphModule` whose forward follows the spec. Blocks become
submodules named by their labels or automatic names; `param`s become
`nn.Parameter`s of the enclosing module. No shape work happens here: the
planner has already checked everything.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .errors import DlspecError, PluginError
from .modules import GraphModule
from .plan import BodyNode, LayerNode, ParamNode
from .shapes import Shape


def build_model(plan: BodyNode) -> nn.Module:
    """Build a whole model; token inputs get their sequence lengths measured for padding-aware layers."""
    from .recurrent_modules import SequenceContext, building_with
    context = SequenceContext()
    with building_with(context):
        module = build_module(plan)
    if plan.in_shape.integer and context.users:
        module.register_forward_pre_hook(context.measure_lengths)
    return module


def build_module(node) -> nn.Module:
    """Build the torch module for a plan node (a body or a single layer)."""
    if isinstance(node, LayerNode):
        return _build_layer(node)
    if node.graph:
        module = GraphModule(node.ops, node.output)
        for p in node.params:
            module.register_parameter(p.name, _make_param(p))
        for child in node.children:
            module.add_module(child.name, build_module(child))
        return module
    return nn.Sequential(OrderedDict((c.name, build_module(c)) for c in node.children))


def _build_layer(node: LayerNode) -> nn.Module:
    shape = node.in_shape
    if node.time_major:  # a channels-first layer on a [T, F] sequence sees [F, T]
        shape = Shape((shape.dims[1], shape.dims[0]))
    try:
        module = node.layer.build(shape, node.args)
    except DlspecError as exc:
        if exc.loc is None:
            exc.loc = node.loc
        raise
    except Exception as exc:  # a plugin or torch refusing its arguments
        raise DlspecError(f"{node.layer.name} could not be built: {exc}", node.loc) from None
    if node.layer.extra.get("plugin"):
        _guard_forward(module, node)
    if node.time_major:
        module.register_forward_pre_hook(_to_channels_first)
        module.register_forward_hook(_to_time_major)
    return module


def _to_channels_first(module, inputs):
    return (inputs[0].transpose(1, 2),) + tuple(inputs[1:])


def _to_time_major(module, inputs, output):
    return output.transpose(1, 2)


_GUARDED: dict = {}


def _guard_forward(module: nn.Module, node: LayerNode) -> None:
    """Make an exception in a plugin's forward name the plugin and its spec line.

    A subclass (cached per class) replaces forward, so state_dict keys and
    parameters stay exactly as the plugin made them.
    """
    cls = type(module)
    if cls not in _GUARDED:
        def forward(self, *args, **kwargs):
            try:
                return cls.forward(self, *args, **kwargs)
            except DlspecError:
                raise
            except Exception as exc:
                name, source, loc = self._dlspec_origin
                raise PluginError(f"layer {name} ({source}) raised {type(exc).__name__}: {exc}", loc) from exc
        _GUARDED[cls] = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__,
                                                    "__doc__": cls.__doc__})
    module.__class__ = _GUARDED[cls]
    module._dlspec_origin = (node.layer.name, node.layer.source, node.loc)


def _make_param(p: ParamNode) -> nn.Parameter:
    data = torch.empty(p.shape)
    kind, a = p.init
    with torch.no_grad():
        if kind == "constant":
            data.fill_(a["value"])
        elif kind == "normal":
            data.normal_(a["mean"], a["std"])
        else:
            data.uniform_(a["a"], a["b"])
    return nn.Parameter(data)


def iter_nodes(node, prefix: str = "", depth: int = 0):
    """Walk a plan tree: (qualified name, node, depth) for every body and layer."""
    for child in getattr(node, "children", []):
        name = f"{prefix}{child.name}"
        yield name, child, depth
        if isinstance(child, BodyNode):
            yield from iter_nodes(child, name + ".", depth + 1)
