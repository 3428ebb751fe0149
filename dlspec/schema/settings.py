"""Reading `data` and `train` blocks: IR settings in, checked Python values out.

A block's settings are described by a table of `SettingDef`s; `read_settings`
refuses unknown or repeated keys (with "did you mean"), and each definition
turns its `ir.Setting` into plain values. No torch, no data: `dlspec compile`
runs these checks without loading anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..language import ir
from ..errors import ArgumentError, DlspecError, Loc, UnknownNameError, did_you_mean, raise_errors
from .args import Arg, bind_args, convert
from ..language.resolve import Env
from ..language.values import CallValue


@dataclass(frozen=True)
class SettingDef:
    """One setting key: how to read it and a line of documentation."""

    key: str
    read: Callable[[ir.Setting, Env], Any]
    doc: str
    repeatable: bool = False  # may appear on several lines; the value is then a list


@dataclass(frozen=True)
class Step(CallValue):
    """A named step with arguments: an optimizer, a loss, a transform, a source. The same five fields as
    the call it is written as, `Step(name, args, kwargs, loc, arg_locs)`; its registry name is `name`."""

    @property
    def name(self) -> str:
        return self.callee


def read_settings(settings: tuple, table: dict, env: Env, what: str) -> dict:
    """Read every setting of a block; values keyed by setting, plus `<key>@loc`."""
    values: dict = {}
    for s in settings:
        if s.key not in table:
            raise UnknownNameError(f"unknown {what} setting '{s.key}'." + did_you_mean(s.key, table), s.loc,
                                   hint=f"{what} settings: {', '.join(sorted(table))}")
        definition = table[s.key]
        if definition.repeatable:
            values.setdefault(s.key, []).append((definition.read(s, env), s.loc))
            values[f"{s.key}@loc"] = s.loc
            continue
        if s.key in values:
            raise DlspecError(f"'{s.key}' is set twice in this {what} block", s.loc)
        values[s.key] = definition.read(s, env)
        values[f"{s.key}@loc"] = s.loc
    return values


def _no_body(s: ir.Setting) -> None:
    if s.body is not None:
        raise ArgumentError(f"'{s.key}' takes no {{ ... }} body", s.loc)


def one(kind: str, check=None, choices=()) -> Callable:
    """A setting with exactly one value of `kind`, e.g. `epochs 20`."""
    def read(s: ir.Setting, env: Env):
        _no_body(s)
        if len(s.args) != 1 or s.kwargs:
            raise ArgumentError(f"'{s.key}' takes one value, e.g. {s.key} {_example(kind, choices)}", s.loc)
        return convert(s.key, Arg(s.key, kind, check=check, choices=choices), env.eval(s.args[0]), s.args[0].loc)
    return read


def _example(kind: str, choices) -> str:
    if choices:
        return str(choices[0])
    return {"int": "10", "float": "0.5", "str": '"path"', "bool": "true"}.get(kind, "...")


def step(s: ir.Setting, env: Env) -> Step:
    """A setting whose value is a name or a call: `loss cross_entropy`, `optimizer adam(lr=1e-3)`."""
    _no_body(s)
    if len(s.args) != 1:
        raise ArgumentError(f"'{s.key}' takes one name or call, e.g. {s.key} name(arg=value)", s.loc)
    return to_step(env.eval(s.args[0]), s.args[0].loc, s.key, extra_kwargs=_kwargs(s, env),
                   extra_locs=_kwarg_locs(s))


def to_step(value, loc: Loc, what: str, extra_kwargs: Optional[dict] = None,
            extra_locs: Optional[dict] = None) -> Step:
    extra_kwargs, extra_locs = extra_kwargs or {}, extra_locs or {}
    if isinstance(value, CallValue):
        for name in extra_kwargs:
            if name in value.kwargs:
                raise ArgumentError(f"{value.callee}: argument '{name}' given twice", extra_locs.get(name, loc))
        return Step(value.callee, value.args, {**value.kwargs, **extra_kwargs}, value.loc,
                    {**value.arg_locs, **extra_locs})
    if isinstance(value, str):
        return Step(str(value), (), dict(extra_kwargs), loc, dict(extra_locs))
    raise ArgumentError(f"'{what}' expects a name or a call, received {value!r}", loc)


def _kwargs(s: ir.Setting, env: Env) -> dict:
    out = {}
    for k in s.kwargs:
        if k.name in out:
            raise ArgumentError(f"'{s.key}': argument '{k.name}' given twice", k.loc)
        out[k.name] = env.eval(k.value)
    return out


def _kwarg_locs(s: ir.Setting) -> dict:
    return {k.name: k.loc for k in s.kwargs}


def steps(s: ir.Setting, env: Env) -> list:
    """A list of names or calls: `metrics accuracy, top_k(k=5)`."""
    _no_body(s)
    if not s.args:
        raise ArgumentError(f"'{s.key}' needs at least one name", s.loc)
    return [to_step(env.eval(a), a.loc, s.key) for a in s.args]


def names(s: ir.Setting, env: Env) -> list:
    """Bare names: `freeze backbone head`."""
    _no_body(s)
    out = []
    for a in s.args:
        if not isinstance(a, ir.Name):
            raise ArgumentError(f"'{s.key}' takes names, e.g. {s.key} backbone", a.loc)
        out.append(a.name)
    if not out:
        raise ArgumentError(f"'{s.key}' needs at least one name", s.loc)
    return out


def keywords(specs: tuple) -> Callable:
    """Keyword settings: `split train=0.8 test=0.2 seed=0`."""
    def read(s: ir.Setting, env: Env) -> dict:
        _no_body(s)
        args = [env.eval(a) for a in s.args]
        locs = {k.name: k.loc for k in s.kwargs}
        locs.update({i: a.loc for i, a in enumerate(s.args)})
        return bind_args(s.key, specs, args, _kwargs(s, env), s.loc, locs)
    return read


def body(s: ir.Setting, env: Env) -> list:
    """A `{ ... }` body of steps: `transform { resize(32) -> normalize(auto) }`."""
    if s.body is None or s.args or s.kwargs:
        raise ArgumentError(f"'{s.key}' takes a body of steps: {s.key} {{ ... }}", s.loc)
    out = []
    for chain in s.body:
        for st in chain.steps:
            target = st.target
            if isinstance(target, ir.InputRef):
                raise ArgumentError(f"'input' is not a {s.key} step", st.loc)
            out.append(to_step(env.eval(target), target.loc, s.key))
    return out


def named_body(s: ir.Setting, env: Env) -> tuple:
    """`transform { ... }` or `transform NAME { ... }` (the steps of one named input): (NAME or None, steps)."""
    if s.args and (len(s.args) != 1 or not isinstance(s.args[0], ir.Name)) or s.kwargs:
        raise ArgumentError(f"'{s.key}' takes a body of steps, after an input's name when it is for one input: "
                            f"{s.key} {{ ... }} or {s.key} photo {{ ... }}", s.loc)
    name = s.args[0].name if s.args else None
    return name, body(ir.Setting(s.key, (), (), s.body, s.loc), env)


def bind_step(table: dict, step: Step, what: str) -> tuple:
    """(registry entry, bound arguments) for a named step, or an error with suggestions."""
    item = table.get(step.name)
    if item is None:
        raise UnknownNameError(f"unknown {what} '{step.name}'." + did_you_mean(step.name, table), step.loc,
                               hint=f"{what}{'es' if what.endswith('s') else 's'}: {', '.join(sorted(table))}")
    return item, bind_args(step.name, item.args, list(step.args), dict(step.kwargs), step.loc, step.arg_locs)


def bind_steps(table: dict, steps: list, what: str) -> list:
    """(registry entry, bound arguments) per step of a list setting (`metrics acuracy, f2`); every step's
    mistake is found, and raised together (a `DlspecErrors` for several), not only the first."""
    bound, errors = [], []
    for step in steps:
        try:
            bound.append(bind_step(table, step, what))
        except DlspecError as exc:
            errors.append(exc)
    raise_errors(errors)
    return bound
