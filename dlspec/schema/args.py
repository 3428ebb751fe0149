"""Argument schemas: values from a spec in, checked and converted arguments out.

`Arg` declares one argument (kind, default, range check, choices); `bind_args`
matches positional and keyword values to a tuple of `Arg`s with located,
did-you-mean errors. Every registry (layers, sources, transforms, losses,
optimizers, schedules, metrics, plugins) declares its arguments this way.
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import ArgumentError, Loc, did_you_mean
from ..language.values import Symbol, to_source

REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    """One argument: name, kind, default and an optional range check.

    kind is one of: int, float, bool, str, ints (an int or a list of ints),
    int_or_str, float_list, any. `check(value)` returns an error message or None.
    """

    name: str
    kind: str = "any"
    default: Any = REQUIRED
    check: Optional[Callable[[Any], Optional[str]]] = None
    choices: tuple = ()
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

def bind_args(layer_name: str, specs: tuple, args: list, kwargs: dict, loc: Optional[Loc],
              arg_locs: Optional[dict] = None, known_names=()) -> dict:
    """Match positional and keyword values to `specs`, converting and checking each.

    `args` are values; `kwargs` maps names to values; `arg_locs` maps a
    position (int) or name to the Loc of that value for precise errors.
    """
    arg_locs = arg_locs or {}
    if len(args) > len(specs):
        raise ArgumentError(
            f"{layer_name} takes at most {len(specs)} positional argument(s), received {len(args)}",
            arg_locs.get(len(specs), loc), hint=f"signature: {signature(layer_name, specs)}")
    bound = {}
    for spec, value, i in zip(specs, args, range(len(args))):
        bound[spec.name] = (value, arg_locs.get(i, loc))
    names = [s.name for s in specs]
    for key, value in kwargs.items():
        if key not in names:
            raise ArgumentError(f"{layer_name} has no argument '{key}'." + did_you_mean(key, names),
                                arg_locs.get(key, loc), hint=f"signature: {signature(layer_name, specs)}")
        if key in bound:
            raise ArgumentError(f"{layer_name}: argument '{key}' given twice", arg_locs.get(key, loc))
        bound[key] = (value, arg_locs.get(key, loc))
    result = {}
    for spec in specs:
        if spec.name not in bound:
            if spec.required:
                raise ArgumentError(f"{layer_name} needs argument '{spec.name}'", loc,
                                    hint=f"signature: {signature(layer_name, specs)}")
            result[spec.name] = spec.default
            continue
        value, vloc = bound[spec.name]
        result[spec.name] = convert(layer_name, spec, value, vloc, known_names)
    return result


def convert(owner: str, spec: Arg, value, loc: Optional[Loc], known_names=()):
    """Convert one value to the kind `spec` asks for, or raise ArgumentError."""
    if value is None and (spec.default is None):
        return None
    converted = _CONVERTERS[spec.kind](value)
    if converted is _BAD:
        unknown = did_you_mean(value, known_names) if isinstance(value, Symbol) else ""
        raise ArgumentError(
            f"{owner}: argument '{spec.name}' expects {_KIND_WORDS[spec.kind]}, received {_received(value)}."
            + unknown, loc)
    if spec.kind in ("float", "float_list") and _beyond_float32(converted):
        raise ArgumentError(f"{owner}: argument '{spec.name}' is too large for the float32 tensors it ends up in "
                            f"(at most {FLOAT32_MAX:.4g} in size); received {_received(value)}", loc)
    if spec.choices and converted not in spec.choices:
        raise ArgumentError(
            f"{owner}: argument '{spec.name}' must be one of {', '.join(map(str, spec.choices))}; "
            f"received {_received(value)}." + did_you_mean(str(value), map(str, spec.choices)), loc)
    if spec.check is not None:
        problem = spec.check(converted)
        if problem:
            raise ArgumentError(f"{owner}: argument '{spec.name}' {problem}; received {_received(value)}", loc)
    return converted


_BAD = object()
FLOAT32_MAX = 3.4028234663852886e38  # torch.finfo(torch.float32).max, without importing torch


def _beyond_float32(value) -> bool:
    """A finite number no float32 holds (it overflows where a layer or optimizer makes a tensor of it);
    inf stays allowed, where an argument means 'no bound'."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return any(isinstance(v, float) and math.isfinite(v) and abs(v) > FLOAT32_MAX for v in values)


def _to_int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else _BAD


def _to_float(v):
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return _BAD
    try:
        return float(v)
    except OverflowError:  # an integer too large for a float: not a usable number
        return _BAD


def _to_bool(v):
    return v if isinstance(v, bool) else _BAD


def _to_str(v):
    return str(v) if isinstance(v, str) else _BAD


def _to_ints(v):
    if isinstance(v, (list, tuple)):
        items = [_to_int(x) for x in v]
        return _BAD if (not items or _BAD in items) else tuple(items)
    return _to_int(v)


def _to_int_or_str(v):
    return str(v) if isinstance(v, str) else _to_ints(v)


def _to_float_list(v):
    if isinstance(v, (list, tuple)):
        items = [_to_float(x) for x in v]
        return _BAD if (not items or _BAD in items) else tuple(items)
    return _BAD


_CONVERTERS = {
    "int": _to_int, "float": _to_float, "bool": _to_bool, "str": _to_str, "ints": _to_ints,
    "int_or_str": _to_int_or_str, "float_list": _to_float_list, "any": lambda v: v,
}
_KIND_WORDS = {
    "int": "an integer", "float": "a number", "bool": "true or false", "str": "a name or string",
    "ints": "an integer or a list of integers", "int_or_str": "an integer, a list of integers or a name",
    "float_list": "a list of numbers", "any": "a value",
}


def _received(value) -> str:
    """A received value in an error message: a bare name says so, anything else reads as spec text."""
    return f"the name '{value}'" if isinstance(value, Symbol) else to_source(value)


def signature(name: str, specs: tuple) -> str:
    """How a call is written: conv(out, kernel, stride=1, ...); a bare name when it takes no arguments."""
    if not specs:
        return name
    return f"{name}(" + ", ".join(s.name if s.required else f"{s.name}={to_source(s.default)}" for s in specs) + ")"


# ---- common range checks ----------------------------------------------


def positive(v) -> Optional[str]:
    vals = v if isinstance(v, tuple) else (v,)
    return None if all(x > 0 for x in vals) else "must be positive"


def non_negative(v) -> Optional[str]:
    vals = v if isinstance(v, tuple) else (v,)
    return None if all(x >= 0 for x in vals) else "must not be negative"


def probability(v) -> Optional[str]:
    return None if 0.0 <= v < 1.0 else "must be in [0, 1)"
