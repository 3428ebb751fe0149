"""Losses: `loss NAME(args)` in, a torch loss module out; each entry declares the targets it takes."""
from __future__ import annotations

from typing import Optional

from ..schema.args import Arg, positive
from ..schema.registry import Registry
from .entries import Component, _nn, register

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


def written_loss_task(train_decl) -> Optional[str]:
    """The task the `loss` a train block writes implies, read from the IR before the block is checked
    (None: no loss written, or one that does not say); `vector(auto)` measures a table by it, as fit does."""
    for s in train_decl.settings:
        if s.key == "loss" and s.args:
            name = getattr(s.args[0], "callee", getattr(s.args[0], "name", None))
            found = LOSSES.find(name) if isinstance(name, str) else None
            return loss_task(found) if found is not None else None
    return None


# Losses that take soft targets (a probability per class, as mixup and cutmix make): cross_entropy takes
# class probabilities natively, bce_with_logits takes any target in [0, 1]. nll, the regression losses and
# plugin losses do not (or are not known to).
SOFT_TARGET_LOSSES = ("cross_entropy", "bce_with_logits")


def takes_soft_targets(component: Component) -> bool:
    return component.source == "built-in" and component.name in SOFT_TARGET_LOSSES


def check_soft_targets(cfg) -> None:
    """mixup / cutmix in the data block need a loss that takes soft targets: a located error otherwise."""
    from ..data.route import soft_target_step
    from ..errors import DataError
    step = soft_target_step(cfg.data)
    loss = cfg.loss[0]
    if step is None or takes_soft_targets(loss):
        return
    where = f" (line {cfg.locs['loss'].line})" if cfg.locs.get("loss") is not None else " (the default loss)"
    raise DataError(f"{step.name} makes soft targets (a mix of two labels), which loss {loss.name}{where} "
                    f"cannot take", step.loc,
                    hint=f"use loss {' or '.join(SOFT_TARGET_LOSSES)}, or remove {step.name}")


def is_soft_target(loss_name: str, out, y) -> bool:
    """True for class-probability targets of cross_entropy (the layout mixup and cutmix produce)."""
    return loss_name == "cross_entropy" and y.is_floating_point() and y.dim() == out.dim() and y.dim() > 1


def metric_target(loss_name: str, out, y):
    """Metrics score soft targets against their dominant class."""
    return y.argmax(1) if is_soft_target(loss_name, out, y) else y
