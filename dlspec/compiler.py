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

from .errors import DlspecError
from .modules import GraphModule
from .plan import BodyNode, LayerNode, ParamNode


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
    try:
        return node.layer.build(node.in_shape, node.args)
    except DlspecError:
        raise
    except Exception as exc:  # a plugin or torch refusing its arguments
        raise DlspecError(f"{node.layer.name} could not be built: {exc}", node.loc) from None


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
