"""Several outputs in a train block: `loss price: mse * 0.5, kind: cross_entropy` and `metrics price: mae,
kind: accuracy, f1` in, per output a checked `OutputTrain` (loss, weight, metrics) and, at fit, the
`Objective` a step calls (the weighted sum of the outputs' losses) and the metric columns out.

A model with one output keeps today's `loss mse` / `metrics mae` (this module is not used for it). With
several outputs every output needs a loss; metrics are optional. An unlabelled metric after a label
belongs to that label (`kind: accuracy, f1`). Columns are output, then metric: `kind_accuracy`,
`price_loss` (and `val_` before them for the val split); `loss` stays the weighted total.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import DlspecError, UnknownNameError, did_you_mean
from ..language import ir
from ..schema import settings as S
from .entries import bind
from .losses import LOSSES, loss_task
from .metrics import check_metrics, metric_name


@dataclass(frozen=True)
class Labelled:
    """One `name: value` item of a loss or metrics setting, read (value a Step, weight a number)."""

    label: str
    step: S.Step
    weight: float
    loc: object


@dataclass(frozen=True)
class OutputTrain:
    """What one output trains with: its loss entry and arguments, its weight and its checked metrics."""

    name: str
    loss: tuple  # (Component, args)
    weight: float
    metrics: list  # (MetricDef, args, step) as check_metrics gives
    loc: object  # where its loss is written

    @property
    def task(self) -> Optional[str]:
        return loss_task(self.loss[0])

    def columns(self) -> list:
        """This output's metrics.csv columns (without the split's prefix)."""
        return [f"{self.name}_loss"] + [f"{self.name}_{metric_name(m, a)}" for m, a, _ in self.metrics]


def is_labelled(s: ir.Setting) -> bool:
    return any(isinstance(a, ir.Labelled) for a in s.args)


def read_loss(s: ir.Setting, env):
    """`loss mse` (one output: a Step) or `loss price: mse * 0.5, kind: cross_entropy` (a list of Labelled)."""
    if not is_labelled(s):
        return S.step(s, env)
    if s.kwargs or s.body is not None:
        raise DlspecError("with a loss per output, arguments go in each call: loss price: huber(delta=2)", s.loc)
    items = []
    for a in s.args:
        if not isinstance(a, ir.Labelled):
            raise DlspecError("each loss of several outputs names its output: OUTPUT: LOSS", a.loc,
                              hint="e.g. loss price: mse * 0.5, kind: cross_entropy")
        step, weight = _weighted(a.value, env)
        items.append(Labelled(a.label, step, weight, a.loc))
    return items


def _weighted(expr, env) -> tuple:
    """(Step, weight) of `mse`, `mse * 0.5` or `0.5 * huber(delta=2)`."""
    weight = 1.0
    if isinstance(expr, ir.BinOp) and expr.op == "*":
        left_number = isinstance(expr.left, (ir.Literal, ir.Neg)) or \
            isinstance(expr.left, ir.Name) and expr.left.name in env.names()  # `w * mse` with `let w = 0.5`
        number, expr = (expr.left, expr.right) if left_number else (expr.right, expr.left)
        if isinstance(expr, ir.BinOp):  # mse * 0.5 * 2 reads as (mse * 0.5) * 2
            _refuse_arithmetic(expr)
        weight = env.eval(number)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise DlspecError(f"a loss weight must be a positive number, received {weight!r}", number.loc,
                              hint="e.g. loss price: mse * 0.5")
    if isinstance(expr, ir.BinOp):
        _refuse_arithmetic(expr)
    return S.to_step(env.eval(expr), expr.loc, "loss"), float(weight)


def _refuse_arithmetic(expr) -> None:
    """An output's loss is one loss times one weight; a sum of losses or a product of weights is not read."""
    raise DlspecError(f"an output's loss is one loss, optionally times one number (LOSS * WEIGHT); this "
                      f"'{expr.op}' joins more than that", expr.loc,
                      hint="e.g. loss price: mse * 0.5 (write the weight as one number; a sum of losses is "
                           "not supported)")


def read_metrics(s: ir.Setting, env):
    """`metrics mae, r2` (a list of Steps) or `metrics price: mae, kind: accuracy, f1` (Labelled items)."""
    if not is_labelled(s):
        return S.steps(s, env)
    if not isinstance(s.args[0], ir.Labelled):
        raise DlspecError("with metrics per output, the first metric names its output: OUTPUT: METRIC",
                          s.args[0].loc, hint="e.g. metrics price: mae, kind: accuracy, f1")
    items, label, loc = [], None, None
    for a in s.args:
        expr = a
        if isinstance(a, ir.Labelled):
            label, loc, expr = a.label, a.loc, a.value
        items.append(Labelled(label, S.to_step(env.eval(expr), expr.loc, "metrics"), 1.0, loc))
    return items


