"""Do the loss, the metrics, the model's last layer and the data fit together? A train block, its model's
plan (and, at fit, its loaded data) in; a located error or warning where they do not out.

The loss's registry entry says what it takes (train/entries.py: `target`, `expects`), not its name.
Two moments: `check_model_end` runs with the train block (compile and fit), when only the spec is known,
and warns about a last layer that does not suit the loss (and refuses a written loss over one score per
class, such as cross_entropy or nll, over a single output, which has nothing to tell apart);
`check_task` runs once the data is loaded, before the first training step, and turns a loss or metric
that cannot measure the data's task into an error at the setting's line (instead of 0.0000 every epoch
or an internal error from inside torch). Both refuse average=binary over more than two classes (the
model's logits say so at compile, the data at fit), and `check_data_fits_model` refuses a batchnorm that
a last batch of one sample would make torch fail on mid-epoch.
"""
from __future__ import annotations

import math
from typing import Optional

from ..errors import TrainError, warn
from .losses import loss_task, one_hot_classes, scores_classes
from .metrics import metrics_for

_ALIASES = {"logsoftmax": "log_softmax"}


def last_layer(node):
    """The LayerNode whose output is the body's output, descending into blocks; None when the
    output is a merge (add/mul/concat), the input itself, or a parameter."""
    from ..planning.nodes import BodyNode, LayerNode
    while True:
        if isinstance(node, LayerNode):
            return node
        if not isinstance(node, BodyNode):
            return None
        if not node.graph:
            if not node.children:
                return None
            node = node.children[-1]
            continue
        node = _graph_producer(node)


def _graph_producer(body):
    """The child module that computes a graph body's output, following `x = y` aliases."""
    ops = {op.target: op for op in body.ops}
    name, seen = body.output, set()
    while name in ops and name not in seen:
        seen.add(name)
        op = ops[name]
        if op.kind == "module":
            return next((c for c in body.children if c.name == op.module), None)
        if op.kind != "ref":
            return None  # a merge: no single last layer
        name = op.inputs[0]
    return None


def layer_kind(node) -> str:
    """softmax, log_softmax, sigmoid, ...: the layer's name without a torch.nn. prefix, lower-cased."""
    name = node.layer.name.rsplit(".", 1)[-1].lower()
    return _ALIASES.get(name, name)


def check_model_end(cfg, plan) -> None:
    """Warn when the model's last layer defeats the loss (softmax before cross_entropy, ...); a written
    class loss over one output is an error (a default loss waits for the data: it may become mse)."""
    if "loss" in cfg.locs:
        check_class_outputs(cfg, plan)
    if "loss" in cfg.locs and cfg.loss[0].target == "class":  # a default loss may yet become mse
        dims = plan.out_shape.dims
        if len(dims) == 1:
            check_binary_average(cfg, dims[0], f"model {cfg.model} gives {dims[0]} class logits per sample")
    last = last_layer(plan)
    if last is None:
        return
    loss, kind = cfg.loss[0], layer_kind(last)
    if loss.expects == "logits" and kind in ("softmax", "sigmoid"):
        warn(f"the model ends with {kind} but loss {loss.name} expects raw logits "
             + _SQUASHED.get(loss.target, "(it applies the softmax or sigmoid itself)"), last.loc,
             hint=f"remove {kind}: predictions still report probabilities")
    elif loss.expects == "log_probs" and kind != "log_softmax":
        warn(f"loss {loss.name} expects log-probabilities, but the model ends with {kind}", last.loc,
             hint="end the model with log_softmax(1), or use loss cross_entropy on raw logits")


# why a softmax or sigmoid before a logits loss hurts, by the loss's target
_SQUASHED = {"class": "(it applies log-softmax itself); probabilities squashed twice train slowly or not at all",
             "binary": "(it applies the sigmoid itself)"}


