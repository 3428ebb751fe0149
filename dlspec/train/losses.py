"""Losses: `loss NAME(args)` in, a torch loss module out; each entry declares the targets it takes."""
from __future__ import annotations

from typing import Optional

from ..schema.args import Arg, positive
from ..schema.registry import Registry
from .components import Component, _nn, register

LOSSES = Registry("loss")

for _name, _cls, _args, _target, _doc in (
    ("cross_entropy", "CrossEntropyLoss", (Arg("label_smoothing", "float", 0.0),), "class",
     "Multi-class classification from logits; targets are class indices."),
    ("bce_with_logits", "BCEWithLogitsLoss", (), "binary", "Binary or multi-label classification from logits."),
    ("mse", "MSELoss", (), "value", "Mean squared error."),
    ("l1", "L1Loss", (), "value", "Mean absolute error."),
    ("huber", "HuberLoss", (Arg("delta", "float", 1.0, positive),), "value",
     "Huber loss: squared near 0, linear beyond delta."),
    ("nll", "NLLLoss", (), "class", "Negative log-likelihood of log-probabilities (after log_softmax)."),
):
    register(LOSSES, Component(_name, _args, (lambda cls: lambda a: getattr(_nn(), cls)(**a))(_cls), _doc,
                               target=_target))


def loss_task(component: Component) -> Optional[str]:
    """The task a loss implies: classification, regression, or None when it does not say."""
    return {"class": "classification", "binary": "classification", "value": "regression"}.get(component.target)
