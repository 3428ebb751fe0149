"""Layers: the registry and the built-in layer definitions."""
from .registry import Arg, LayerDef, find_layer, get_layer, list_layers, register_layer

__all__ = ["Arg", "LayerDef", "find_layer", "get_layer", "list_layers", "register_layer"]