def check_class_outputs(cfg, plan) -> None:
    """A loss over one score per class (losses.scores_classes: cross_entropy, nll, a plugin loss declaring
    class targets from logits or log-probabilities) with one output per sample: the log-softmax
    of one logit is 0, so cross_entropy is 0 whatever the weights (nll falls for ever); an error at the
    loss line."""
    loss = cfg.loss[0]
    dims = plan.out_shape.dims
    if not scores_classes(loss) or not dims or dims[0] != 1:
        return
    written = "loss" in cfg.locs
    named = f"loss {loss.name}" if written else f"the default loss {loss.name}"
    raise TrainError(f"{named} needs one output per class, but model {cfg.model} gives 1 per sample "
                     f"(shape {list(dims)}): over a single class "
                     + ("the loss is 0 whatever the weights and nothing is learnt" if loss.expects == "logits"
                        else "there is nothing to tell apart"),
                     cfg.locs.get("loss", cfg.loc),
                     hint="end the model with linear(N) for N classes; for two classes with one logit, use loss "
                          "bce_with_logits; for a number to predict, loss mse")


def check_task(cfg, data, plan, model_loc=None) -> None:
    """Errors for a loss or metric that cannot measure the data's task, located at its setting."""
    task = data.task
    if task not in ("classification", "regression") or cfg.target == "input":
        return  # a dotted Dataset that does not say, or targets that are the input (target_checks.py)
    if task == "classification":
        check_class_outputs(cfg, plan)  # the default loss, now that the data kept it cross_entropy
    why = _why(data)
    loss = cfg.loss[0]
    implied = loss_task(*cfg.loss)
    where = cfg.locs.get("loss", cfg.loc)
    named = f"loss {loss.name}" if "loss" in cfg.locs else f"the default loss {loss.name}"
    if implied == "regression" and task == "classification":
        raise TrainError(f"{named} compares numbers, but data {cfg.data.name} holds class labels{why}", where,
                         hint="use loss cross_entropy for class labels, or task=regression on the csv source "
                              "if the labels are numbers to predict")
    if implied == "classification" and task == "regression":
        if one_hot_classes(*cfg.loss):  # "loss mse needs class labels ... use loss mse" would contradict itself
            raise TrainError(f"loss {loss.name}(one_hot=true) compares class labels as one-hot rows, but data "
                             f"{cfg.data.name} is a regression task{why}", where,
                             hint=f"drop one_hot=true: loss {loss.name} compares the numbers themselves")
        raise TrainError(f"{named} needs class labels, but data {cfg.data.name} is a regression task{why}", where,
                         hint="use loss mse, l1 or huber for numbers (or task=classification on the csv source)")
    for metric, args, step in cfg.metrics:
        if metric.task and metric.task != task:
            fitting = ", ".join(metrics_for(task))
            raise TrainError(f"metric '{metric.name}' measures {metric.task}, but data {cfg.data.name} is a "
                             f"{task} task{why}", step.loc, hint=f"metrics for {task}: {fitting}")
    if task == "classification" and data.classes and loss.target == "class":
        listed = why[2:-1] if why.startswith(" (") else f"{len(data.classes)} classes"  # "5 classes: a, b, ..."
        check_binary_average(cfg, len(data.classes), f"data {cfg.data.name} has {listed}")
    where_model = model_loc or cfg.locs.get("model", cfg.loc)
    if getattr(data, "dense", False):  # masks: the per-sample width checks below would ask for linear(N)
        check_dense_output(cfg, data, plan, where_model)
        return
    if implied == "regression":
        _check_output_width(cfg, data, plan, where_model)
    out = math.prod(plan.out_shape.dims) if plan.out_shape.dims else 1
    if one_hot_classes(*cfg.loss) and data.classes and out != len(data.classes):
        raise TrainError(f"model {cfg.model} outputs {out} values per sample, but loss {loss.name}(one_hot=true) "
                         f"compares them with one-hot rows of the {len(data.classes)} classes of data "
                         f"{cfg.data.name}{why}", where_model, hint=f"end the model with linear({len(data.classes)})")
    if loss.target == "binary" and data.classes and 1 < out != len(data.classes):
        raise TrainError(f"model {cfg.model} outputs {out} logits per sample but data {cfg.data.name} has "
                         f"{len(data.classes)} classes{why}", where_model,
                         hint=f"end the model with linear({len(data.classes)}) (one logit per class) or linear(1) "
                              "for two classes")


