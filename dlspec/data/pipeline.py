"""The data pipeline: a `DataConfig` in, batched loaders for train/val/test out.

Loads the source, splits it (stratified, seeded; or as the data gives the splits: per-split folders, a
split column, list files, see data/split_lists.py), applies deterministic transforms to every split and
augmentation to the training split only (or a `pipeline` in its written order, data/ordered.py), then
normalisation (with `normalize(auto)` measured on the training split).
With `cache auto|device|host` (data/route.py decides, data/cache.py builds)
every split is decoded once into one tensor on the training device and
augmented as whole batches there; otherwise (`cache none`, a step with no
batched form, data over the budget) data held in memory without augmentation
is served by a slicing loader and everything else by a torch DataLoader.
Named samples (dicts of inputs or of targets: a csv with inputs=, a Dataset class yielding dicts) go to
data/named_pipeline.py instead, which gives each input its own steps.
Before any step runs, the first sample is checked against the steps (data/step_checks.py: image steps
on tables or series, normalize lists of the wrong width); `noise` leaves a table's category features
(data/encoding.category_features) as they are on both paths.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..errors import DataError, warn
from .config import DataConfig
from .dense import dense_loaders
from .cache import ChannelMoments, SampleView, spare_channels
from .encoding import category_features, index_features
from .loaders import EpochDataLoader, TensorLoader
from .named_pipeline import build_named, is_named, peek
from .record import DataRecord
from .route import choose_route
from .sources.base import SOURCES, SeriesInfo, SourceData, TensorData
from .sources.dotted import load_class_source
from .splits import split_indices, thin_split_note
from .split_lists import listed_splits
from .step_checks import check_normalize_width, check_steps_suit, first_samples
from .transforms import build_transform, compose, is_auto_normalize


class Standardize(torch.nn.Module):
    """(x - mean) / std with one statistic per channel (the first sample dim)."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)

    def forward(self, x):
        shape = (-1,) + (1,) * (x.dim() - 1) if x.dim() > 1 else (-1,)
        return (x - self.mean.view(shape)) / self.std.view(shape)


@dataclass
class DataBundle:
    """Loaders per split and what the model and metrics need to know about the data."""

    loaders: dict
    sample_shape: tuple
    classes: Optional[list]
    task: str
    sizes: dict
    normalization: Optional[dict] = None
    target_scale: Optional[dict] = None  # {"center", "spread"}: targets were scaled; metrics undo it
    vocab: Optional[list] = None  # text: the vocabulary built on the training split (id -> word)
    series: Optional[SeriesInfo] = None  # a windowed series: forecasts continue from its tail
    features: Optional[list] = None  # a table's feature columns, in order
    target_column: Optional[str] = None  # a table's target column
    target_shape: Optional[tuple] = None  # regression, dense targets: one sample's target shape, for output checks
    path: str = ""  # which data path the block takes and why, for the fit header
    table: Optional[dict] = None  # a csv table's column encoding (data/encoding.py), for predict and exports
    # named samples (data/named_pipeline.py): input name -> {"kind", "columns", "shape", and its "vocab",
    # "max_len", "table", "mode" or "normalization"}; output name -> {"column", "task", "classes", "scale"}
    inputs: Optional[dict] = None
    targets: Optional[dict] = None
    dense: bool = False  # targets are [H, W] class maps (target_shape); the model outputs [classes, H, W]


def load_source(cfg: DataConfig, loss_task: Optional[str] = None) -> SourceData:
    """The source's samples; `loss_task` (what the train block's loss implies) settles the task of a
    source that takes `task=auto` (a csv table with a numeric target column)."""
    if cfg.source_args is None:
        return load_class_source(cfg.source.name, cfg.source.args, dict(cfg.source.kwargs), cfg.source.loc)
    args, definition = cfg.source_args, SOURCES[cfg.source.name]
    if "task" in args:
        args = {**args, "loss_task": loss_task}
    if definition.source == "built-in":  # where each argument is written, for errors found in the data
        args = {**args, "arg_locs": dict(cfg.source.arg_locs)}
    if "inputs" in args:  # a csv reads each column by the kind of the model input it feeds
        args = {**args, "model_side": cfg.model}
    return definition.load(args, cfg.source.loc)


