"""Sample sharding: a batch source of global batches and a rank in, this rank's share of each batch out.

`batch` in a spec is the global batch. Every process walks the same per-epoch
order (the sources shuffle with a generator seeded by seed + epoch), cuts it
into the same global batches, and keeps its own contiguous slice of each one
(`rank_slice`): N processes together see exactly the samples one process
sees, in the same optimizer steps, with no padding and no duplicates.

Three ways to shard a source, best first:
- a source with a `shard(rank, world)` method returns its own sharded view
  (a device-resident source should slice its index batches with `rank_slice`);
- a torch DataLoader is rebuilt over the same dataset with a batch sampler
  that keeps this rank's slice of each global batch of indices, so each
  process loads and augments only its own samples;
- any other iterable of (x, y) batches is sliced batch by batch.

`StepPlan` says, for each micro-batch of an epoch, how much its mean loss
weighs in the optimizer step (its sample count over the step's global count,
times the world size that DDP's gradient average divides by) and whether the
optimizer steps after it; an uneven last batch is thus weighted by samples,
not by rank. Pure bookkeeping: no collectives here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def rank_slice(size: int, rank: int, world: int) -> range:
    """The positions of a global batch of `size` that `rank` takes: contiguous, sizes differing by at most one."""
    base, extra = divmod(size, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def global_batch_sizes(samples: int, batch: int) -> list:
    """The sizes of the global batches of an epoch over `samples` samples (the last one may be short)."""
    full, rest = divmod(samples, batch)
    return [batch] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class Micro:
    """One micro-batch of this rank: its real sample count, its loss weight, and whether the optimizer steps."""

    count: int
    weight: float
    steps: bool


class StepPlan:
    """Per micro-batch weights and step points of an epoch, for `accumulate` micro-batches per step."""

    def __init__(self, samples: int, batch: int, accumulate: int = 1, rank: int = 0, world: int = 1):
        sizes = global_batch_sizes(samples, batch)
        self.micros = []
        for first in range(0, len(sizes), accumulate):
            group = sizes[first:first + accumulate]
            total = sum(group)
            for i, size in enumerate(group):
                count = len(rank_slice(size, rank, world))
                self.micros.append(Micro(count, count * world / total, i == len(group) - 1))
        self.optimizer_steps = -(-len(sizes) // accumulate)
        self.trivial = accumulate == 1 and world == 1  # weight 1 and a step after every batch

    def __getitem__(self, index: int) -> Micro:
        return self.micros[index]

    def __len__(self) -> int:
        return len(self.micros)


class _ShardBatchSampler:
    """This rank's slice of each global batch of the indices a sampler yields (the sampler's order is
    the one-process order). An empty slice is one index with `keep_empty`, nothing otherwise."""

    def __init__(self, sampler, batch: int, rank: int, world: int, keep_empty: bool):
        self.sampler, self.batch, self.rank, self.world, self.keep_empty = sampler, batch, rank, world, keep_empty

    def _mine(self, indices: list):
        part = [indices[i] for i in rank_slice(len(indices), self.rank, self.world)]
        if part:
            return part
        return indices[:1] if self.keep_empty else None

    def __iter__(self):
        indices = []
        for index in self.sampler:
            indices.append(index)
            if len(indices) == self.batch:
                part = self._mine(indices)
                if part:
                    yield part
                indices = []
        if indices:
            part = self._mine(indices)
            if part:
                yield part

    def __len__(self):
        return -(-len(self.sampler) // self.batch)


class _SlicedBatches:
    """Any iterable of (x, y) global batches, sliced batch by batch (correct for every source; each rank
    still produces whole global batches, so a source that can should offer `shard` instead)."""

    def __init__(self, source, rank: int, world: int, keep_empty: bool):
        self.source, self.rank, self.world, self.keep_empty = source, rank, world, keep_empty
        self.dataset = getattr(source, "dataset", None)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)

    def __len__(self):
        return len(self.source)

    def __iter__(self):
        for x, y in self.source:
            part = rank_slice(len(next(iter(x.values())) if isinstance(x, dict) else x), self.rank, self.world)
            if len(part) == 0:
                if not self.keep_empty:
                    continue
                part = range(0, 1)  # a stand-in sample with loss weight 0, so every rank joins the step
            yield _rows(x, part), _rows(y, part)


def _rows(t, part: range):
    """Rows `part` of a batch's tensor, or of each tensor of a dict (several inputs or targets)."""
    if isinstance(t, dict):
        return {k: v[part.start:part.stop] for k, v in t.items()}
    return t[part.start:part.stop]


class _ShardedDataLoader:
    """A DataLoader rebuilt with a sharding batch sampler; set_epoch reseeds the original's generator,
    which the original sampler (and hence this one) draws its order from."""

    def __init__(self, loader, rank: int, world: int, keep_empty: bool):
        self.original = loader
        self.dataset = loader.dataset
        sampler = _ShardBatchSampler(loader.sampler, loader.batch_size, rank, world, keep_empty)
        self.loader = torch.utils.data.DataLoader(
            loader.dataset, batch_sampler=sampler, num_workers=loader.num_workers, collate_fn=loader.collate_fn,
            pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn, generator=loader.generator,
            persistent_workers=loader.persistent_workers if loader.num_workers > 0 else False)

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.original, "set_epoch"):
            self.original.set_epoch(epoch)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        return iter(self.loader)


def shard(source, rank: int, world: int, keep_empty: bool):
    """This rank's view of a batch source. `keep_empty` (training) turns an empty share of a short last
    batch into a one-sample stand-in, which the StepPlan weighs 0, so that every rank takes part in each
    gradient exchange; evaluation (keep_empty=False) just skips it."""
    if world == 1:
        return source
    if hasattr(source, "shard"):
        return source.shard(rank, world, keep_empty)
    if isinstance(source, torch.utils.data.DataLoader) and source.batch_size is not None:
        return _ShardedDataLoader(source, rank, world, keep_empty)
    return _SlicedBatches(source, rank, world, keep_empty)
