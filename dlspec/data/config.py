"""Data blocks checked without loading data: an `ir.DataDecl` in, a `DataConfig` out.

Validates the source (registered name or dotted class), split fractions,
batch size, workers and transform/augment steps, and resolves relative paths
against the spec's folder. `dlspec compile` runs this; nothing is loaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..schema import settings as S
from ..errors import ArgumentError, DataError, Loc, UnknownNameError, did_you_mean
from ..schema.args import Arg, bind_args, non_negative, positive
from ..language.resolve import Env, resolve_path
from .bundled import resolve_bundled
from .sources.base import SOURCES
from .route import choose_route
from .transforms import check_steps

_FRACTION = lambda v: None if 0.0 <= v <= 1.0 else "must be between 0 and 1"  # noqa: E731
SPLIT_ARGS = (Arg("train", "float", None, _FRACTION), Arg("val", "float", None, _FRACTION),
              Arg("test", "float", None, _FRACTION), Arg("seed", "int", 0))

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
    S.SettingDef("split", S.keywords(SPLIT_ARGS), "fractions train=, val=, test= (summing to 1) and seed="),
    S.SettingDef("batch", S.one("int", positive), "samples per batch (default 64)"),
    S.SettingDef("workers", S.one("int", non_negative), "DataLoader worker processes (default 0)"),
    S.SettingDef("shuffle", S.one("bool"), "shuffle the training split each epoch (default true)"),
    S.SettingDef("transform", S.body, "deterministic steps for every split"),
    S.SettingDef("augment", S.body, "random steps for the training split only"),
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
    bucket: Optional[int] = None  # batches per pool of similar lengths (token ids only): data/padding.py
    bucket_loc: Optional[Loc] = None


def read_data(decl, env: Env) -> DataConfig:
    """Check a data block and return its configuration."""
    v = S.read_settings(decl.settings, DATA_SETTINGS, env, "data")
    if "source" not in v:
        raise DataError(f"data {decl.name} needs a source, e.g. `source sklearn_digits`", decl.loc)
    source = v["source"]
    source_args = _check_source(source)
    fractions, seed = _fractions(v.get("split"), v.get("split@loc") or decl.loc)
    cfg = DataConfig(
        name=decl.name, loc=decl.loc, source=source, source_args=source_args, fractions=fractions, seed=seed,
        split_given="split" in v, split_loc=v.get("split@loc") or decl.loc, batch=v.get("batch", 64),
        workers=v.get("workers", 0), shuffle=v.get("shuffle", True),
        transform=check_steps(v.get("transform", []), "transform"),
        augment=check_steps(v.get("augment", []), "augment"), scale=v.get("scale", "none"),
        scale_loc=v.get("scale@loc"), cache=v.get("cache", "auto"), cache_loc=v.get("cache@loc"),
        bucket=v.get("bucket"), bucket_loc=v.get("bucket@loc"))
    _check_bucket(cfg)
    choose_route(cfg)  # cache device with a per-sample step, or mixup on the per-sample path: errors now
    return cfg


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


def _check_source(source: S.Step) -> Optional[dict]:
    definition = SOURCES.get(source.name)
    if definition is None:
        if "." in source.name:
            return None  # a Dataset class, imported when data is loaded
        raise UnknownNameError(f"unknown data source '{source.name}'." + did_you_mean(source.name, SOURCES),
                               source.loc, hint=f"sources: {', '.join(sorted(SOURCES))}, or a dotted class name "
                                                "like my_module.MyDataset(...)")
    args = bind_args(source.name, definition.args, list(source.args), dict(source.kwargs), source.loc,
                     source.arg_locs)
    for key in definition.paths:
        if isinstance(args.get(key), str):
            args[key] = resolve_bundled(args[key], source.loc) or resolve_path(args[key], source.loc)
        elif isinstance(args.get(key), (list, tuple)):
            args[key] = [resolve_bundled(str(p), source.loc) or resolve_path(str(p), source.loc) for p in args[key]]
    return args


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
