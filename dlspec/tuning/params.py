"""Spaces as Optuna parameters: a `Space` in, an Optuna distribution out, and a sampled parameter
back to the spec text that `--set` and best.dlspec use.

Numbers are Optuna numbers. A `choice` whose options are all numbers, booleans
or none is categorical over those values; any other `choice` (names, strings,
lists, calls) is categorical over the options' spec texts, so what Optuna
stores reads back to exactly the value written in the spec.
"""
from __future__ import annotations

from ..language.spaces import Space
from ..language.values import to_source


def _plain_choice(space: Space) -> bool:
    return all(o is None or (isinstance(o, (bool, int, float))) for o in space.options)


def distribution(space: Space):
    """The Optuna distribution of a space."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    if space.kind == "choice":
        return CategoricalDistribution(list(space.options) if _plain_choice(space)
                                       else [to_source(o) for o in space.options])
    if space.kind == "int":
        return IntDistribution(space.low, space.high, step=space.step or 1)
    return FloatDistribution(float(space.low), float(space.high), log=space.kind == "loguniform",
                             step=float(space.step) if space.step is not None else None)


def to_param(space: Space, value):
    """A spec value of the space (its default, say) as the Optuna parameter that stands for it."""
    if space.kind == "choice":
        return value if _plain_choice(space) else to_source(value)
    return float(value) if space.kind != "int" else value


def to_text(space: Space, param) -> str:
    """An Optuna parameter as spec text (the value of `--set NAME=...`, the let in best.dlspec)."""
    if space.kind == "choice" and not _plain_choice(space):
        return str(param)
    if space.kind == "int":
        return to_source(int(param))
    return to_source(param)


def suggest(trial, spaces: dict) -> dict:
    """Sample every space in a trial; name -> spec text."""
    return {name: to_text(space, _suggest_one(trial, name, space)) for name, space in spaces.items()}


def _suggest_one(trial, name: str, space: Space):
    dist = distribution(space)
    if space.kind == "choice":
        return trial.suggest_categorical(name, dist.choices)
    if space.kind == "int":
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log, step=dist.step)
