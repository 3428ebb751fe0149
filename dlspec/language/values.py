"""The values a spec evaluates to, and the way back: a `Symbol` (a bare name), a `CallValue` (a call used
as a value) and plain Python values in; `to_source(value)`, the spec text that evaluates to the value, out.

Every place that writes a value back as spec text (error messages, `dlspec explain`, the catalog, hover,
`--set` overrides of a tune trial) prints it with `to_source`, so they all agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Loc


class Symbol(str):
    """A bare name used as a value, e.g. `horizontal` in `flip(horizontal)`."""


@dataclass(frozen=True)
class CallValue:
    """An evaluated call used as a value, e.g. `normal(std=0.02)` or `adam(lr=1e-3)`."""

    callee: str
    args: tuple
    kwargs: dict
    loc: Loc
    # where each argument was written (position or name -> Loc), so errors point at the argument
    arg_locs: dict = field(default_factory=dict, compare=False, repr=False)


def to_source(value, bare_strings: bool = False) -> str:
    """A value as the spec text that evaluates to it (floats round-trip exactly). `bare_strings` writes
    strings as they read rather than as quoted literals (for tables of resolved values)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if bare_strings or (type(value) is not str and value.isidentifier()):  # a Symbol: a bare name
            return str(value)
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(to_source(v, bare_strings) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k, bare_strings)}: {to_source(v, bare_strings)}" for k, v in value.items()) + "}"
    if isinstance(value, CallValue):  # an evaluated call, e.g. adam(lr=0.001)
        args = [to_source(a, bare_strings) for a in value.args]
        args += [f"{k}={to_source(v, bare_strings)}" for k, v in value.kwargs.items()]
        return f"{value.callee}({', '.join(args)})"
    return str(value)


def _key(key: str, bare_strings: bool) -> str:
    return key if bare_strings or key.isidentifier() else to_source(str(key))
