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

Axis roles (docs/language.md, "Axes"): `accepts=("image", "TF")` lists the
kinds or layouts a layer takes (others are refused at the spec line),
`produces="TF"` names the roles of its output, and `channels_first=True` makes
it a channels-first layer that dlspec hands its input with the channel axis
moved to the front (a sequence [T, F] arrives as [F, T]) and whose output it
moves back, as it does for conv. Without `produces`, an output of the input's
shape keeps its roles and a one-axis output is a feature vector.

A loss declares the targets it takes: `@dlspec.loss("name", target="class")`
(class indices, int64), "binary" or "value" (floats shaped like the output);
`soft_targets=True` (also class probabilities, as mixup makes) and
`expects="logits" | "log_probs" | "values"` (what the model must give it).
"""
from __future__ import annotations

import functools
import inspect
from typing import Optional

from ..errors import PluginError
from ..layers.registry import LayerDef, register_layer
from ..shapes import KIND_LAYOUTS, Shape, ShapeProblem, parse_layout
from .adapters import (register_dataset, register_loss, register_metric_plugin, register_optimizer,
                       register_transform_plugin)
from .signatures import own_doc, plugin_source, signature_args, snake_case

INPUT_ARGS = ("in_features", "in_channels", "input_size", "num_features")
_LAST_DIM = ("in_features", "input_size")


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


def _layouts(name: str, accepts, produces) -> tuple:
    """Check a plugin's declared roles: (accepted layouts, produced layout or None)."""
    wanted = (accepts,) if isinstance(accepts, str) else tuple(accepts)
    try:
        for layout in (KIND_LAYOUTS.get(a, a) for a in wanted):
            parse_layout(layout, len(layout))
        if produces is not None:
            parse_layout(produces, len(produces))
    except ShapeProblem as problem:
        raise ValueError(f"layer {name}: {problem}; use kinds ({', '.join(KIND_LAYOUTS)}) or role letters") from None
    return wanted, produces


def plugin_layer(name: str, obj, input_arg: Optional[str] = None, aliases=(), doc: str = "",
                 examples=(), accepts=(), produces: Optional[str] = None, channels_first: bool = False) -> LayerDef:
    """Turn a module class or factory into a LayerDef; `accepts`, `produces` and `channels_first`
    declare the axis roles it takes and gives (see the module docstring)."""
    accepts, produces = _layouts(name, accepts, produces)
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
        from ..layers.torch_nn import meta_output_shape
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
                dims = tuple(int(d) for d in module.output_shape(tuple(shape.dims)))
                return Shape(dims, roles=tuple(produces) if produces and len(produces) == len(dims) else None)
            except Exception as exc:
                raise ShapeProblem(f"{name}.output_shape ({source}) failed: {type(exc).__name__}: {exc}") from None
        return meta_output_shape(module, shape, f"{name} ({source})")

    text = doc or own_doc(obj) or f"Plugin layer {name}."
    return LayerDef(name=name, args=args, infer=infer, build=build, doc=text, aliases=tuple(aliases),
                    source=source, examples=tuple(examples), plugin=True, accepts=accepts, produces=produces,
                    channels_first=channels_first)


def register_plugin_layer(name: str, obj, override: bool = False, input_arg: Optional[str] = None,
                          aliases=(), examples=(), accepts=(), produces: Optional[str] = None,
                          channels_first: bool = False) -> None:
    """Register an nn.Module subclass or factory as a layer; `examples` lists (input dims, {arg: value})
    pairs that the test-suite runs; `accepts`, `produces`, `channels_first` declare its axis roles."""
    register_layer(plugin_layer(name, obj, input_arg, aliases, examples=examples, accepts=accepts,
                                produces=produces, channels_first=channels_first), override=override)


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


# `@dlspec.layer` or `@dlspec.layer("name", input_arg=..., examples=...)`; the name defaults to the
# snake_case class name. Every decorator returns the decorated object unchanged.
layer = _simple_decorator(register_plugin_layer)
dataset = _simple_decorator(register_dataset)
transform = _simple_decorator(register_transform_plugin)
loss = _simple_decorator(register_loss)
metric = _simple_decorator(register_metric_plugin)
optimizer = _simple_decorator(register_optimizer)
