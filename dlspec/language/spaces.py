"""Search spaces: a `let` whose value is `loguniform(...)`, `uniform(...)`, `int(...)` or `choice(...)`.

An `ir.SearchSpace` and the environment to evaluate its bounds in, out a checked
`Space`: its kind, bounds or options, optional default, and where it was
written. Outside `dlspec tune` a space stands for its default; `dlspec tune`
samples it. Values are written back as spec text with `values.to_source` (for `--set`
overrides and tune's best.dlspec), so a sampled value and the text it becomes are the
same value when read back. No torch, no Optuna.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from . import ir
from ..errors import ArgumentError, DlspecError, Loc, did_you_mean
from .values import to_source

SPACE_KINDS = ir.SPACE_KINDS
_NUMERIC = ("loguniform", "uniform", "int")
_KWARGS = {"loguniform": ("default",), "uniform": ("default", "step"), "int": ("default", "step"),
           "choice": ("default",)}
_EXAMPLES = {"loguniform": "loguniform(1e-4, 1e-1, default=1e-3)", "uniform": "uniform(0.0, 0.5, default=0.2)",
             "int": "int(1, 4, default=2)", "choice": "choice(16, 32, 64, default=32)"}


class _Missing:
    def __repr__(self):
        return "no default"


NO_DEFAULT = _Missing()


@dataclass(frozen=True)
class Space:
    """One checked search space, named after its `let`."""

    name: str
    kind: str  # loguniform | uniform | int | choice
    low: object = None  # numeric kinds: the bounds (both inclusive, as Optuna samples them)
    high: object = None
    step: object = None
    options: tuple = ()  # choice: the evaluated options, in the order written
    default: object = NO_DEFAULT
    loc: Optional[Loc] = None  # where the space expression starts
    let_loc: Optional[Loc] = None
    value_locs: tuple = ()  # (value as text, where it is written) for the options, bounds and default

    def loc_of(self, value) -> Optional[Loc]:
        """Where a value of this space is written (an option, a bound or the default), else the space."""
        return dict(self.value_locs).get(to_source(value), self.loc)

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    @property
    def base(self):
        """The value outside `dlspec tune`: the default, else the first option or the low end (compile only)."""
        if self.has_default:
            return self.default
        return self.options[0] if self.kind == "choice" else self.low

    def points(self) -> list:
        """The values `dlspec compile` checks: the base value first, then every option or both ends."""
        values = [self.base] + (list(self.options) if self.kind == "choice" else [self.low, self.high])
        seen, out = set(), []
        for value in values:
            if to_source(value) not in seen:
                seen.add(to_source(value))
                out.append(value)
        return out

    def describe(self) -> str:
        """The space as spec text, e.g. `loguniform(0.0001, 0.1, default=0.001)`."""
        args = [to_source(o) for o in self.options] if self.kind == "choice" else [to_source(self.low),
                                                                                   to_source(self.high)]
        if self.step is not None:
            args.append(f"step={to_source(self.step)}")
        if self.has_default:
            args.append(f"default={to_source(self.default)}")
        return f"{self.kind}({', '.join(args)})"


def read_space(name: str, expr: ir.SearchSpace, env, let_loc: Loc) -> Space:
    """Evaluate and check a search space; every mistake is an `ArgumentError` at the offending argument."""
    kwargs = {}
    for kw in expr.kwargs:
        if kw.name not in _KWARGS[expr.kind]:
            raise ArgumentError(f"{expr.kind}() has no argument '{kw.name}'." + did_you_mean(kw.name, _KWARGS[expr.kind]),
                                kw.loc, hint=f"e.g. let {name} = {_EXAMPLES[expr.kind]}")
        if kw.name in kwargs:
            raise ArgumentError(f"{expr.kind}(): argument '{kw.name}' given twice", kw.loc)
        kwargs[kw.name] = (env.eval(kw.value), kw.value.loc)
    common = dict(name=name, kind=expr.kind, loc=expr.loc, let_loc=let_loc)
    if expr.kind == "choice":
        space = Space(options=_options(expr, env), **common)
    else:
        low, high = _bounds(expr, env)
        step = _step(expr.kind, kwargs["step"]) if "step" in kwargs else None
        space = Space(low=low, high=high, step=step, **common)
    if "default" in kwargs:
        space = _with_default(space, *kwargs["default"])
    written = [(space.options[i] if space.kind == "choice" else (space.low, space.high)[i], arg.loc)
               for i, arg in enumerate(expr.args)]
    if space.has_default:
        written.insert(0, (space.default, kwargs["default"][1]))
    return replace(space, value_locs=tuple((to_source(v), loc) for v, loc in reversed(written)))


def _options(expr: ir.SearchSpace, env) -> tuple:
    if not expr.args:
        raise ArgumentError("choice() needs at least one option", expr.loc, hint=f"e.g. {_EXAMPLES['choice']}")
    options, seen = [], {}
    for arg in expr.args:
        value = env.eval(arg)
        text = to_source(value)
        if text in seen:
            raise ArgumentError(f"choice lists {text} twice", arg.loc, hint="each option once")
        seen[text] = arg.loc
        options.append(value)
    return tuple(options)


def _bounds(expr: ir.SearchSpace, env) -> tuple:
    kind = expr.kind
    if len(expr.args) != 2:
        raise ArgumentError(f"{kind}(low, high) takes two bounds, received {len(expr.args)}", expr.loc,
                            hint=f"e.g. {_EXAMPLES[kind]}")
    low, high = (_number(kind, env.eval(arg), arg.loc) for arg in expr.args)
    if kind == "loguniform":
        for value, arg in zip((low, high), expr.args):
            if value <= 0:
                raise ArgumentError(f"loguniform needs bounds > 0 (it samples their logarithm), received {value}",
                                    arg.loc, hint="e.g. loguniform(1e-5, 1e-1); for a range that includes 0 use "
                                                  "uniform(low, high)")
    if not low < high:
        raise ArgumentError(f"{kind}(low, high) needs low < high, received low={low}, high={high}", expr.args[1].loc,
                            hint="for a single value write it without a space: let x = VALUE")
    return (low, high) if kind == "int" else (float(low), float(high))  # uniform(0, 1) samples reals


def _number(kind: str, value, loc: Loc):
    wanted = int if kind == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted):
        what = "an integer" if kind == "int" else "a number"
        raise ArgumentError(f"{kind}() bounds must be {what}, received {to_source(value)}", loc,
                            hint="use uniform(low, high) for a range of real numbers" if kind == "int" else "")
    return value


def _step(kind: str, given) -> object:
    value, loc = given
    value = _number(kind, value, loc)
    value = value if kind == "int" else float(value)
    if value <= 0:
        raise ArgumentError(f"step must be > 0, received {value}", loc)
    return value


def _with_default(space: Space, value, loc: Loc) -> Space:
    if space.kind == "choice":
        texts = [to_source(o) for o in space.options]
        if to_source(value) not in texts:
            raise ArgumentError(f"default={to_source(value)} is not one of the options ({', '.join(texts)})", loc)
        return replace(space, default=space.options[texts.index(to_source(value))])
    value = _number(space.kind, value, loc)
    value = value if space.kind == "int" else float(value)
    if not space.low <= value <= space.high:
        raise ArgumentError(f"default={value} is outside {space.kind}({space.low}, {space.high})", loc)
    return replace(space, default=value)


def space_without_default(space: Space, loc: Optional[Loc]) -> DlspecError:
    """The error for using a space that has no default outside `dlspec tune`."""
    return DlspecError(f"let '{space.name}' is a search space ({space.describe()}) without a default, so it has "
                       "no value outside `dlspec tune`", space.let_loc or loc,
                       hint=f"add default=VALUE to it, or give it a value: --set {space.name}="
                            f"{to_source(space.base)}")


def space_outside_let(kind: str, loc: Loc) -> DlspecError:
    return ArgumentError(f"{kind}(...) is a search space; a search space must be the whole value of a `let`", loc,
                         hint=f"write `let x = {_EXAMPLES[kind]}` at the top level and use x here")
