"""The cached data path: split samples in, one tensor per split on the training device, and batches out.

Each split is decoded once (images as uint8 after the deterministic
`transform` steps, tensors and tokens as loaded) and kept as one tensor on
the device. `CachedLoader` serves it as an iterable of (x, y) batches with
`__len__` and `set_epoch(epoch)`: an on-device permutation seeded by
(seed, epoch) (grouped by length with `bucket`), token batches cut to their
longest sentence when the model allows (data/padding.py), then the batched
augmentation (its generator also seeded by epoch, so a resumed run sees the
same batches), then normalisation.

The budget rule: a data block is cached when its decoded splits take at most
a quarter of the free GPU memory (CUDA) or a quarter of the available RAM
(CPU, MPS, `cache host`). `cache auto` falls back to the per-sample
DataLoader when the data does not fit; `cache device` makes that an error.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from ..errors import DataError
from .batch_augment import BatchPipeline, Rng
from .padding import bucketed_batches, trim_tokens

BUDGET_SHARE = 4  # a quarter of the free memory
FLAT_SPREAD = 1e-6  # normalize(auto): a std under this share of the channel's size (at least 1) is no spread


def available_ram() -> int:
    """Bytes of RAM the kernel says are available (MemAvailable), else free pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 30


def budget_bytes(device: torch.device) -> tuple:
    """(bytes the cache may take, the rule in words) for data held on `device`."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // BUDGET_SHARE, f"a quarter of the {human(free)} free on {device}"
    ram = available_ram()
    return ram // BUDGET_SHARE, f"a quarter of the {human(ram)} of available RAM"


def human(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


# ---- decoding --------------------------------------------------------------


class SampleView:
    """The samples of `base` at `indices`, with `fn` (when given) applied to x: a split seen through its
    deterministic transforms, for the per-sample DataLoader and for decoding the cache in workers."""

    def __init__(self, base, indices, fn=None):
        self.base, self.indices, self.fn = base, indices, fn  # an int64 array: no list of a million ints

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        x, y = self.base[int(self.indices[i])]
        return (self.fn(x) if self.fn is not None else x), y


def image_decoder(steps: list, from_pil: bool = True):
    """An image (PIL, or a uint8 tensor) -> uint8 [C, H, W] after the deterministic steps (built-in steps
    take uint8); None for a uint8 tensor with no steps (the data is sliced as it is)."""
    from torchvision.transforms import v2
    built = [t.build(a) for t, a, _ in steps if t.name != "normalize"]
    if not from_pil and not built:
        return None
    chain = v2.Compose(([v2.PILToTensor()] if from_pil else []) + built)
    return lambda x: chain(x).contiguous()


def decode_split(dataset, indices: list, fn, workers: int) -> tuple:
    """(x, y) tensors of one split: in-memory tensors sliced (and transformed sample by sample, as the
    per-sample path does), anything else decoded once through a DataLoader (`workers` processes)."""
    if hasattr(dataset, "x") and hasattr(dataset, "y") and isinstance(dataset.x, torch.Tensor):
        at = torch.from_numpy(np.asarray(indices, dtype=np.int64))  # a list indexes element by element: 3x slower
        x, y = dataset.x[at], dataset.y[at]
        return (torch.stack([fn(s) for s in x]) if fn is not None and len(x) else x), y
    loader = torch.utils.data.DataLoader(SampleView(dataset, indices, fn), batch_size=256,
                                         num_workers=workers)
    xs, ys = [], []
    for xb, yb in loader:
        xs.append(xb)
        ys.append(yb)
    return torch.cat(xs), torch.cat(ys)


def estimate_bytes(dataset, parts: dict, fn) -> int:
    """Bytes of every split once decoded, from the first sample (all samples have its size)."""
    n = sum(len(idx) for _, idx in parts.values())
    if fn is None and all(isinstance(getattr(dataset, k, None), torch.Tensor) for k in ("x", "y")):
        # in-memory tensors (TensorData); a user's Dataset may hold an `x` tensor beside a list of labels
        per = dataset.x[:1].element_size() * dataset.x[:1].numel() + dataset.y[:1].element_size() * \
            max(dataset.y[:1].numel(), 1)
        return per * n
    x, _ = dataset[parts["train"][1][0]]
    x = fn(x) if fn is not None else torch.as_tensor(x)
    return (x.element_size() * x.numel() + 8) * n


# ---- the loader ------------------------------------------------------------


@dataclass
class Split:
    x: torch.Tensor
    y: torch.Tensor


def epoch_order(n: int, generator: torch.Generator) -> torch.Tensor:
    """The shuffled order of an epoch, on the generator's device. A torch DataLoader draws one int64 from
    its generator (its workers' base seed) before its sampler's randperm; so does this, so on the CPU all
    three loaders (cached, tensor slicing, DataLoader) give the same order for the same (seed, epoch)."""
    device = generator.device
    torch.empty((), dtype=torch.int64, device=device).random_(generator=generator)
    return torch.randperm(n, generator=generator, device=device)


class CachedLoader:
    """Shuffled batches sliced from one split held on the device, augmented and normalised as a batch.

    `batch_indices()` yields each batch's indices (on the device) and `take(idx)`
    turns them into the (x, y) batch, so a caller can shard a global batch.
    """

    def __init__(self, split: Split, batch: int, shuffle: bool, seed: int, device: torch.device,
                 pipeline: Optional[BatchPipeline] = None, augment_seed: int = 0):
        self.x, self.y, self.batch, self.shuffle = split.x, split.y, batch, shuffle
        self.seed, self.augment_seed, self.device = seed, augment_seed, device
        self.pipeline = pipeline
        self.order_gen = torch.Generator(device=self.x.device)
        self.rng = Rng(device, 0)
        self.memory_format = None  # GPU presets set torch.channels_last for 2-D conv models
        self.pad_per_batch = False  # token batches cut to their longest sentence (data/padding.py)
        self.bucket, self.lengths = None, None  # `bucket N`: batches of similar lengths (set_bucket)
        self.dataset = self.x  # len(loader.dataset) is the split size, as with a DataLoader
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Reseed the order and the augmentation for `epoch`: batches depend on (seed, epoch) only."""
        self.order_gen.manual_seed(self.seed + epoch)
        self.rng.seed((self.augment_seed * 1_000_003 + epoch * 7919 + 17) % (2 ** 63))

    def __len__(self) -> int:
        return (len(self.x) + self.batch - 1) // self.batch

    def batch_indices(self):
        n = len(self.x)
        if not self.shuffle:
            for start in range(0, n, self.batch):
                yield slice(start, min(start + self.batch, n))
            return
        order = epoch_order(n, self.order_gen)
        if self.bucket:
            yield from bucketed_batches(order, self.lengths, self.batch, self.bucket, self.order_gen)
            return
        for start in range(0, n, self.batch):
            yield order[start:start + self.batch]

    def set_bucket(self, bucket: int, lengths: torch.Tensor) -> None:
        """Group shuffled batches by `lengths` (one per sample), `bucket` batches to a pool."""
        self.bucket, self.lengths = bucket, lengths.to(self.x.device)

    def take(self, idx):
        x, y = self.x[idx], self.y[idx]
        if self.pad_per_batch:
            x = trim_tokens(x)
        if x.device != self.device:  # cache host: the batch travels, then augments on the device
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            x = x.float().mul_(1.0 / 255)  # as torchvision's ToDtype(float32, scale=True), bit for bit
        if self.pipeline is not None:
            x, y = self.pipeline(x, y, self.rng)
        if self.memory_format is not None and x.dim() == 4:
            x = x.contiguous(memory_format=self.memory_format)
        return x, y

    def __iter__(self):
        for idx in self.batch_indices():
            yield self.take(idx)


class ChannelMoments:
    """Per-channel mean and std, accumulated batch by batch in float64 (uint8 scaled to [0, 1] as
    ToDtype does). A sample's first dim is its channels: image channels, a table's features, a window's
    steps. Both data paths measure `normalize(auto)` with it, so they agree."""

    def __init__(self):
        self.total = self.total_sq = None
        self.count = 0

    def add(self, batch: torch.Tensor) -> None:
        batch = batch.double() / 255 if batch.dtype == torch.uint8 else batch.double()
        flat = batch.transpose(0, 1).reshape(batch.shape[1], -1) if batch.dim() > 1 else batch.reshape(1, -1)
        s, sq = flat.sum(1), (flat * flat).sum(1)
        self.total = s if self.total is None else self.total + s
        self.total_sq = sq if self.total_sq is None else self.total_sq + sq
        self.count += flat.shape[1]

    def result(self) -> tuple:
        """(mean, std) float32 tensors on the CPU. A channel with (next to) no spread, such as a constant
        column, gets std 1 (as `scale` does): dividing by a clamped tiny std would blow up any later
        sample where it differs."""
        mean = self.total / self.count
        std = (self.total_sq / self.count - mean * mean).clamp_min(0.0).sqrt()
        flat = std <= FLAT_SPREAD * mean.abs().clamp_min(1.0)  # relative: float64 rounding of E[x^2] - mean^2
        std = torch.where(flat, torch.ones_like(std), std)
        return mean.float().cpu(), std.float().cpu()


def spare_channels(mean, std, channels: tuple, width: int) -> tuple:
    """(mean, std) with `channels` (a table's category level indices, which the model looks up)
    set to 0 and 1, so `normalize` leaves them as they are; one value for all channels is spread."""
    mean, std = torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)
    if not channels:
        return mean, std
    mean, std = mean.expand(width).clone() if mean.numel() == 1 else mean.clone(), \
        std.expand(width).clone() if std.numel() == 1 else std.clone()
    mean[list(channels)], std[list(channels)] = 0.0, 1.0
    return mean, std


