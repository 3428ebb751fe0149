"""Reading plugin objects: a Python class or function in, its name, docs and `Arg`s out.

Shared by the layer decorator (decorators.py) and the other plugin kinds
(adapters.py): argument kinds come from type hints, defaults as given.
"""
from __future__ import annotations

import inspect
import os
import re
import sys
import typing

from ..schema.args import REQUIRED, Arg
from .discovery import loading_how


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def own_doc(obj) -> str:
    """The object's own docstring (not one inherited from nn.Module), cleaned."""
    text = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return inspect.cleandoc(text) if text else ""


def plugin_source(obj) -> str:
    """'plugin FILE.py:Name' for plugin files, 'plugin package.module.Name' otherwise, followed by how
    it was loaded (" via use file", " via use", " via --plugin", " via entry point NAME") when dlspec loaded it."""
    module = getattr(obj, "__module__", "?")
    qualname = getattr(obj, "__qualname__", repr(obj))
    file = getattr(sys.modules.get(module), "__file__", None)
    how = f" via {loading_how()}" if loading_how() else ""
    if module.startswith("dlspec_plugin_") and file:
        return f"plugin {os.path.basename(file)}:{qualname}{how}"
    return f"plugin {module}.{qualname}{how}"


def signature_args(obj, skip=()) -> tuple:
    """`Arg`s from a callable's signature: kinds from type hints, defaults as given."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # unresolvable annotations: fall back to untyped arguments
        hints = {}
    args = []
    for p in inspect.signature(target).parameters.values():
        if p.name in ("self",) + tuple(skip) or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        args.append(Arg(p.name, _kind(hints.get(p.name), default), default))
    return tuple(args)


def _kind(hint, default) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _kind(inner[0], default) if len(inner) == 1 else "any"
    if hint in (int, float, bool, str):
        return hint.__name__
    if hint in (list, tuple) or origin in (list, tuple):
        return "any"
    if hint is None and default is not REQUIRED and default is not None:
        return {int: "int", float: "float", bool: "bool", str: "str"}.get(type(default), "any")
    return "any"
