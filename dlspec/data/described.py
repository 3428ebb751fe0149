"""A table's data block described without its loaders: a `DataConfig` in, a `DataBundle` whose `loaders` is
empty out.

`dlspec compile` needs of a table only its facts (the encoded width, the category columns, the classes, one
target's shape) and the mistakes its cells hold, not the batches fit trains on: this loads the table, splits
it (index arrays), fits the column encoding on the training split and checks the steps against one sample,
as build_data does, but encodes only that sample (every distinct cell is still checked), decodes no split
into a tensor of its own and builds no loader, so compile's time and memory are the reader's and the
encoding's. Data that is not a plain table (images, text, named inputs, a `bucket`) goes through
build_data as before: its loaders are what its checks look at.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import DataError
from .config import DataConfig
from .encoding import category_features
from .pipeline import (DataBundle, _check_channels, _fit_on_train, _fit_scale, _pipeline, _refuse_blending, _split,
                       _to_tensor_fn, build_data, load_source)
from .sources.base import SOURCES
from .step_checks import check_steps_suit, first_samples
from .transforms import compose


def describable(cfg: DataConfig) -> bool:
    """Whether the block is a built-in table read without loaders (see the module docstring)."""
    if cfg.source_args is None or cfg.bucket is not None:
        return False
    source = SOURCES.get(cfg.source.name)
    return source is not None and source.input_kind == "table" and not source.dense


def describe_data(cfg: DataConfig, loss_task: Optional[str] = None) -> DataBundle:
    """The bundle build_data would give, less its loaders (empty) and normalization statistics, for a table;
    build_data's own bundle for any other data. Every error build_data raises at load, split or fit time is
    raised here too, at the same place."""
    if not describable(cfg):
        return build_data(cfg, loss_task=loss_task)
    src = load_source(cfg, loss_task)
    n = len(src.train)
    if n == 0:
        raise DataError(f"data {cfg.name}: the source has no samples", cfg.source.loc)
    parts = _split(cfg, src, n)
    if src.targets_info is not None or src.dense:  # named targets: their own pipeline, with its checks
        return build_data(cfg, loss_task=loss_task)
    encoding_only = getattr(src.train, "fit_encoding_only", None)
    if encoding_only is not None:  # a table fits its encoding without encoding every row (see the docstring)
        src.fit_on_train = encoding_only
    parts, vocab, table = _fit_on_train(src, parts, None)
    dataset, train_rows = parts["train"]
    first, target = dataset[int(train_rows[0])]
    check_steps_suit(cfg, first_samples(cfg, first))
    kept = category_features(table)
    _refuse_blending(cfg, kept)
    target_scale = _fit_scale(cfg, src, train_rows)
    base_fn = compose([_to_tensor_fn(first), _pipeline(cfg.transform, kept)])
    _check_channels(cfg, first, base_fn)
    return DataBundle({}, _sample_shape(cfg, first, base_fn, kept), src.classes, src.task,
                      {name: len(rows) for name, (_, rows) in parts.items()}, target_scale=target_scale, vocab=vocab,
                      series=src.series, features=src.features, target_column=src.target_column,
                      target_shape=tuple(torch.as_tensor(target).shape) if src.task == "regression" else None,
                      path=f"data {cfg.name}: described for compile (no loaders built)", table=table)


def _sample_shape(cfg: DataConfig, first, base_fn, kept: tuple) -> tuple:
    """One training sample's shape after the training split's steps, as the first batch of fit's loader
    shows it (the random steps drawn without moving the global random state); an ordered pipeline runs
    all its steps in their written order on the sample as read."""
    if cfg.ordered:
        fn = compose([_to_tensor_fn(first), _pipeline(cfg.ordered, kept)])
    else:
        fn = compose([base_fn, _pipeline(cfg.augment, kept)])
    with torch.random.fork_rng():
        x = fn(first) if fn is not None else first
    return tuple(x.shape) if isinstance(x, torch.Tensor) else ()