def check_binary_average(cfg, classes: int, reason: str) -> None:
    """average=binary scores the positive class of a two-class problem; over more classes it would
    quietly report the macro average instead: an error at the metric's argument."""
    if classes <= 2:
        return
    for metric, args, step in cfg.metrics:
        if args.get("average") == "binary":
            raise TrainError(f"metric {metric.name}: average=binary scores the positive class of two classes, but "
                             f"{reason}", step.arg_locs.get("average", step.loc),
                             hint=f"for {classes} classes use average=macro (each class counts the same), micro "
                                  "(each sample counts the same) or weighted (each class by its samples)")


def _why(data) -> str:
    """What the data holds, in words, for the end of a task mismatch message."""
    if data.task == "classification" and data.classes:
        shown = ", ".join(map(str, data.classes[:4])) + (", ..." if len(data.classes) > 4 else "")
        return f" ({len(data.classes)} classes: {shown})"
    column = data.target_column
    if data.task == "regression" and column:
        return f" (target column '{column}' holds numbers)"
    return ""


def _check_output_width(cfg, data, plan, loc) -> None:
    """mse/l1/huber broadcast silently when the model's output and the target differ in size."""
    target: Optional[tuple] = data.target_shape
    if target is None:
        return
    out = math.prod(plan.out_shape.dims) if plan.out_shape.dims else 1
    want = math.prod(target) if target else 1
    if out != want:
        what = "horizon" if data.series is not None else "target width"
        raise TrainError(f"model {cfg.model} outputs {out} values per sample, but data {cfg.data.name} has "
                         f"{want} target value(s) per sample ({what} {want})", loc,
                         hint=f"end the model with linear({want})")


def check_data_fits_model(spec, cfg, data, plan) -> None:
    """The model (`plan`) takes the data's samples, and its output width matches the classes its loss needs."""
    want, got = tuple(plan.in_shape.dims), tuple(data.sample_shape)
    if want != got and len(plan.inputs) < 2:  # several inputs: each one's shape is checked by targets.py
        raise TrainError(f"model {cfg.model} takes samples of shape {list(want)}, but data "
                         f"{cfg.data.name} gives {list(got)}", _input_loc(spec, cfg.model),
                         hint="write input vector(auto): the width comes from the table's encoded columns"
                         if data.table else "change the model's input, or add resize/grayscale steps to the data's "
                                            "transform")
    classes = data.classes
    loss = cfg.loss[0]
    out = plan.out_shape.dims[-1] if plan.out_shape.dims else 1
    where = cfg.locs.get("model", cfg.loc)
    if getattr(data, "dense", False):
        check_dense_output(cfg, data, plan, where)
    elif classes and scores_classes(loss) and out != len(classes):
        raise TrainError(f"model {cfg.model} outputs {out} values per sample but data "
                         f"{cfg.data.name} has {len(classes)} classes ({_few(classes)})", where,
                         hint=f"end the model with linear({len(classes)})")
    if classes and loss.target == "binary" and out == 1 and len(classes) > 2:
        raise TrainError(f"model {cfg.model} has one output (a binary logit) but data "
                         f"{cfg.data.name} has {len(classes)} classes ({_few(classes)})", where,
                         hint=f"use linear({len(classes)}) with loss cross_entropy")
    check_batchnorm_batches(plan, cfg, data)


def check_dense_output(cfg, data, plan, where) -> None:
    """Per-pixel class targets [H, W] need a loss over class scores and an output [classes, H, W]."""
    loss, dims, mask = cfg.loss[0], tuple(plan.out_shape.dims), tuple(data.target_shape or ())
    named = f"loss {loss.name}" if "loss" in cfg.locs else f"the default loss {loss.name}"
    if loss.target is not None and not scores_classes(loss):
        raise TrainError(f"{named} does not score classes, but data {cfg.data.name} gives a class per pixel "
                         f"(masks of {len(data.classes)} classes)", cfg.locs.get("loss", cfg.loc),
                         hint="use loss cross_entropy or dice for masks" + (
                             f", with conv({len(data.classes)}, 1) in place of one logit per pixel"
                             if loss.target == "binary" else ""))
    want = (len(data.classes),) + mask
    if dims != want:
        raise TrainError(f"model {cfg.model} outputs {list(dims)} per sample, but data {cfg.data.name} has masks of "
                         f"{mask[1]}x{mask[0]} pixels (width x height) and {len(data.classes)} classes "
                         f"({_few(data.classes)}), which need one score per class and pixel: {list(want)}", where,
                         hint=f"end the model with conv({len(data.classes)}, 1) at the masks' size")
    top_k = next((step for metric, _, step in cfg.metrics if metric.name == "top_k"), None)
    if top_k is not None:
        raise TrainError(f"metric top_k scores one class per sample, but data {cfg.data.name} gives a class per "
                         "pixel", top_k.loc, hint="metrics for masks: iou, pixel_accuracy, f1, precision, recall")


