"""Checking a spec across its search spaces: a loaded `Spec` in, the `Spec` at its base values out.

`dlspec compile` and `dlspec tune` plan every model and check every data and
train block once per value worth trying: every space at its base value (its
default, else its first option or low end), then one space at a time at each
of its `choice` options and at both ends of its range, the others at their
base values. A value that breaks the spec (a width that no longer fits a
`concat`, a depth the planner refuses) is reported at the `let` line, naming
the value and where it broke; for a large model, fewer values (at most
MAX_PLANNED_LAYERS layers planned in all). No torch, no Optuna.
"""
from __future__ import annotations

from typing import Optional

from ..errors import DlspecError
from ..language.spaces import Space
from ..language.values import to_source
from ..spec import Spec

MAX_CHECKS = 32  # plans beyond the base one; past it the remaining values are left to the trials
MAX_PLANNED_LAYERS = 20_000  # ...and no more layers planned than this in all, so a big model stays quick


def open_spaces(spec: Spec) -> dict:
    """The spaces of a spec that `--set` has not fixed: name -> Space, in declaration order."""
    return {name: space for name, space in spec.program.spaces.items() if name not in spec.program.overrides}


def base_overrides(spaces: dict) -> dict:
    """`--set`-style texts that give each space its base value."""
    return {name: to_source(space.base) for name, space in spaces.items()}


def at_values(spec: Spec, values: dict) -> Spec:
    """The spec with some lets set to spec texts (kept with the spec's own overrides)."""
    overrides = {**_given(spec), **values}
    return Spec(spec.program.with_overrides(overrides), spec.text)


def check_spaces(spec: Spec, model: Optional[str] = None, train: Optional[str] = None) -> Spec:
    """Check the spec at the values its spaces can take (see the module doc); return it at the base values."""
    spaces = open_spaces(spec)
    base = base_overrides(spaces)
    if not spaces:
        return spec
    base_spec = at_values(spec, base)
    layers = _check_point(base_spec, model, train, None, None)
    checks = [(space, value) for space in spaces.values() for value in space.points()[1:]]
    for space, value in checks[:min(MAX_CHECKS, max(2, MAX_PLANNED_LAYERS // max(layers, 1)))]:
        _check_point(at_values(spec, {**base, space.name: to_source(value)}), model, train, space, value)
    return base_spec


def _given(spec: Spec) -> dict:
    """The spec's own `--set` overrides, as texts again (they are parsed once more)."""
    return {name: value if "." in name else to_source(value)  # BLOCK.SETTING is kept as the text it was given
            for name, value in spec.program.overrides.items()}


def _check_point(spec: Spec, model: Optional[str], train: Optional[str], space: Optional[Space], value) -> int:
    """Plan the models and check the blocks at one point of the space; the number of layers planned."""
    from ..diagnostics import check_blocks
    from ..planning.nodes import iter_nodes
    from ..train.measure import Measurements
    measurements = Measurements(spec, loaders=False)  # checking only: vector(auto) measures the data of the train block asked for
    try:
        names = [spec.model_name(model)] if model else spec.model_names
        layers = sum(1 for name in names for _ in iter_nodes(measurements.plan(name, train)))
        check_blocks(spec, train, measurements=measurements)
        return layers
    except DlspecError as exc:
        if space is None or (exc.loc is not None and exc.loc == space.let_loc):
            raise
        raise _at_let(exc, space, value) from None


def _at_let(exc: DlspecError, space: Space, value) -> DlspecError:
    where = f" (at {exc.loc})" if exc.loc is not None else ""
    error = type(exc).__new__(type(exc))
    DlspecError.__init__(error, f"with {space.name} = {to_source(value)} the spec does not work: {exc.message}{where}",
                         space.loc_of(value), hint="every value a search space can take must compile: narrow the space "
                                         f"({space.describe()}) or change the model")
    return error