def build_data(cfg: DataConfig, pin_memory: bool = False, loss_task: Optional[str] = None,
               device=None, augment_seed: Optional[int] = None, fitted: Optional[DataRecord] = None) -> DataBundle:
    """Load, split, transform and batch a data block (`loss_task`: see load_source).

    `device` is where training runs (the cached path keeps the data there; default cpu);
    `augment_seed` seeds the cached path's batched augmentation (default: the split seed);
    `fitted` is what a saved run recorded of its data: its table encoding and vocabulary are used, not fitted again
    (evaluate and --resume read new rows as the model was trained to).
    """
    src = load_source(cfg, loss_task)
    n = len(src.train)
    if n == 0:
        raise DataError(f"data {cfg.name}: the source has no samples", cfg.source.loc)
    parts = _split(cfg, src, n)
    if is_named(src, peek(src, parts["train"][1][0]) if cfg.source_args is None or
                SOURCES[cfg.source.name].source != "built-in" else (None, None)):
        return build_named(cfg, src, parts, pin_memory, fitted)
    _check_same_size(cfg, src)
    parts, vocab, table = _fit_on_train(src, parts, fitted)
    first = parts["train"][0][parts["train"][1][0]][0]
    check_steps_suit(cfg, first_samples(cfg, first))  # before any step runs on samples it cannot take
    kept = category_features(table)  # noise leaves a table's category features alone
    spared = index_features(table)  # normalize leaves the level indices a model looks up alone
    _refuse_blending(cfg, kept)
    target_scale = _fit_scale(cfg, src, parts["train"][1])
    deterministic = _pipeline(cfg.transform, kept)
    to_tensor = _to_tensor_fn(src.train[0][0])
    base_fn = compose([to_tensor, deterministic])
    _check_channels(cfg, first, base_fn)
    sizes = {name: len(indices) for name, (_, indices) in parts.items()}
    loaders, stats, path = _cached_loaders(cfg, src, parts, base_fn, device, augment_seed, kept, spared)
    if loaders is None:
        normalize = _normalizer(cfg, src.train, parts["train"][1], base_fn, spared)
        stats = getattr(normalize, "stats", None)
        if src.dense:  # masks move with their images (data/dense.py)
            loaders = dense_loaders(cfg, parts, to_tensor, normalize, pin_memory)
        elif cfg.ordered:
            loaders = _ordered_loaders(cfg, parts, to_tensor, base_fn, normalize, kept, pin_memory)
        else:
            augment = _pipeline(cfg.augment, kept)
            loaders = {name: _loader(cfg, dataset, indices, base_fn, augment if name == "train" else None,
                                     normalize, name == "train", pin_memory, cfg.seed)
                       for name, (dataset, indices) in parts.items() if len(indices)}
    _apply_bucket(cfg, loaders["train"])
    with torch.random.fork_rng():  # peeking at a batch must not shift the global RNG (model init, resume)
        x0, y0 = next(iter(loaders["train"]))
    measured = src.task == "regression" or src.dense  # one sample's target shape: checked against the output
    target_shape = tuple(y0.shape[1:]) if measured and isinstance(y0, torch.Tensor) else None
    shape = tuple(x0.shape[1:]) if isinstance(x0, torch.Tensor) else ()  # () for a dict of named inputs
    return DataBundle(loaders, shape, src.classes, src.task, sizes,
                      normalization=stats, target_scale=target_scale, vocab=vocab,
                      series=src.series, features=src.features, target_column=src.target_column,
                      target_shape=target_shape, path=path, table=table, dense=src.dense)


def _apply_bucket(cfg: DataConfig, loader) -> None:
    """`bucket N`: the training batches grouped by sentence length (data/padding.py); token ids only."""
    if cfg.bucket is None:
        return
    from .padding import is_token_batch, token_lengths
    x = getattr(loader, "x", None)
    if not hasattr(loader, "set_bucket") or not is_token_batch(x):
        what = f"samples of shape {list(x.shape[1:])} ({x.dtype})" if isinstance(x, torch.Tensor) else \
            "samples served one at a time by a DataLoader"
        raise DataError(f"bucket groups sentences of similar lengths into batches, but data {cfg.name} has {what}, "
                        "not token ids held in memory", cfg.bucket_loc or cfg.loc,
                        hint="remove bucket; it is for text sources (token ids padded with 0)")
    loader.set_bucket(cfg.bucket, token_lengths(x))