def check_batchnorm_batches(plan, cfg, data) -> None:
    """batchnorm in training needs more than one value per channel in each batch. Where a sample holds one
    per channel (a vector, or [C, 1, 1]), a last batch of a single sample (train samples % batch == 1) makes
    torch fail mid-epoch; refused at the batchnorm's line before the first step."""
    from ..planning.nodes import LayerNode, iter_nodes
    train, batch = data.sizes.get("train", 0), cfg.data.batch
    if not train or (train % batch != 1 and batch != 1):
        return
    for _, node, _ in iter_nodes(plan):
        if not isinstance(node, LayerNode) or node.layer.name != "batchnorm":
            continue
        dims = node.in_shape.dims
        if math.prod(dims) // dims[node.channel_axis] == 1:
            fits = next((b for b in range(max(batch + 1, 2), train + 2) if train % b != 1), None)
            change = (f"change batch so that {train} samples leave no batch of 1 (e.g. batch {fits}), or "
                      if fits else "train on more than 1 sample, or ")
            raise TrainError(f"batchnorm on {node.in_shape.labelled()} has one value per channel in each sample, "
                             f"and the last batch of data {cfg.data.name} holds 1 sample ({train} train samples, "
                             f"batch {batch}): torch cannot normalise over a single value in training", node.loc,
                             hint=change + "use layernorm, which normalises each sample on its own")


def check_table_fits(spec, cfg, measured) -> None:
    """At compile: a csv table is cheap to read, so its width and targets are checked against the model
    then (as fit would at its start) instead of waiting for `dlspec fit`. Other data is not loaded, and a
    table a vector(auto) input already loaded for this train block (`measured`, train/measure.py: the
    model as the block's own data shapes it) is not read again."""
    from ..data.described import describe_data
    from ..data.sources.base import SOURCES
    from .config import fitted_to_task
    source = SOURCES.get(cfg.data.source.name) if cfg.data.source_args is not None else None
    if source is None or source.input_kind != "table":
        return
    data = measured.bundle if measured.train == cfg.name and measured.bundle is not None \
        else describe_data(cfg.data, loss_task=cfg.loss_task)  # the facts and checks, no loaders
    plan = spec.plan(cfg.model, measured.checked())
    cfg = fitted_to_task(cfg, data.task)
    check_task(cfg, data, plan)
    check_data_fits_model(spec, cfg, data, plan)


def warn_ordinal_categories(spec, cfg, data, plan) -> None:
    """A table's many-level category columns reach a model (`plan`) with a written input width as plain level
    indices (an ordinal order nobody chose): say so at the model's input line, with the two ways out."""
    from ..data.encoding import ordinal_columns
    first = plan.children[0] if plan.children else None
    embedded = getattr(getattr(first, "layer", None), "name", None) == "category_embedding"
    names = ordinal_columns(data.table)
    if names and not embedded:
        warn(f"model {cfg.model} takes column(s) {', '.join(repr(n) for n in names)} of data {cfg.data.name} as "
             "one feature holding the level's index (an ordinal), not a learnt embedding", _input_loc(spec, cfg.model),
             hint="write input vector(auto) to learn an embedding per level, or one-hot them with "
                  "csv(..., onehot_max=N)")


def _input_loc(spec, model: str):
    """Where a model declares its input (its `input` line), else the model itself."""
    decl = spec.program.models[model]
    first = decl.body.statements[0] if decl.body.statements else decl
    return first.loc


def _few(classes: list) -> str:
    shown = ", ".join(map(str, classes[:5]))
    return shown + (", ..." if len(classes) > 5 else "")
