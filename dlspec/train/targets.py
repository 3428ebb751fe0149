"""What the data says of each target of a model with several outputs: a loaded DataBundle in, name ->
{"task", "classes", "scale"} out, and the check that each output's loss suits its target.

THE JOIN POINT with the data side of several targets (issue 25): the data stage is to carry a per-target
mapping on the bundle (`bundle.targets`: name -> {"task", "classes", "scale"}). Until it does, a dotted
source's data set may declare the same mapping as its `target_info` attribute, found here under the
split's Subset wrappers. Only `output_targets` reads either.
"""
from __future__ import annotations

from typing import Optional

from ..errors import DlspecError, TrainError


def output_targets(bundle, first_targets=None) -> dict:
    """name -> {"task", "classes", "scale"} of each target the data yields. Where the data says nothing of
    a target, its task is read from a first batch's targets (`first_targets`, a dict): integer class
    indices are a classification, floats a regression."""
    told = _told(bundle)
    if isinstance(first_targets, dict):
        for name, y in first_targets.items():
            if name not in told:
                task = "regression" if y.is_floating_point() else "classification"
                told[name] = {"task": task, "classes": None, "scale": None}
    return told


def _told(bundle) -> dict:
    """What the data declares of its targets ({} when it says nothing)."""
    found = getattr(bundle, "targets", None)
    if isinstance(found, dict):
        return _plain(found)
    loader = (bundle.loaders or {}).get("train")
    dataset = getattr(loader, "dataset", None)
    for _ in range(8):  # Subset(SampleView(...)): the source's own data set is a few wrappers down
        if dataset is None:
            break
        info = getattr(dataset, "target_info", None)
        if isinstance(info, dict):
            return _plain(info)
        dataset = getattr(dataset, "dataset", getattr(dataset, "base", None))
    return {}


def _plain(info: dict) -> dict:
    return {str(k): {"task": v.get("task"), "classes": list(v["classes"]) if v.get("classes") is not None else None,
                     "scale": v.get("scale")} for k, v in info.items()}


def check_output_targets(cfg, targets: dict, plan=None) -> None:
    """Each output's loss suits what the data says of its target (a located error at the output's loss),
    and a class output scores as many classes as its target has (an error at its `output` line)."""
    for name, out in cfg.outputs.items():
        _check_class_width(cfg, name, out, targets.get(name) or {}, plan)
        target: Optional[dict] = targets.get(name)
        if target is None:
            if targets:  # the data names its targets, and not this one
                raise TrainError(f"data {cfg.data.name} has no target '{name}' for output '{name}' (its targets: "
                                 f"{', '.join(targets)})", out.loc,
                                 hint="each output trains on the data's target of the same name")
            continue
        task = out.task
        if task is not None and target.get("task") not in (None, task):
            raise DlspecError(f"output '{name}' is trained with loss {out.loss[0].name} ({task}), but its target "
                              f"in data {cfg.data.name} is a {target['task']}", out.loc,
                              hint=_suits(target["task"]))


def _check_class_width(cfg, name: str, out, target: dict, plan) -> None:
    from .losses import scores_classes
    classes = target.get("classes")
    shape = plan.outputs.get(name) if plan is not None else None
    if not classes or shape is None or not scores_classes(out.loss[0]):
        return
    width = shape.dims[-1] if shape.dims else 1
    if width != len(classes):
        raise TrainError(f"output '{name}' gives {width} values per sample, but its target in data {cfg.data.name} "
                         f"has {len(classes)} classes", plan.output_locs.get(name, out.loc),
                         hint=f"end it with linear({len(classes)})")


def _suits(task: str) -> str:
    return "for classes: cross_entropy, bce_with_logits, nll" if task == "classification" \
        else "for numbers: mse, l1, huber"


def recorded_outputs(cfg, targets: dict) -> Optional[dict]:
    """What a run keeps of its outputs (names in order, task, classes, scale, loss, weight), or None."""
    if not cfg.outputs:
        return None
    return {name: {"task": o.task or (targets.get(name) or {}).get("task"),
                   "classes": (targets.get(name) or {}).get("classes"),
                   "scale": (targets.get(name) or {}).get("scale"),
                   "loss": o.loss[0].name, "weight": o.weight}
            for name, o in cfg.outputs.items()}


def check_named_batch(spec, cfg, bundle, plan=None):
    """With several inputs (or outputs), the data's samples must be dicts naming each input (or target):
    a located error at the data block otherwise, before any step runs. Returns the first batch's targets
    (None for a model with one input and one output, whose batch is not looked at)."""
    from ..planning.named import leading_inputs
    from .objective import model_outputs
    program = spec.program
    inputs = [d.name for d in leading_inputs(program.models[cfg.model].body.statements)]
    outputs = [o.name for o in model_outputs(program, cfg.model)]
    if len(inputs) < 2 and len(outputs) < 2:
        return None
    import torch
    with torch.random.fork_rng():  # peeking at a batch must not shift the global RNG
        x, y = next(iter(bundle.loaders["train"]))
    for what, names, got in (("inputs", inputs, x), ("outputs", outputs, y)):
        if len(names) < 2:
            continue
        side = "inputs" if what == "inputs" else "targets"
        if not isinstance(got, dict):
            raise TrainError(f"model {cfg.model} has {len(names)} {what} ({', '.join(names)}), but data "
                             f"{cfg.data.name} gives one tensor of {side} per sample", cfg.data.loc,
                             hint=f"a source for this model yields a dict of {side} by name, "
                                  f"e.g. {{{', '.join(repr(n) + ': ...' for n in names)}}}")
        missing = [n for n in names if n not in got]
        if missing:
            raise TrainError(f"data {cfg.data.name} gives no {side[:-1]} '{missing[0]}' for model {cfg.model}'s "
                             f"{what[:-1]} of that name (it gives: {', '.join(map(str, got))})", cfg.data.loc,
                             hint=f"the model's {what}: {', '.join(names)}")
    if plan is not None and len(inputs) > 1:
        _check_input_shapes(cfg, plan, x, program)
    return y


def _check_input_shapes(cfg, plan, x: dict, program) -> None:
    """Each named input's samples have the shape its declaration says: an error at that input's line."""
    from ..planning.named import leading_inputs
    decls = {d.name: d for d in leading_inputs(program.models[cfg.model].body.statements)}
    for name, shape in plan.inputs.items():
        want, got = tuple(shape.dims), tuple(x[name].shape[1:])
        if want != got:
            raise TrainError(f"input '{name}' of model {cfg.model} takes samples of shape {list(want)}, but data "
                             f"{cfg.data.name} gives {list(got)} for it", decls[name].loc,
                             hint=f"declare it with the data's shape, or change what the data gives for '{name}'")
