"""Terms a model adds to its loss (`add_loss` in a graph body): a model in, per step the named terms out.

Each GraphModule with an `add_loss` step leaves its terms of the last forward in `added_losses`
(name -> weight * batch mean). A step adds them to the loss it backpropagates (training) or reports
(evaluation), and an AddedTally sums each over the epoch, so metrics.csv gets one column per term
(`kl`, `val_kl`). Terms of the same name (a block with add_loss repeated) are summed.
"""
from __future__ import annotations

import torch

from ..runtime.graph import GraphModule


def loss_adders(model: torch.nn.Module) -> tuple:
    """The graph modules of `model` (inside a torch.compile or DDP wrapper too) that add loss terms."""
    return tuple(m for m in model.modules()
                 if isinstance(m, GraphModule) and any(op[1] == "add_loss" for op in m._ops))


def take_added(adders: tuple) -> dict:
    """name -> the summed term of the forward just run (each module's record is emptied: a term is
    never counted twice)."""
    terms: dict = {}
    for module in adders:
        for name, value in module.added_losses.items():
            terms[name] = terms[name] + value if name in terms else value
        module.added_losses = {}
    return terms


def with_added(loss: torch.Tensor, terms: dict) -> torch.Tensor:
    """The step's loss with every added term (the terms in float32 join a loss of any dtype)."""
    for value in terms.values():
        loss = loss + value.to(loss.dtype)
    return loss


class AddedTally:
    """Each term's sum over an epoch, weighted by the batch size, kept on the device (no host read per step)."""

    def __init__(self):
        self.sums: dict = {}
        self.samples = 0

    def add(self, terms: dict, count: int) -> None:
        if not terms:
            return  # a stand-in batch (count 0) still names its terms: every process reports the same columns
        self.samples += count
        for name, value in terms.items():
            part = value.detach().double() * count
            self.sums[name] = self.sums[name] + part if name in self.sums else part

    def as_metrics(self) -> dict:
        """name -> a TermMean per term, put among a pass's metrics before their sums are reduced over the
        processes (distributed.reduce_totals sums each one's total and count as a plugin metric's)."""
        return {name: TermMean(total, self.samples) for name, total in self.sums.items()}


class TermMean:
    """A term's sum and sample count, read as the epoch's mean (what the term added to the mean loss);
    shaped like a metric so that the loss tally's reduction over processes sums it."""

    def __init__(self, total: torch.Tensor, count: int):
        self.total, self.count = total, count

    def update(self, out, y) -> None:  # the step added it already (AddedTally)
        pass

    def compute(self) -> float:
        return float(self.total) / max(self.count, 1)
