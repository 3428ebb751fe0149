"""Token batches padded to their own longest sentence, and batches of similar lengths: token ids in
(one [N, max_len] tensor per split, pads 0 on the right), shorter batches and a bucketed epoch order out.

A text source pads every sentence to `max_len` once; a model whose results do not depend on the number of
pad steps after a batch's longest sentence (planning/lengths.full_steps_needed) is given batches cut
to that sentence (`trim_tokens`): an LSTM over 12 real steps runs 12 steps, not 40. The cut drops only
columns that are pads in every row, so the lengths the model measures from the ids are unchanged.

`bucket N` (the data block's setting) orders an epoch so batches hold sentences of similar lengths:
the seeded shuffled order is cut into pools of N batches, each pool sorted by length (stably) and cut
into batches, and the batches shuffled (seeded) so lengths do not rise through the epoch. Every sample
comes once per epoch, and every batch but the last is full, as without buckets.
"""
from __future__ import annotations

from typing import Optional

import torch


def token_lengths(ids: torch.Tensor) -> torch.Tensor:
    """[N] the position after the last non-pad id of each row of [N, T] token ids (0 for a row of pads)."""
    positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)
    return ((ids != 0).long() * positions).amax(1) if ids.shape[1] else ids.new_zeros(ids.shape[0])


def is_token_batch(x) -> bool:
    return isinstance(x, torch.Tensor) and x.dim() == 2 and not x.is_floating_point() and x.dtype != torch.bool


def trim_tokens(x: torch.Tensor, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
    """[B, T] token ids cut to the batch's longest sentence (at least one step); `lengths` when known."""
    if not is_token_batch(x) or x.shape[1] == 0:
        return x
    longest = int((token_lengths(x) if lengths is None else lengths).max().clamp_min(1))
    return x[:, :longest] if longest < x.shape[1] else x


def bucketed_batches(order: torch.Tensor, lengths: torch.Tensor, batch: int, bucket: int,
                     generator: torch.Generator) -> list:
    """The batches (index tensors, on `order`'s device) of an epoch whose shuffled `order` is regrouped
    into batches of similar `lengths` (indexed like the samples): see the module docstring."""
    pool = batch * bucket
    lengths = lengths.to(order.device)
    batches = []
    for start in range(0, len(order), pool):
        part = order[start:start + pool]
        part = part[torch.sort(lengths[part], stable=True).indices]
        batches.extend(part[i:i + batch] for i in range(0, len(part), batch))
    full = [b for b in batches if len(b) == batch]
    short = [b for b in batches if len(b) != batch]
    pick = torch.randperm(len(full), generator=generator, device=generator.device).tolist()
    return [full[i] for i in pick] + short


def pad_per_batch(loaders: dict, plan) -> None:
    """Cut every loader's token batches to their longest sentence when the model `plan` allows it."""
    from ..planning.lengths import full_steps_needed
    if not plan.in_shape.integer or full_steps_needed(plan) is not None:
        return
    for loader in loaders.values():
        if hasattr(loader, "pad_per_batch"):
            loader.pad_per_batch = True
