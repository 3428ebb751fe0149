"""The entry type of the loss, optimizer and schedule registries, and binding a setting to one.

A `loss ...`, `optimizer ...` or `schedule ...` setting in, (Component, bound
arguments) out. The registries themselves live in losses.py, optimizers.py and
schedules.py; plugins add to them through dlspec.plugins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ..schema.registry import register_entry
from ..schema.settings import Step, bind_step


# what a loss entry may declare (see Component.target and Component.expects)
LOSS_TARGETS = ("class", "binary", "value")
LOSS_OUTPUTS = ("logits", "log_probs", "values")


@dataclass(frozen=True)
class Component:
    """A loss, optimizer or schedule: its arguments, a builder, docs, and where it came from."""

    name: str
    args: tuple
    build: Callable
    doc: str
    source: str = "built-in"
    # For losses, the targets they take: "class" (class indices), "binary" (0/1 floats, one
    # per output), "value" (numbers); None when unknown (a plugin loss that does not say). Decides
    # the dtype and layout the loop hands the loss (loop.prepare_target), the task of a table whose
    # target column is numeric, and which metrics fit.
    target: Optional[str] = None
    # For losses: takes soft targets (a probability per class, as mixup and cutmix make).
    soft_targets: bool = False
    # For losses, what the model's output must be: "logits" (raw scores, the loss applies the
    # softmax or sigmoid), "log_probs" (after log_softmax), "values" (numbers); None when unknown.
    # The checks of the model's last layer against the loss read it (task_checks.py).
    expects: Optional[str] = None
    # For schedules: stepped after every batch (True) or once per epoch with the monitored value (False).
    per_step: bool = True


def register(table, item: Component, override: bool = False) -> Component:
    """Add a component to a registry (LOSSES, OPTIMIZERS or SCHEDULES) with the one duplicate policy."""
    return register_entry(table, item, table.kind, override)


def bind(table, step: Step, what: str) -> tuple:
    """(Component, bound args) for a step, or an error with suggestions."""
    return bind_step(table, step, what)