def model_outputs(program, model: str) -> list:
    """The `output NAME = ...` declarations of a model, in order."""
    return [st for st in program.models[model].body.statements if isinstance(st, ir.OutputDecl)]


def read_outputs(v: dict, program, model: str, decl) -> Optional[dict]:
    """name -> OutputTrain for a model with several outputs; None for one output (after refusing labels)."""
    outputs = model_outputs(program, model)
    loss, metrics = v.get("loss"), v.get("metrics", [])
    labelled = [x for x in (loss if isinstance(loss, list) else []) + list(metrics) if isinstance(x, Labelled)]
    if len(outputs) <= 1:
        if labelled:
            raise DlspecError(f"'{labelled[0].label}: ...' names an output, but model {model} has one output",
                              labelled[0].loc, hint="write the loss and metrics without a name: loss mse; metrics mae")
        return None
    names = [o.name for o in outputs]
    example = ", ".join(f"{n}: ..." for n in names)
    if not isinstance(loss, list):
        where = v.get("loss@loc", decl.loc)
        raise DlspecError(f"model {model} has {len(names)} outputs ({', '.join(names)}): give each its loss",
                          where, hint=f"loss {example}, e.g. loss {names[0]}: mse * 0.5")
    losses = {}
    for item in loss:
        _check_label(item, names, model, losses, "loss")
        losses[item.label] = item
    missing = [n for n in names if n not in losses]
    if missing:
        raise DlspecError(f"output '{missing[0]}' of model {model} has no loss", v["loss@loc"],
                          hint=f"add it: loss ..., {missing[0]}: mse (each output trains on its own loss)")
    if metrics and not isinstance(metrics[0], Labelled):
        where = v.get("metrics@loc", metrics[0].loc)
        raise DlspecError(f"model {model} has {len(names)} outputs ({', '.join(names)}): "
                          "name the output each metric measures", where,
                          hint=f"e.g. metrics {names[0]}: {metrics[0].name}, {names[1]}: ... "
                          f"(recorded as {names[0]}_{metrics[0].name})")
    steps: dict = {n: [] for n in names}
    for item in metrics:
        _check_label(item, names, model, None, "metrics")
        steps[item.label].append(item.step)
    checked = {n: _output(n, losses[n], steps[n]) for n in names}
    _refuse_split_names(outputs)
    return checked


SPLIT_PREFIXES = ("val", "test")


def _refuse_split_names(decls: list) -> None:
    """metrics.csv names a split's column by a `val_` or `test_` prefix, so an output named `val` (its
    training loss would be the column `val_loss`, the val split's total) or `test_x` would make one
    column mean two things, or a train column read as a split's."""
    for decl in decls:
        if decl.name in SPLIT_PREFIXES or decl.name.startswith(tuple(f"{p}_" for p in SPLIT_PREFIXES)):
            raise DlspecError(f"output '{decl.name}' would name metrics.csv columns like a split's "
                              f"({decl.name}_loss reads as the {decl.name.split('_')[0]} split's)", decl.loc,
                              hint="rename the output (val_ and test_ begin the val and test splits' columns)")


def _check_label(item: Labelled, names: list, model: str, seen: Optional[dict], what: str) -> None:
    if item.label not in names:
        raise UnknownNameError(f"{what}: model {model} has no output '{item.label}'." +
                               did_you_mean(item.label, names), item.loc, hint=f"its outputs: {', '.join(names)}")
    if seen is not None and item.label in seen:
        raise DlspecError(f"output '{item.label}' has two losses (first at line {seen[item.label].loc.line})",
                          item.loc, hint="give each output one loss")


def _output(name: str, item: Labelled, metric_steps: list) -> OutputTrain:
    loss = bind(LOSSES, item.step, "loss")
    checked = check_metrics(metric_steps)
    task = loss_task(loss[0])
    for m, _, st in checked:
        if task is not None and m.task is not None and m.task != task:
            raise DlspecError(f"metric {m.name} measures {m.task}, but output '{name}' is trained for {task} "
                              f"(loss {loss[0].name})", st.loc,
                              hint=f"for {task}: {', '.join(_suited(task))}")
    return OutputTrain(name, loss, item.weight, checked, item.loc)


def _suited(task: str) -> list:
    from .metrics import metrics_for
    return metrics_for(task)


def output_columns(outputs: dict) -> list:
    """Every per-output metrics.csv column (no split prefix), output by output."""
    return [c for o in outputs.values() for c in o.columns()]


def plain_outputs(outputs: dict) -> dict:
    """The per-output settings as plain data for run.yaml and checkpoints."""
    def step(pair):
        item, args = pair
        return {"name": item.name, **args}
    return {n: {"loss": step(o.loss), "weight": o.weight, "metrics": [metric_name(m, a) for m, a, _ in o.metrics]}
            for n, o in outputs.items()}
