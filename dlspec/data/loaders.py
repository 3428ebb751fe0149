"""The per-sample loaders: a split's samples (or its tensors) in, shuffled (x, y) batches out, each with
`__len__` and `set_epoch(epoch)`, so an epoch's order is a function of (seed, epoch) and a resumed run sees
the same batches.

`TensorLoader` slices batches from tensors held in memory (no per-sample Python work); `EpochDataLoader`
is a torch DataLoader that transforms one sample at a time. data/pipeline.py builds one per split when a
data block takes the per-sample route; the cached route's loader is data/cache.py's `CachedLoader`.
Both cut token batches to their longest sentence when `pad_per_batch` is set (the trainer sets it from the
model's plan: data/padding.py); `TensorLoader` also takes `bucket` (set_bucket).
"""
from __future__ import annotations

import torch

from .cache import epoch_order
from .padding import bucketed_batches, trim_tokens


class TensorLoader:
    """Batches sliced from in-memory tensors: no per-sample Python work."""

    def __init__(self, x, y, batch: int, shuffle: bool, seed: int):
        self.x, self.y, self.batch, self.shuffle = x, y, batch, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.dataset = x
        self.pad_per_batch = False  # token batches cut to their longest sentence (data/padding.py)
        self.bucket, self.lengths = None, None  # `bucket N`: batches of similar lengths (set_bucket)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)

    def set_bucket(self, bucket: int, lengths: torch.Tensor) -> None:
        """Group shuffled batches by `lengths` (one per sample), `bucket` batches to a pool."""
        self.bucket, self.lengths = bucket, lengths

    def __len__(self):
        return (len(self.x) + self.batch - 1) // self.batch

    def _batches(self):
        n = len(self.x)
        if not self.shuffle:
            yield from (slice(start, start + self.batch) for start in range(0, n, self.batch))
            return
        order = epoch_order(n, self.generator)  # the order a DataLoader gives
        if self.bucket:
            yield from bucketed_batches(order, self.lengths, self.batch, self.bucket, self.generator)
            return
        yield from (order[start:start + self.batch] for start in range(0, n, self.batch))

    def __iter__(self):
        for idx in self._batches():
            x = self.x[idx]
            yield (trim_tokens(x) if self.pad_per_batch else x), self.y[idx]


class EpochDataLoader(torch.utils.data.DataLoader):
    """A DataLoader whose shuffle order is a function of (seed, epoch), for exact resume."""

    def __init__(self, *args, seed: int = 0, **kwargs):
        generator = torch.Generator().manual_seed(seed)
        super().__init__(*args, generator=generator, **kwargs)
        self.seed = seed
        self.pad_per_batch = False  # token batches cut to their longest sentence (data/padding.py)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)

    def __iter__(self):
        if not self.pad_per_batch:
            yield from super().__iter__()
            return
        for x, *rest in super().__iter__():  # cut in the main process: workers keep the loader they began with
            yield (trim_tokens(x), *rest)
