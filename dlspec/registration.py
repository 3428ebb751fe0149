"""The plugin registration API: decorated Python classes/functions in, registry entries out.

    @dlspec.layer("scaled_linear")
    class ScaledLinear(nn.Module):
        def __init__(self, in_features: int, out: int, init: float = 1.0): ...

Arguments are read from the signature (type hints and defaults) and checked
like built-in ones, with "did you mean" for misspelt keywords. The input size
is injected into `in_features`, `in_channels`, `input_size` or
`num_features` (or the argument named by `input_arg=`). The output shape comes
from the module's `output_shape(input_shape)` when it has one, otherwise from
a forward pass on meta tensors.
"""
from __future__ import annotations

import functools
import inspect
import re
import typing
from typing import Optional

from .errors import PluginError
from .layers.builtin import ShapeProblem
from .layers.registry import REQUIRED, Arg, LayerDef, register_layer
from .shapes import Shape

INPUT_ARGS = ("in_features", "in_channels", "input_size", "num_features")
_LAST_DIM = ("in_features", "input_size")


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def own_doc(obj) -> str:
    """The object's own docstring (not one inherited from nn.Module), cleaned."""
    text = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return inspect.cleandoc(text) if text else ""


def plugin_source(obj) -> str:
    """'plugin FILE.py:Name' for plugin files, 'plugin package.module.Name' otherwise."""
    import os
    import sys
    module = getattr(obj, "__module__", "?")
    qualname = getattr(obj, "__qualname__", repr(obj))
    file = getattr(sys.modules.get(module), "__file__", None)
    if module.startswith("dlspec_plugin_") and file:
        return f"plugin {os.path.basename(file)}:{qualname}"
    return f"plugin {module}.{qualname}"


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


def _input_arg(obj, named: Optional[str]) -> Optional[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = inspect.signature(target).parameters
    if named is not None:
        if named not in params:
            raise ValueError(f"input_arg={named!r} is not an argument of {obj.__name__}")
        return named
    return next((n for n in INPUT_ARGS if n in params), None)


def _input_size(name: str, shape: Shape) -> int:
    if name in _LAST_DIM or (name not in INPUT_ARGS and shape.rank <= 2):
        return shape.dims[-1]
    return shape.dims[0]


def plugin_layer(name: str, obj, input_arg: Optional[str] = None, aliases=(), doc: str = "",
                 examples=()) -> LayerDef:
    """Turn a module class or factory into a LayerDef."""
    injected = _input_arg(obj, input_arg)
    args = signature_args(obj, skip=(injected,) if injected else ())
    source = plugin_source(obj)

    def build(shape: Shape, a: dict):
        kwargs = dict(a)
        if injected:
            kwargs[injected] = _input_size(injected, shape)
        module = obj(**kwargs)
        import torch.nn as nn
        if not isinstance(module, nn.Module):
            raise PluginError(f"layer {name} ({source}) returned {type(module).__name__}, not an nn.Module")
        return module

    def infer(shape: Shape, a: dict) -> Shape:
        import torch
        from .layers.torch_generic import meta_output_shape
        if injected and shape.rank == 0:
            raise ShapeProblem(f"{name} needs an input with at least one dimension")
        try:
            with torch.device("meta"):
                module = build(shape, a)
        except PluginError:
            raise
        except Exception as exc:
            raise ShapeProblem(f"{name} ({source}) could not be built: {type(exc).__name__}: {exc}") from None
        if hasattr(module, "output_shape"):
            try:
                return Shape(tuple(int(d) for d in module.output_shape(tuple(shape.dims))))
            except Exception as exc:
                raise ShapeProblem(f"{name}.output_shape ({source}) failed: {type(exc).__name__}: {exc}") from None
        return meta_output_shape(module, shape, f"{name} ({source})")

    text = doc or own_doc(obj) or f"Plugin layer {name}."
    return LayerDef(name=name, args=args, infer=infer, build=build, doc=text, aliases=tuple(aliases),
                    source=source, examples=tuple(examples), extra={"plugin": True})


def layer(name=None, *, input_arg: Optional[str] = None, aliases=(), override: bool = False, examples=()):
    """Decorator registering an nn.Module subclass or a factory function as a layer.

    `@dlspec.layer` or `@dlspec.layer("name")`; the name defaults to the
    snake_case class name. `examples` lists (input dims, {arg: value}) pairs
    that the test-suite runs. The decorated object is returned unchanged.
    """
    def wrap(obj, layer_name=None):
        register_layer(plugin_layer(layer_name or snake_case(obj.__name__), obj, input_arg, aliases,
                                    examples=examples), override=override)
        return obj
    if callable(name) and not isinstance(name, str):
        return wrap(name)
    return functools.partial(wrap, layer_name=name)


def _simple_decorator(register_fn):
    """Build a `@dlspec.X("name")` decorator from a function (name, obj, override, options)."""
    def decorator(name=None, *, override: bool = False, **options):
        def wrap(obj, reg_name=None):
            register_fn(reg_name or snake_case(obj.__name__), obj, override, **options)
            return obj
        if callable(name) and not isinstance(name, str):
            return wrap(name)
        return functools.partial(wrap, reg_name=name)
    return decorator


from .plugin_kinds import register_dataset, register_loss, register_metric_plugin, register_optimizer, \
    register_transform_plugin  # noqa: E402 - these use the helpers above

dataset = _simple_decorator(register_dataset)
transform = _simple_decorator(register_transform_plugin)
loss = _simple_decorator(register_loss)
metric = _simple_decorator(register_metric_plugin)
optimizer = _simple_decorator(register_optimizer)
