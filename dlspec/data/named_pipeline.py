"""The data pipeline of named samples: a data block whose samples are `(x, y)` with x a dict input name ->
sample or y a dict output name -> target (a csv with inputs=, several targets, or a Dataset class that
yields dicts) in, a `DataBundle` of per-sample loaders out.

Each input has its own steps (`transform photo { resize(64) -> normalize(auto) }`, `augment photo
{ flip_horizontal }`; a model with one input takes the unnamed ones), built as data/pipeline.py builds
a block's; normalize(auto) is measured on that input's training samples. `scale standard|minmax`
scales every numeric target, fitted on the training split. These blocks take the per-sample route:
the cached one holds one tensor of samples and one of targets.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import torch

from ..errors import DataError
from .cache import SampleView
from .encoding import category_features, index_features
from .loaders import EpochDataLoader
from .step_checks import check_steps_suit, first_samples
from .transforms import compose

ROUTE = "several inputs or targets: the cached path holds one tensor of samples and one of targets"


def is_named(src, first) -> bool:
    """Whether a source's samples are named: dicts of inputs or of targets."""
    x, y = first
    return src.targets_info is not None or isinstance(x, dict) or isinstance(y, dict)


def peek(src, index: int) -> tuple:
    """Sample `index` of a Dataset class or plugin source, read without moving any random state (its
    __getitem__ may draw random numbers: the model's initialisation must not shift)."""
    import random

    import numpy as np
    state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        sample = src.train[index]
    random.setstate(state)
    np.random.set_state(np_state)
    return sample


def build_named(cfg, src, parts: dict, pin_memory: bool = False, fitted=None):
    from .pipeline import DataBundle
    dataset = src.train
    train = parts["train"][1]
    if src.fit_on_train is not None:
        src.fit_on_train(train, fitted)
    inputs_info = dict(getattr(dataset, "info", None) or {})
    targets_info = {k: dict(v) for k, v in (src.targets_info or {}).items()}
    x0, y0 = dataset[train[0]]
    if src.targets_info is None:  # a Dataset class or plugin yielding dicts
        check_yielded(cfg, x0, y0)
        told = getattr(dataset, "target_info", None)  # a Dataset class may say {name: {"task", "classes"}}
        targets_info = {k: {"column": None, "classes": None, **v} for k, v in told.items()} \
            if isinstance(told, dict) and isinstance(y0, dict) else (_yielded_targets(y0) or {})
    names = list(x0) if isinstance(x0, dict) else [None]
    per_input = {name: _input_steps(cfg, name, names, inputs_info, dataset, train) for name in names}
    target_scale = _scale_targets(cfg, dataset, train, targets_info)
    base, augment = _sample_fn(per_input, "base"), _sample_fn(per_input, "augment")
    _check_declared_shapes(cfg, dataset, train[0], base)
    loaders = {}
    for split, (ds, indices) in parts.items():
        if not len(indices):
            continue
        fn = compose([base, augment]) if split == "train" else base
        loaders[split] = EpochDataLoader(SampleView(ds, indices, fn), batch_size=cfg.batch,
                                         shuffle=split == "train" and cfg.shuffle, seed=cfg.seed,
                                         num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
                                         pin_memory=pin_memory, prefetch_factor=4 if cfg.workers > 0 else None)
    x1 = base(dataset[train[0]][0])
    for name, steps in per_input.items():
        key = name if name is not None else next(iter(inputs_info), None)  # one input: x is its tensor
        if key in inputs_info:
            inputs_info[key]["shape"] = list((x1[name] if name is not None else x1).shape)
            if steps["stats"]:
                inputs_info[key]["normalization"] = steps["stats"]
    single = None if len(targets_info) > 1 else next(iter(targets_info.values()), None)
    shape = tuple(x1.shape) if isinstance(x1, torch.Tensor) else ()
    return DataBundle(loaders, shape, src.classes, src.task, {k: len(i) for k, (_, i) in parts.items()},
                      normalization=per_input[None]["stats"] if None in per_input else None,
                      target_scale=single.get("scale") if single else target_scale,
                      features=None, target_column=src.target_column, path=f"data {cfg.name}: per-sample "
                      f"DataLoader ({ROUTE})", inputs=inputs_info or None, targets=targets_info or None)