def _fit_on_train(src, parts: dict, fitted: Optional[DataRecord]) -> tuple:
    """What a source learns from the training split only (a vocabulary, a table's column encoding), or
    takes from a saved run's record: (the splits, now over the fitted data; vocab; table), vocab and table
    None for a source that learns nothing."""
    if src.fit_on_train is None:
        return parts, None, None
    if fitted is not None:
        src.fit_on_train(parts["train"][1], fitted)
    else:
        src.fit_on_train(parts["train"][1])
    vocab = getattr(src.train, "itos", None)
    table = getattr(src.train, "encoding", None)  # a csv table's column encoding, for predict
    src.train = src.train.data
    return {k: (src.train if ds is not src.test else ds, idx) for k, (ds, idx) in parts.items()}, vocab, table


def _refuse_blending(cfg: DataConfig, kept: tuple) -> None:
    """mixup blends two rows: a blend of level indices (or of one-hot levels) is a level no row has."""
    for t, _, st in cfg.augment:
        if t.name == "mixup" and kept:
            raise DataError(f"mixup blends samples, but data {cfg.name} is a table with category columns, whose "
                            "blended levels would be levels no row has", st.loc,
                            hint="remove mixup, or leave the category columns out with csv(..., features=[...])")


def _check_channels(cfg: DataConfig, first, base_fn) -> None:
    """normalize's mean/std lists against the channels of the first sample after the transform steps."""
    if not any(t.name == "normalize" and a["mean"] != "auto" for t, a, _ in cfg.transform):
        return
    x = base_fn(first) if base_fn is not None else first
    if isinstance(x, torch.Tensor):
        check_normalize_width(cfg, x.shape[0] if x.dim() > 0 else 1)


def _cached_loaders(cfg: DataConfig, src: SourceData, parts: dict, base_fn, device, augment_seed,
                    kept: tuple = (), spared: tuple = ()) -> tuple:
    """(loaders, normalization stats, path line) of the cached path, or (None, None, path line) when the
    block takes the per-sample path (the line says why)."""
    route = choose_route(cfg)
    if route.cached:
        from .cache import build_cached
        device = torch.device(device if device is not None else "cpu")
        seed = cfg.seed if augment_seed is None else augment_seed
        loaders, stats, note = build_cached(cfg, src, parts, base_fn, device, seed, kept, spared)
        if loaders is not None:
            return loaders, stats, note
        reason = note
    else:
        reason = route.reason
    return None, None, f"data {cfg.name}: per-sample DataLoader ({reason})"


def _ordered_loaders(cfg: DataConfig, parts: dict, to_tensor, base_fn, normalize, kept: tuple, pin_memory) -> dict:
    """A `pipeline` in its written order (data/ordered.py), per sample: every step on the training split, the
    fixed and every_split steps on the others (drawn afresh each epoch when one of them is random)."""
    train_steps = _pipeline(cfg.ordered, kept)
    random_elsewhere = any(t.random for t, _, _ in cfg.transform)
    others = _pipeline(cfg.transform, kept) if random_elsewhere else None
    loaders = {}
    for name, (dataset, indices) in parts.items():
        if not len(indices):
            continue
        steps = train_steps if name == "train" else others
        loaders[name] = _loader(cfg, dataset, indices, to_tensor if steps is not None else base_fn, steps, normalize,
                                name == "train", pin_memory, cfg.seed)
    return loaders


def _check_same_size(cfg: DataConfig, src: SourceData) -> None:
    """Images of different sizes cannot be batched: ask for a resize before training starts."""
    files, measured = getattr(src.train, "files", None), getattr(src.train, "sizes", None)
    if not files or not measured or any(t.resizes for t, _, _ in cfg.transform):
        return
    sizes = {}
    for path, size in zip(files, measured):  # every image, measured by the scan
        sizes.setdefault(size, path)
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = list(sizes.items())[:2]
            raise DataError(f"data {cfg.name}: images differ in size ({p1} is {s1[0]}x{s1[1]}, {p2} is "
                            f"{s2[0]}x{s2[1]}) and cannot be batched", cfg.loc,
                            hint="add `transform { resize(256) -> center_crop(224) }` (or another size)")


