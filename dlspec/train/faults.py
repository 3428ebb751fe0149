"""Failures during training that a user can cause: an exception in, a TrainError that says
what happened and what to do out (never an "internal error").

Out of memory comes from a batch or model too big for the device (also when a
plugin layer hits it); any other exception in a model's forward comes from data
the model cannot take. Both are reported with the epoch and step.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import Loc, TrainError

_OOM_WORDS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(exc, (oom, MemoryError)) or (
        isinstance(exc, RuntimeError) and any(w in str(exc).lower() for w in _OOM_WORDS))


def out_of_memory(where: str, batch: int, device, loc: Optional[Loc]) -> TrainError:
    return TrainError(f"out of memory on {device} {where} with batch size {batch}", loc,
                      hint=f"use a smaller batch (e.g. batch {max(batch // 2, 1)} in the data block), a smaller "
                           f"model or input size" + (", or precision bf16" if str(device).startswith("cuda") else ""))


def forward_failed(exc: BaseException, where: str, batch: int, device, loc: Optional[Loc] = None) -> TrainError:
    """The model's forward raised outside a plugin layer (plugin layers report themselves as
    PluginError, see compiler._guard_forward): out of memory, or a model that cannot take the data."""
    if is_out_of_memory(exc):
        return out_of_memory(where, batch, device, loc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return TrainError(f"the model raised {type(exc).__name__} {where}: {first}", loc,
                      hint="check that the data suits the model; set DLSPEC_DEBUG=1 for the traceback")
