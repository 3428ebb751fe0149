"""What a model is trained against besides the data's labels: a train block and its model's plan in, a
located error out where `target input` (an autoencoder) cannot reconstruct the input, or where a term the
model adds to the loss (`add_loss`) would take the metrics.csv column of a listed metric.

The target of each batch is the batch the model receives: after the data's transforms and
normalisation. `augment` is refused with it, since the target would then be the augmented input
rather than the clean one a Keras user expects from `fit(x, x)`.
"""
from __future__ import annotations

from ..errors import DlspecError, ShapeError, TrainError
from ..planning.nodes import BodyNode, iter_nodes


def check_target_input(cfg, plan) -> None:
    """Errors for `target input` with a model, loss, metric or data block that cannot use it."""
    if cfg.target != "input":
        return
    where = cfg.locs.get("target", cfg.loc)
    if len(plan.inputs) > 1 or len(plan.outputs) > 1:
        raise TrainError(f"target input needs a model of one input and one output; model {cfg.model} has "
                         f"{max(len(plan.inputs), 1)} inputs and {max(len(plan.outputs), 1)} outputs", where)
    loss = cfg.loss[0]
    if loss.target == "class":
        raise TrainError(f"target input compares the output with the input, and loss {loss.name} needs class "
                         f"labels",
                         cfg.locs.get("loss", where),
                         hint="use loss mse, l1 or huber, or bce_with_logits for inputs in [0, 1]")
    if loss.name == "bce_with_logits":
        _check_unit_range_targets(cfg, cfg.locs.get("loss", where))
    if plan.out_shape.dims != plan.in_shape.dims:
        raise ShapeError(f"target input: model {cfg.model} outputs {plan.out_shape.labelled()} per sample, but its "
                         f"input is {plan.in_shape.labelled()}; the output must have the input's shape", where,
                         hint="end the model with layers that give back the input's shape, e.g. reshape"
                              f"({', '.join(map(str, plan.in_shape.dims))})")
    if cfg.data.augment:
        raise TrainError(f"target input with augment in data {cfg.data.name}: the target would be the augmented "
                         f"input, not the clean one", where,
                         hint="remove augment (the transforms are applied to input and target alike)")
    for metric, _, step in cfg.metrics:
        if metric.task == "classification":
            raise TrainError(f"metric '{metric.name}' measures classes, and target input makes the targets the "
                             f"input's values", step.loc, hint="use mae or mse")


def _check_unit_range_targets(cfg, loc) -> None:
    """bce_with_logits reads its targets as probabilities in [0, 1]; `normalize` or `scale standard` moves the
    input (so the target) off that range, and torch would train on a meaningless loss without a word."""
    data = cfg.data
    steps = [st for t, _, st in data.transform if t.name == "normalize"]
    if steps:
        moved, line = "normalize", steps[0].loc.line
    elif data.scale == "standard":
        moved, line = "scale standard", data.scale_loc.line if data.scale_loc else data.loc.line
    else:
        return
    raise TrainError(f"loss bce_with_logits needs targets in [0, 1], and target input makes the target the input "
                     f"after {moved} (data {data.name}, line {line}), whose values are centred on 0", loc,
                     hint=f"use loss mse, l1 or huber, or drop {moved} so the inputs stay in [0, 1]")


def check_term_columns(cfg, plan) -> None:
    """An add_loss term named like a listed metric would overwrite that metric's column: an error at the term."""
    metrics = {metric_column: step for metric_column, (_, _, step) in zip(cfg.metric_names(), cfg.metrics)}
    bodies = [plan] + [node for _, node, _ in iter_nodes(plan) if isinstance(node, BodyNode)]
    for body in bodies:
        for op in body.ops:
            if op.kind == "add_loss" and op.module in metrics:
                raise DlspecError(f"add_loss term '{op.module}' would be recorded in the metrics.csv column of metric "
                                  f"'{op.module}' (line {metrics[op.module].loc.line})", op.loc,
                                  hint="name the term otherwise, e.g. add_loss(..., name=kl)")