def _input_steps(cfg, name, names: list, inputs_info: dict, dataset, train: list) -> dict:
    """{"base", "augment", "stats"} of one input: its steps as per-sample functions, and normalize(auto)'s
    statistics measured on its training samples."""
    from .pipeline import _normalizer, _pipeline, _to_tensor_fn
    if name is None or len(names) == 1:
        transform, augment = cfg.transform, cfg.augment  # one input: the unnamed steps (link_model)
    else:
        if cfg.transform or cfg.augment:
            raise DataError(f"data {cfg.name} feeds {len(names)} inputs ({', '.join(names)}): name the input "
                            "its transform and augment steps are for", cfg.loc,
                            hint=f"e.g. transform {names[0]} {{ ... }}")
        transform = cfg.transform_for.get(name, ([], None))[0]
        augment = cfg.augment_for.get(name, ([], None))[0]
    one = replace(cfg, transform=transform, augment=augment, transform_for={}, augment_for={})
    sizes = getattr(dataset, "sizes", None) or {}
    _check_same_size(cfg, name, sizes.get(name) if name is not None else next(iter(sizes.values()), None), transform)
    view = _InputView(dataset, name)
    table = (inputs_info.get(name) or {}).get("table")
    kept, spared = category_features(table), index_features(table)
    check_steps_suit(one, first_samples(one, view[train[0]][0]))
    base = compose([_to_tensor_fn(view[train[0]][0]), _pipeline(transform, kept)])
    normalize = _normalizer(one, view, train, base, spared)
    return {"base": compose([base, normalize]) or (lambda v: v), "augment": _pipeline(augment, kept),
            "stats": getattr(normalize, "stats", None)}


def _check_same_size(cfg, name, sizes: Optional[dict], transform: list) -> None:
    """An image column whose files differ in size cannot be batched unless the input's steps resize them."""
    if not sizes or len(sizes) < 2 or any(t.resizes for t, _, _ in transform):
        return
    (s1, p1), (s2, p2) = list(sizes.items())[:2]
    raise DataError(f"data {cfg.name}: the images of input '{name}' differ in size ({p1} is {s1[0]}x{s1[1]}, {p2} is "
                    f"{s2[0]}x{s2[1]}) and cannot be batched", cfg.loc,
                    hint=f"add `transform {name} {{ resize(64) }}` (or another size)" if len(cfg.model.inputs) > 1
                    else "add `transform { resize(64) }` (or another size)")


class _InputView:
    """The samples of one named input: (x[name], y)."""

    def __init__(self, dataset, name):
        self.dataset, self.name = dataset, name

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i]
        return (x[self.name] if self.name is not None else x), y


def _sample_fn(per_input: dict, key: str):
    """One function over a sample (a dict of inputs, or one input) applying each input's `key` steps."""
    fns = {name: steps[key] for name, steps in per_input.items()}
    if None in fns:
        return fns[None] or (lambda v: v)
    return lambda x: {name: (fns[name](v) if fns[name] is not None else v) for name, v in x.items()}


def _scale_targets(cfg, dataset, train: list, targets_info: dict) -> Optional[dict]:
    """`scale standard|minmax` on every numeric target, fitted on the training split (each target's scale is
    kept in its targets_info entry); None when nothing is scaled."""
    if cfg.scale == "none":
        return None
    numeric = [k for k, v in targets_info.items() if v["task"] == "regression"]
    if not numeric:
        read = ", ".join(f"{k} (column '{v['column']}')" if v.get("column") else k for k, v in targets_info.items())
        raise DataError(f"data {cfg.name}: scale applies to numeric targets, and no target here is a number: "
                        f"{read} {'is' if len(targets_info) == 1 else 'are'} read as classes",
                        cfg.scale_loc or cfg.loc,
                        hint="remove scale, or check the targets: a text column holds classes, and so does a "
                             "numeric one whose output is trained with a class loss")
    for output in numeric:
        values = dataset.y[output][train]
        if cfg.scale == "standard":
            center, spread = float(values.mean()), float(values.std())
        else:
            center, spread = float(values.min()), float(values.max() - values.min())
        spread = spread if spread > 1e-12 else 1.0
        dataset.y[output] = (dataset.y[output] - center) / spread
        targets_info[output]["scale"] = {"kind": cfg.scale, "center": center, "spread": spread, "inputs": False}
    return None