def channel_stats(x: torch.Tensor):
    """Per-channel mean and std of a cached split, chunk by chunk."""
    moments = ChannelMoments()
    for start in range(0, len(x), 4096):
        moments.add(x[start:start + 4096])
    return moments.result()


def too_big(cfg, need: int, budget: int, rule: str, device) -> DataError:
    return DataError(f"cache device: data {cfg.name} takes {human(need)} once decoded, more than the cache "
                     f"budget of {human(budget)} ({rule})", cfg.cache_loc or cfg.loc,
                     hint="write `cache auto` (the per-sample DataLoader takes over when data does not fit), "
                          "`cache none`, or resize the images smaller in `transform`")


# ---- building the cached loaders ---------------------------------------------


def _decoder(cfg, first_x, base_fn):
    """How each sample is decoded for the cache: PIL images to uint8 (built-in steps only), else base_fn."""
    is_pil = hasattr(first_x, "getbands") and not isinstance(first_x, torch.Tensor)
    is_uint8 = isinstance(first_x, torch.Tensor) and first_x.dtype == torch.uint8
    if (is_pil or is_uint8) and all(t.source == "built-in" for t, _, _ in cfg.transform):
        return image_decoder(cfg.transform, from_pil=is_pil)
    return base_fn


def _normalization(cfg, train_x: torch.Tensor, spared: tuple = ()):
    """(mean, std) float tensors of the last normalize step (measured on the cached train split for auto);
    `spared` channels are left as they are (see spare_channels)."""
    from .transforms import is_auto_normalize
    steps = [(t, a) for t, a, _ in cfg.transform if t.name == "normalize"]
    if not steps:
        return None
    t, a = steps[-1]
    mean, std = channel_stats(train_x) if is_auto_normalize(t, a) else (a["mean"], a["std"])
    return spare_channels(mean, std, spared, train_x.shape[1] if train_x.dim() > 1 else 1)