def _split(cfg: DataConfig, src: SourceData, n: int) -> dict:
    """split name -> (dataset, its rows): int64 arrays for the built-in sources, whose datasets take numpy
    indices; Python ints for a user's Dataset class or a plugin's, whose __getitem__ may expect an int."""
    parts = _split_rows(cfg, src, n)
    if cfg.source_args is None or SOURCES[cfg.source.name].source != "built-in":
        return {name: (dataset, rows.tolist()) for name, (dataset, rows) in parts.items()}
    return parts


def _split_rows(cfg: DataConfig, src: SourceData, n: int) -> dict:
    given = src.given_splits if src.given_splits is not None else \
        listed_splits(cfg, src.train, n) if cfg.split_files else None
    if given is not None:  # kept as given: per-split folders, a split column, list files
        parts = {name: (src.train, _rows(given.get(name, ()))) for name in ("train", "val", "test")}
        if not len(parts["train"][1]):
            raise DataError(f"data {cfg.name}: the training split is empty ({cfg.split_from})", cfg.split_loc)
        return parts
    fractions = dict(cfg.fractions)
    if src.test is not None:
        if cfg.split_given and fractions["test"] > 0:
            warn(f"data {cfg.name}: the source has its own test split; split test= is ignored", cfg.split_loc)
        rest = fractions["train"] + fractions["val"]
        fractions = {"train": fractions["train"] / rest, "val": fractions["val"] / rest, "test": 0.0}
    stratify = src.targets if src.task == "classification" and src.targets is not None else None
    if stratify is not None and len(stratify) != n:
        stratify = None
    idx = split_indices(n, fractions, cfg.seed, stratify, chronological=src.chronological)
    if stratify is not None:
        _warn_thin_split(cfg, idx, stratify, src.classes)
    parts = {name: (src.train, _rows(idx.get(name, ()))) for name in ("train", "val", "test")}
    if src.test is not None:
        parts["test"] = (src.test, _rows(range(len(src.test))))
    if not len(parts["train"][1]):
        raise DataError(f"data {cfg.name}: the training split is empty", cfg.split_loc)
    return parts


def _rows(indices):
    """A split's row indices as an int64 numpy array (compact at a million rows, and it indexes a tensor at once)."""
    import numpy as np
    if isinstance(indices, range):
        return np.arange(indices.start, indices.stop, dtype=np.int64)
    return np.asarray(indices, dtype=np.int64).reshape(-1)


def _warn_thin_split(cfg: DataConfig, idx: dict, targets: list, classes: Optional[list]) -> None:
    """Once per data block: a stratified split too small for every class to be in every split."""
    counts: dict = {}
    for t in targets:  # by class name where the source has names (targets are their indices)
        name = classes[t] if classes and isinstance(t, int) and 0 <= t < len(classes) else t
        counts[name] = counts.get(name, 0) + 1
    note = thin_split_note({name: len(rows) for name, rows in idx.items()}, counts)
    if note is not None:
        warn(f"data {cfg.name}: {note}", cfg.split_loc,
             hint="more rows per class, fewer splits, or larger val/test fractions")


def _fit_scale(cfg: DataConfig, src: SourceData, train_idx: list) -> Optional[dict]:
    """`scale standard|minmax`: fitted on the training part only, applied to every split."""
    if cfg.scale == "none":
        return None
    if src.task != "regression" or not isinstance(src.train, TensorData):
        raise DataError(f"data {cfg.name}: scale applies to numeric series and regression targets, "
                        f"not to {src.task} data", cfg.scale_loc or cfg.loc,
                        hint="remove scale, or make the table a regression: loss mse or csv(..., task=regression)"
                        if "task" in (cfg.source_args or {}) else "remove scale")
    data = src.train
    values = data.y[train_idx].flatten()
    if src.shared_scale:
        values = torch.cat([values, data.x[train_idx].flatten()])
    if cfg.scale == "standard":
        center, spread = float(values.mean()), float(values.std())
    else:
        center, spread = float(values.min()), float(values.max() - values.min())
    spread = spread if spread > 1e-12 else 1.0
    data.y = (data.y - center) / spread
    if src.shared_scale:
        data.x = (data.x - center) / spread
    return {"kind": cfg.scale, "center": center, "spread": spread, "inputs": src.shared_scale}