def _check_declared_shapes(cfg, dataset, index: int, base) -> None:
    """Each input's first sample after its steps against the shape the model declares for it."""
    side = cfg.model
    if side is None:
        return
    x = base(dataset[index][0])
    samples = x if isinstance(x, dict) else {side.inputs[0].name: x}
    for name, value in samples.items():
        declared = side.input(name)
        if declared is None or not isinstance(value, torch.Tensor):
            continue
        want = _declared_shape(declared)
        if want is not None and tuple(value.shape) != want:
            hint = (f"add `transform {name} {{ resize({want[1]}) }}`" if declared.kind == "image" and len(side.inputs) > 1
                    else f"add `transform {{ resize({want[1]}) }}`" if declared.kind == "image"
                    else "declare the size the data has")
            raise DataError(f"data {cfg.name}: input '{name}' gets samples of shape {list(value.shape)} after its "
                            f"steps, and the model declares {declared.kind}"
                            f"({', '.join(str(s) for s in declared.sizes)}) at line {declared.loc.line}",
                            cfg.loc, hint=hint)


def _declared_shape(declared) -> Optional[tuple]:
    """One sample's shape as the input declares it; None where the data gives it (vector(auto))."""
    wanted = {"image": 3, "sequence": 2, "tokens": 1, "vector": 1}.get(declared.kind)
    if not declared.sizes or wanted is not None and len(declared.sizes) != wanted:
        return None
    return tuple(declared.sizes)


def check_yielded(cfg, x, y) -> None:
    """The names a Dataset class (or plugin source) yields against the model's inputs and outputs."""
    side = cfg.model
    if side is None:
        return
    where, source = cfg.source.loc, cfg.source.name
    _check_names(source, "inputs", list(x) if isinstance(x, dict) else None, side.names, side.model, where)
    if side.outputs:
        _check_names(source, "targets", list(y) if isinstance(y, dict) else None, list(side.outputs), side.model,
                     where)
    elif isinstance(y, dict):
        raise DataError(f"source {source} yields targets as a dict ({', '.join(map(repr, y))}), and model "
                        f"{side.model} has one output", where, hint="yield the target itself, or name the model's "
                                                                    "outputs: output NAME = ...")
    for name, value in (x.items() if isinstance(x, dict) else ()):
        if not isinstance(value, torch.Tensor) and not hasattr(value, "getbands"):
            raise DataError(f"source {source} yields input '{name}' as a {type(value).__name__}; expected a tensor "
                            "(or a PIL image)", where)


def _check_names(source: str, what: str, given, wanted: list, model: str, where) -> None:
    if given is None:
        if len(wanted) > 1:
            example = ", ".join(f'"{n}": ...' for n in wanted)
            raise DataError(f"source {source} yields one {what[:-1]}, and model {model} has {len(wanted)} "
                            f"{'inputs' if what == 'inputs' else 'outputs'} ({', '.join(wanted)})", where,
                            hint=f"yield a dict by name: {{{example}}}")
        return
    missing, extra = [n for n in wanted if n not in given], [n for n in given if n not in wanted]
    if missing or extra:
        said = "; ".join(part for part in (
            f"missing {', '.join(repr(n) for n in missing)}" if missing else "",
            f"not in the model: {', '.join(repr(n) for n in extra)}" if extra else "") if part)
        raise DataError(f"source {source} yields {what} {', '.join(repr(str(n)) for n in given)}, and model {model} "
                        f"takes {', '.join(wanted)} ({said})", where,
                        hint=f"yield a dict keyed by the model's {'inputs' if what == 'inputs' else 'outputs'}")


def _yielded_targets(y) -> Optional[dict]:
    """output name -> {"task", "classes"} of dict targets a Dataset class yields: integer targets are class
    indices, others numbers; None for one target (a tensor: the bundle's task and classes describe it)."""
    if not isinstance(y, dict):
        return None
    return {name: {"column": None, "task": "classification" if not torch.is_floating_point(torch.as_tensor(v))
                   else "regression", "classes": None} for name, v in y.items()}