def _classes(src, y: torch.Tensor) -> int:
    if src.classes:
        return len(src.classes)
    return int(y.max()) + 1 if len(y) and not y.is_floating_point() else 0


def _decode_all(cfg, parts: dict, fn, store: torch.device, device: torch.device) -> dict:
    splits = {}
    for name, (dataset, indices) in parts.items():
        if len(indices):
            x, y = decode_split(dataset, indices, fn, cfg.workers)
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError("samples are not tensors")
            if store.type == "cpu" and device.type == "cuda":
                x, y = x.pin_memory(), y.pin_memory()
            splits[name] = Split(x.to(store), y.to(store))
    return splits


def build_cached(cfg, src, parts: dict, base_fn, device: torch.device, augment_seed: int, kept: tuple = (),
                 spared: tuple = ()):
    """(loaders, normalization stats, note) for the cached path, or (None, None, reason) when the data
    does not fit under `cache auto` (a DataError under `cache device` / `cache host`); `kept`: the
    channels augment noise leaves alone (a table's category features); `spared`: the channels normalize
    leaves alone (its level indices)."""
    first = parts["train"][0][parts["train"][1][0]][0]
    fn = _decoder(cfg, first, base_fn)
    store = torch.device("cpu") if cfg.cache == "host" else device
    budget, rule = budget_bytes(store)
    try:
        need = estimate_bytes(parts["train"][0], parts, fn)
        if need > budget:
            if cfg.cache == "auto":
                return None, None, f"the decoded data ({human(need)}) does not fit the cache budget of " \
                                   f"{human(budget)} ({rule})"
            raise too_big(cfg, need, budget, rule, store)
        splits = _decode_all(cfg, parts, fn, store, device)
    except (TypeError, ValueError, RuntimeError) as exc:  # samples that are not tensors of one shape
        if cfg.cache == "auto":
            return None, None, f"its samples do not stack into one tensor ({type(exc).__name__})"
        raise DataError(f"cache {cfg.cache}: the samples of data {cfg.name} do not stack into one tensor: "
                        f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", cfg.cache_loc or cfg.loc,
                        hint="write `cache auto` or `cache none`") from None
    norm = _normalization(cfg, splits["train"].x, spared)
    stats = None if norm is None else {"mean": [float(m) for m in norm[0]], "std": [float(s) for s in norm[1]]}
    norm = None if norm is None else (norm[0].to(device), norm[1].to(device))
    loaders = {}
    for name, split in splits.items():
        train = name == "train"
        steps = cfg.augment if train else []
        pipeline = BatchPipeline(steps, _classes(src, split.y), norm, kept) if steps or norm is not None else None
        loaders[name] = CachedLoader(split, cfg.batch, train and cfg.shuffle, cfg.seed, device, pipeline,
                                     augment_seed)
    size = sum(s.x.element_size() * s.x.numel() + s.y.element_size() * s.y.numel() for s in splits.values())
    where = "host memory" if cfg.cache == "host" else str(device)
    augment = (" -> ".join(st.name for _, _, st in cfg.augment) + " batched on " + str(device)) \
        if cfg.augment else "no augmentation"
    note = f"data {cfg.name}: cached in {where} ({human(size)} of a {human(budget)} budget); {augment}"
    return loaders, stats, note
