"""The per-sample loaders: a split's samples (or its tensors) in, shuffled (x, y) batches out, each with
`__len__` and `set_epoch(epoch)`, so an epoch's order is a function of (seed, epoch) and a resumed run sees
the same batches.

`TensorLoader` slices batches from tensors held in memory (no per-sample Python work); `EpochDataLoader`
is a torch DataLoader that transforms one sample at a time. data/pipeline.py builds one per split when a
data block takes the per-sample route; the cached route's loader is data/cache.py's `CachedLoader`.
"""
from __future__ import annotations

import torch

from .cache import epoch_order


class TensorLoader:
    """Batches sliced from in-memory tensors: no per-sample Python work."""

    def __init__(self, x, y, batch: int, shuffle: bool, seed: int):
        self.x, self.y, self.batch, self.shuffle = x, y, batch, shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.dataset = x

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)

    def __len__(self):
        return (len(self.x) + self.batch - 1) // self.batch

    def __iter__(self):
        n = len(self.x)
        order = epoch_order(n, self.generator) if self.shuffle else None  # the order a DataLoader gives
        for start in range(0, n, self.batch):
            if order is None:
                yield self.x[start:start + self.batch], self.y[start:start + self.batch]
            else:
                idx = order[start:start + self.batch]
                yield self.x[idx], self.y[idx]


class EpochDataLoader(torch.utils.data.DataLoader):
    """A DataLoader whose shuffle order is a function of (seed, epoch), for exact resume."""

    def __init__(self, *args, seed: int = 0, **kwargs):
        generator = torch.Generator().manual_seed(seed)
        super().__init__(*args, generator=generator, **kwargs)
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)
