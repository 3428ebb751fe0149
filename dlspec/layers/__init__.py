"""Layers: the registry, then every built-in family, imported in one explicit order.

Machinery (`registry`, `_base`) imports no family; this file is the one place
that decides what registers and in which order (timm's habit).
`torch_nn` and `torchvision_models` load lazily, on the first dotted name.
"""
from ..schema.args import Arg
from .registry import LayerDef, find_layer, get_layer, list_layers, register_layer

from . import conv, pool, norm, linear, dropout, activation, reshape, recurrent  # noqa: E402,F401 - registers
from . import attention  # noqa: E402,F401 - registers; after recurrent, whose sequence check it uses

__all__ = ["Arg", "LayerDef", "find_layer", "get_layer", "list_layers", "register_layer"]
