"""The step side of several outputs: checked `OutputTrain`s (train/objective.py) and the data's targets in;
the `Objective` a step calls and the per-output metric accumulators out.

The objective is the weighted sum of each output's loss against its own target, computed on the device
(nothing is read on the host); it keeps each output's last loss so that the `OUTPUT_loss` columns are
tallied like any metric, without computing a loss twice.
"""
from __future__ import annotations

from typing import Optional

import torch

from .loop import prepare_target
from .metrics import Metric, make_metrics


class Objective:
    """`objective(out, y)`: sum over outputs of weight * loss(out[name], y[name]); `last` holds each part."""

    def __init__(self, outputs: dict):
        self.parts = [(name, o.loss[0], o.loss[0].build(o.loss[1]), o.weight) for name, o in outputs.items()]
        self.last: dict = {}

    def __call__(self, out: dict, y: dict) -> torch.Tensor:
        total = None
        for name, entry, loss_fn, weight in self.parts:
            part = loss_fn(out[name], prepare_target(entry, out[name], y[name]))
            self.last[name] = part
            weighted = part if weight == 1.0 else part * weight
            total = weighted if total is None else total + weighted
        return total


class LossPart(Metric):
    """The mean of one output's loss over a pass, read from the objective's last step (on the device)."""

    def __init__(self, objective: Objective, name: str):
        super().__init__()
        self.objective, self.name = objective, name

    def update(self, out, y):
        batch = y[self.name].shape[0]
        self._add(self.objective.last[self.name].detach().double() * batch, batch)


class OutputMetric:
    """A metric fed with one output and its target."""

    def __init__(self, name: str, metric):
        self.name, self.metric = name, metric

    def update(self, out, y):
        self.metric.update(out[self.name], y[self.name])

    def compute(self) -> float:
        return self.metric.compute()


def make_output_metrics(outputs: dict, objective: Objective, targets: dict) -> dict:
    """column -> accumulator for every output: its loss, then its metrics (in original units when the data
    scaled that output's targets)."""
    made = {}
    for name, o in outputs.items():
        made[f"{name}_loss"] = LossPart(objective, name)
        scale: Optional[dict] = (targets.get(name) or {}).get("scale")
        for column, metric in make_metrics(o.metrics, scale).items():
            made[f"{name}_{column}"] = OutputMetric(name, metric)
    return made
