"""Data blocks checked without loading data: an `ir.DataDecl` in, a `DataConfig` out.

Validates the source (registered name, dotted class, or a `use` file's Dataset class), split fractions
(or the splits the data gives), batch size, workers and transform/augment/pipeline steps
(`transform NAME { }`: the steps of one named input, checked against the model once a train block
links it, data/model_inputs.py), and resolves relative paths against the spec's folder.
`dlspec compile` runs this; nothing is loaded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ..schema import settings as S
from ..errors import ArgumentError, DataError, Loc, UnknownNameError, did_you_mean
from ..schema.args import Arg, bind_args, non_negative, positive
from ..language.resolve import Env, resolve_path
from ..language.values import CallValue
from .bundled import resolve_bundled
from .sources.base import SOURCES
from .sources.dotted import use_file_classes
from .route import choose_route
from .transforms import check_steps
from .ordered import read_pipeline

_FRACTION = lambda v: None if 0.0 <= v <= 1.0 else "must be between 0 and 1"  # noqa: E731
SPLIT_ARGS = (Arg("train", "float", None, _FRACTION), Arg("val", "float", None, _FRACTION),
              Arg("test", "float", None, _FRACTION), Arg("seed", "int", 0))
SPLIT_FILE_ARGS = (Arg("train", "str"), Arg("val", "str", None), Arg("test", "str", None))
SPLITS = ("train", "val", "test")


def _split_setting(s, env: Env) -> dict:
    """`split train=0.8 val=0.1 seed=0` (seeded fractions), or `split files(train="train.txt", val="val.txt")`:
    a file per split listing its samples, kept as given ({"files": {split: path}})."""
    if len(s.args) == 1 and not s.kwargs and s.body is None:
        value = env.eval(s.args[0])
        if isinstance(value, CallValue):
            if value.callee != "files":
                raise UnknownNameError(f"split takes fractions or files(...), not {value.callee}(...)."
                                       + did_you_mean(value.callee, ["files"]), value.loc,
                                       hint='split train=0.8 val=0.1 test=0.1 seed=0, or split files(train='
                                            '"train.txt", val="val.txt") listing each split\'s samples')
            files = bind_args("split files", SPLIT_FILE_ARGS, list(value.args), dict(value.kwargs), value.loc,
                              value.arg_locs)
            return {"files": {k: resolve_path(p, value.arg_locs.get(k, value.loc)) for k, p in files.items()
                              if p is not None}}
    return S.keywords(SPLIT_ARGS)(s, env)

def _word(choices: tuple):
    """A one-word setting whose choices include `none`, which the grammar reads as the none value."""
    read = S.one("str", choices=choices)

    def read_word(s, env):
        if len(s.args) == 1 and not s.kwargs and s.body is None and env.eval(s.args[0]) is None:
            return "none"
        return read(s, env)
    return read_word


def _bucket(s, env):
    """`bucket N` (a positive number of batches per pool) or `bucket none`."""
    if len(s.args) == 1 and not s.kwargs and s.body is None and env.eval(s.args[0]) is None:
        return None
    return S.one("int", positive)(s, env)


DATA_SETTINGS = {d.key: d for d in (
    S.SettingDef("source", S.step, "where samples come from: a registered source or a dotted Dataset class"),
    S.SettingDef("split", _split_setting, "fractions train=, val=, test= (summing to 1) and seed=, or "
                                          "files(train=\"train.txt\", val=..., test=...) listing each split"),
    S.SettingDef("batch", S.one("int", positive), "samples per batch (default 64)"),
    S.SettingDef("workers", S.one("int", non_negative), "DataLoader worker processes (default 0)"),
    S.SettingDef("shuffle", S.one("bool"), "shuffle the training split each epoch (default true)"),
    S.SettingDef("transform", S.named_body, "deterministic steps for every split (`transform NAME { }`: for one "
                 "input of a model with several)", repeatable=True),
    S.SettingDef("augment", S.named_body, "random steps for the training split only (`augment NAME { }`: for one "
                 "input)", repeatable=True),
    S.SettingDef("pipeline", S.body, "fixed and random steps in one order (instead of transform and augment); "
                                     "random steps train-only unless every_split=true"),
    S.SettingDef("cache", _word(("auto", "device", "host", "none")),
                 "keep decoded splits as tensors on the training device (auto when they fit; see docs)"),
    S.SettingDef("bucket", _bucket, "batches of sentences of similar lengths: pools of N batches sorted by "
                 "length, the batches shuffled (default none; see data/padding.py)"),
    S.SettingDef("scale", _word(("standard", "minmax", "none")),
                 "scaling of numeric series fitted on the training split"),
)}


@dataclass
class DataConfig:
    """A checked data block."""

    name: str
    loc: Loc
    source: S.Step
    source_args: Optional[dict]  # bound args of a registered source; None for a dotted class
    fractions: dict
    seed: int
    split_given: bool
    split_loc: Loc
    batch: int = 64
    workers: int = 0
    shuffle: bool = True
    transform: list = field(default_factory=list)
    augment: list = field(default_factory=list)
    scale: str = "none"
    scale_loc: Optional[Loc] = None
    cache: str = "auto"  # auto | device | host | none: see data/route.py and data/cache.py
    cache_loc: Optional[Loc] = None
    # several inputs: the steps of each named input, name -> (checked steps, where written)
    transform_for: dict = field(default_factory=dict)
    augment_for: dict = field(default_factory=dict)
    model: Any = None  # the model it feeds (data/model_inputs.ModelSide), once a train block links it

    split_files: Optional[dict] = None  # {split: list file}: `split files(...)`, kept as given
    split_from: Optional[str] = None  # how the splits are given (folders, a column, files); None: seeded fractions
    ordered: Optional[list] = None  # a `pipeline` that must run in its written order, per sample (data/ordered.py)
    ordered_why: Optional[str] = None  # why it must (for --show and the fit header)

    bucket: Optional[int] = None  # batches per pool of similar lengths (token ids only): data/padding.py
    bucket_loc: Optional[Loc] = None


def _per_input(values: list, key: str) -> tuple:
    """(the unnamed steps, {input name: (steps, loc)}) of the `transform`/`augment` lines of a block;
    a line written twice for the same input (or unnamed twice) is an error at the second."""
    plain, named, seen = None, {}, set()
    for (name, steps), loc in values:
        if name in seen:
            what = f"'{key} {name}'" if name else f"'{key}'"
            raise DataError(f"{what} is set twice in this data block", loc,
                            hint="write all its steps in one body, in order")
        seen.add(name)
        checked = check_steps(steps, key)
        if name is None:
            plain = checked
        else:
            named[name] = (checked, loc)
    return plain or [], named


def read_data(decl, env: Env) -> DataConfig:
    """Check a data block and return its configuration."""
    v = S.read_settings(decl.settings, DATA_SETTINGS, env, "data")
    if "source" not in v:
        raise DataError(f"data {decl.name} needs a source, e.g. `source sklearn_digits`", decl.loc)
    source = v["source"]
    source_args = _check_source(source, [resolve_path(u.target, u.loc) for u in env.program.uses if u.is_file])
    split = v.get("split")
    split_files = split.pop("files", None) if split is not None and "files" in split else None
    split = split or None  # only files(...): no fractions
    split_from = _split_from(source, source_args, split, split_files, v.get("split@loc"))
    fractions, seed = _fractions(split, v.get("split@loc") or decl.loc)
    if split_from is not None:  # which splits there are (their sizes come from the data)
        fractions = {k: 1.0 if k in split_from[1] else 0.0 for k in SPLITS}
    cfg = DataConfig(
        name=decl.name, loc=decl.loc, source=source, source_args=source_args, fractions=fractions, seed=seed,
        split_given="split" in v, split_loc=v.get("split@loc") or decl.loc, batch=v.get("batch", 64),
        workers=v.get("workers", 0), shuffle=v.get("shuffle", True),
        **_steps(v), scale=v.get("scale", "none"),
        scale_loc=v.get("scale@loc"), cache=v.get("cache", "auto"), cache_loc=v.get("cache@loc"),
        split_files=split_files, split_from=split_from[0] if split_from else None,
        bucket=v.get("bucket"), bucket_loc=v.get("bucket@loc"))
    _check_bucket(cfg)
    choose_route(cfg)  # cache device with a per-sample step, or mixup on the per-sample path: errors now
    return cfg


def _steps(v: dict) -> dict:
    """transform, augment (and ordered, ordered_why) of a block: its `pipeline`, or its transform and augment."""
    if "pipeline" not in v:
        transform, transform_for = _per_input(v.get("transform", []), "transform")
        augment, augment_for = _per_input(v.get("augment", []), "augment")
        return {"transform": transform, "augment": augment, "transform_for": transform_for, "augment_for": augment_for}
    both = [k for k in ("transform", "augment") if k in v]
    if both:
        raise DataError(f"a data block has either a pipeline or transform/augment, not both ({both[0]} at line "
                        f"{v[both[0] + '@loc'].line})", v["pipeline@loc"],
                        hint="move the steps into the pipeline, in the order they run")
    transform, augment, ordered, why = read_pipeline(v["pipeline"])
    return {"transform": transform, "augment": augment, "ordered": ordered, "ordered_why": why}


def _check_bucket(cfg: DataConfig) -> None:
    """`bucket` groups sentences by length: a registered source must give token ids (a dotted class is
    checked once its samples are loaded: data/pipeline.py)."""
    definition = SOURCES.get(cfg.source.name)
    if cfg.bucket is None or definition is None or definition.input_kind in ("text", "any"):
        return
    texts = sorted(name for name, d in SOURCES.items() if d.input_kind == "text")
    raise DataError(f"bucket groups sentences of similar lengths into batches, but source {cfg.source.name} gives "
                    f"{definition.input_kind} samples, not token ids", cfg.bucket_loc or cfg.loc,
                    hint=f"remove bucket, or read sentences with a text source ({', '.join(texts)})")


def _check_source(source: S.Step, use_files: list) -> Optional[dict]:
    definition = SOURCES.get(source.name)
    if definition is None:
        classes = use_file_classes(use_files) if use_files else {}
        if "." in source.name or classes.get(source.name) is not None:
            return None  # a Dataset class, imported (or taken from its `use` file) when data is loaded
        raise UnknownNameError(f"unknown data source '{source.name}'." + did_you_mean(source.name, [*SOURCES, *classes]),
                               source.loc, hint=f"sources: {', '.join(sorted(SOURCES))}, a Dataset class of a `use` "
                                                "file, or a dotted class name like my_module.MyDataset(...)")
    args = bind_args(source.name, definition.args, list(source.args), dict(source.kwargs), source.loc,
                     source.arg_locs)
    _split_folders_in_root(definition, args)
    for key in definition.paths:
        if isinstance(args.get(key), str):
            args[key] = resolve_bundled(args[key], source.loc) or resolve_path(args[key], source.loc)
        elif isinstance(args.get(key), (list, tuple)):
            args[key] = [resolve_bundled(str(p), source.loc) or resolve_path(str(p), source.loc) for p in args[key]]
    return args


def _split_folders_in_root(definition, args: dict) -> None:
    """image_folder("data/hymenoptera", train="train", val="val"): the split folders inside the folder given
    (ImageNet-style); without a folder they are relative to the spec like any path."""
    given = [k for k in definition.split_args if isinstance(args.get(k), str)]
    root = args.get("path")
    if given and isinstance(root, str):
        for k in given:
            args[k] = args[k] if os.path.isabs(args[k]) else os.path.join(root, args[k])
        args["path"] = None


def _split_from(source: S.Step, args: Optional[dict], split: Optional[dict], files: Optional[dict],
                loc: Optional[Loc]) -> Optional[tuple]:
    """(how the splits are given, the splits there are) when the data says (per-split folders, a split column,
    list files), else None: the seeded fractions. Fractions written beside a given split are an error."""
    definition = SOURCES.get(source.name)
    folders = [k for k in (definition.split_args if definition else ()) if (args or {}).get(k) is not None]
    column = (args or {}).get(definition.split_column) if definition and definition.split_column else None
    given = [how for how, on in (("folders", folders), ("column", column), ("files", files)) if on]
    if len(given) > 1:
        raise DataError(f"the splits are given twice ({' and '.join(given)}); keep one", loc or source.loc)
    if given and split is not None and any(split[k] is not None for k in SPLITS):
        raise DataError(f"split fractions cannot apply: the splits are given by {_GIVEN_BY[given[0]]}", loc,
                        hint="remove the fractions (split seed= alone is allowed), or the given splits")
    if folders:
        return "per-split folders " + ", ".join(f"{k}={os.path.basename(args[k])}" for k in folders), folders
    if column:
        return f"the csv column '{column}'", SPLITS
    if files:
        return "list files " + ", ".join(f"{k}={os.path.basename(p)}" for k, p in files.items()), list(files)
    return None


def describe_split(cfg: DataConfig) -> str:
    """How a data block's splits are made, for `dlspec compile --show`: as given, or seeded fractions."""
    if cfg.split_from is not None:
        return f"splits as given by {cfg.split_from}"
    shares = " / ".join(f"{k} {v:g}" for k, v in cfg.fractions.items() if v > 0)
    return f"splits drawn by seed {cfg.seed}: {shares}"


_GIVEN_BY = {"folders": "per-split folders", "column": "a split column", "files": "split files(...)"}


def _fractions(split: Optional[dict], loc: Loc) -> tuple:
    if split is None:
        return {"train": 0.8, "val": 0.1, "test": 0.1}, 0
    given = {k: split[k] for k in ("train", "val", "test") if split[k] is not None}
    if "train" not in given:
        missing = 1.0 - sum(given.values())
        given = {"train": missing, **given}
    total = sum(given.values())
    if abs(total - 1.0) > 1e-6:
        shown = " + ".join(f"{k}={v:g}" for k, v in given.items())
        raise ArgumentError(f"split fractions must add up to 1: {shown} = {total:g}", loc)
    if given["train"] <= 0:
        raise ArgumentError("split: train must be more than 0", loc)
    return {k: given.get(k, 0.0) for k in ("train", "val", "test")}, split["seed"]