def _pipeline(steps: list, kept: tuple = ()):
    """The steps as one transform; normalize is left out (it is applied last, see _normalizer).
    Built-in noise leaves the `kept` channels (a table's category features) as they are."""
    from .batch_augment import per_sample_noise
    built = [per_sample_noise(a, kept) if kept and t.name == "noise" and t.source == "built-in"
             else build_transform(t, a, st.loc) for t, a, st in steps if t.name != "normalize"]
    return compose(built)


def _to_tensor_fn(sample):
    if isinstance(sample, torch.Tensor) and sample.dtype != torch.uint8:
        return None
    if isinstance(sample, dict):  # several named inputs (a dotted source's dict of tensors): taken as they are
        return None
    from torchvision.transforms import v2
    if isinstance(sample, torch.Tensor):  # uint8 tensors are images: scaled to [0, 1] like decoded files
        return v2.ToDtype(torch.float32, scale=True)
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


def _normalizer(cfg: DataConfig, dataset, indices, base_fn, spared: tuple = ()):
    steps = [(t, a, st) for t, a, st in cfg.transform if t.name == "normalize"]
    if not steps:
        return None
    t, a, st = steps[-1]
    if is_auto_normalize(t, a):
        mean, std = _channel_stats(dataset, indices, base_fn)
    else:
        mean, std = a["mean"], a["std"]
    if spared:  # a table's category level indices: the model looks them up, unscaled
        mean, std = spare_channels(mean, std, spared, dataset[indices[0]][0].shape[0])
    norm = Standardize(mean, std)
    norm.stats = {"mean": [float(m) for m in norm.mean.flatten()], "std": [float(s) for s in norm.std.flatten()]}
    return norm


def _channel_stats(dataset, indices, base_fn):
    """Per-channel mean and std of the training split, after deterministic transforms."""
    moments = ChannelMoments()
    for i in indices:
        x = dataset[i][0]
        moments.add((base_fn(x) if base_fn is not None else x).unsqueeze(0))  # a batch of one sample
    return moments.result()


def _loader(cfg, dataset, indices, base_fn, augment, normalize, train, pin_memory, seed):
    shuffle = train and cfg.shuffle
    if isinstance(dataset, TensorData) and augment is None:
        x, y = dataset.x[indices], dataset.y[indices]
        fn = compose([base_fn, normalize])
        if fn is not None:
            x = torch.stack([fn(s) for s in x])
        return TensorLoader(x, y, cfg.batch, shuffle, seed)
    fn = compose([base_fn, augment, normalize])
    workers = cfg.workers
    return EpochDataLoader(SampleView(dataset, indices, fn), batch_size=cfg.batch, shuffle=shuffle, seed=seed,
                           num_workers=workers, persistent_workers=workers > 0, pin_memory=pin_memory,
                           prefetch_factor=4 if workers > 0 else None)


def inference_transform(cfg: DataConfig, normalization: Optional[dict], example):
    """The deterministic per-sample pipeline of a data block (no augmentation), for prediction.

    `normalization` holds the statistics saved with the run, so normalize(auto)
    needs no pass over the training data.
    """
    parts = [_to_tensor_fn(example), _pipeline(cfg.transform)]
    if normalization:
        parts.append(Standardize(normalization["mean"], normalization["std"]))
    return compose(parts) or (lambda x: x)


def preview_split(cfg: DataConfig, src: SourceData, split: str = "train") -> tuple:
    """One split of a loaded source, for looking at its samples (`dlspec data --preview`): (dataset, indices,
    base, trained). `base` turns a sample into a tensor through the steps every split runs but normalize;
    `trained` through the training split's steps but normalize (an ordered pipeline's in its written order)."""
    dataset, indices = _split(cfg, src, len(src.train))[split]
    to_tensor = _to_tensor_fn(dataset[indices[0]][0])
    base = compose([to_tensor, _pipeline(cfg.transform)]) or (lambda x: x)
    if cfg.ordered:
        return dataset, indices, base, compose([to_tensor, _pipeline(cfg.ordered)])
    augment = _pipeline(cfg.augment)
    return dataset, indices, base, (lambda x: augment(base(x))) if augment is not None else base
