"""Losses: `loss NAME(args)` in, a torch loss module out; each entry declares the targets it takes."""
from __future__ import annotations

from typing import Optional

from ..schema.args import Arg, positive
from ..schema.registry import Registry
from .entries import Component, register

LOSSES = Registry("loss")


def _nn():
    """torch.nn, imported when a loss is built (checking a spec imports no torch)."""
    import torch.nn as nn
    return nn


# name, torch class, arguments, target, takes soft targets, expects, doc
for _name, _cls, _args, _target, _soft, _expects, _doc in (
    ("cross_entropy", "CrossEntropyLoss", (Arg("label_smoothing", "float", 0.0),), "class", True, "logits",
     "Multi-class classification from logits; targets are class indices (per pixel: logits [C, H, W], "
     "targets [H, W])."),
    ("bce_with_logits", "BCEWithLogitsLoss", (), "binary", True, "logits",
     "Binary or multi-label classification from logits."),
    ("l1", "L1Loss", (), "value", False, "values", "Mean absolute error."),
    ("huber", "HuberLoss", (Arg("delta", "float", 1.0, positive),), "value", False, "values",
     "Huber loss: squared near 0, linear beyond delta."),
    ("nll", "NLLLoss", (), "class", False, "log_probs",
     "Negative log-likelihood of log-probabilities (after log_softmax)."),
):
    register(LOSSES, Component(_name, _args, (lambda cls: lambda a: getattr(_nn(), cls)(**a))(_cls), _doc,
                               target=_target, soft_targets=_soft, expects=_expects))


def _mse(args: dict):
    """MSELoss; with one_hot=true a class index target becomes a one-hot row of the output's width first."""
    nn = _nn()
    if not args.get("one_hot"):
        return nn.MSELoss()

    class OneHotMSELoss(nn.MSELoss):
        def forward(self, out, target):
            if target.dim() == out.dim() - 1:  # class indices (prepare_target made them floats)
                target = nn.functional.one_hot(target.long(), out.shape[-1]).to(out.dtype)
            return super().forward(out, target)

    return OneHotMSELoss()


# mse is listed after l1 and huber's registration order does not matter; it keeps its place in the docs' list
register(LOSSES, Component("mse", (Arg("one_hot", "bool", False),), _mse,
                           "Mean squared error; one_hot=true compares class labels as one-hot rows (scores per class).",
                           target="value", soft_targets=False, expects="values"))


def _dice(a: dict):
    from .dice import DiceLoss
    return DiceLoss(**a)


register(LOSSES, Component("dice", (Arg("smooth", "float", 1.0, positive),), _dice,
                           "Soft dice over classes from logits, for segmentation: 1 - mean over classes of "
                           "(2 sum(p t) + smooth) / (sum(p) + sum(t) + smooth), p the softmax, t the one-hot "
                           "targets, sums over the batch's pixels; targets are class indices ([H, W] maps).",
                           target="class", soft_targets=False, expects="logits"))


def loss_task(component: Component, args: Optional[dict] = None) -> Optional[str]:
    """The task a loss (with its arguments) implies: classification, regression, or None when it does not
    say. `mse(one_hot=true)` scores classes."""
    if one_hot_classes(component, args):
        return "classification"
    return {"class": "classification", "binary": "classification", "value": "regression"}.get(component.target)


def one_hot_classes(component: Component, args: Optional[dict]) -> bool:
    """A value loss asked to compare class labels as one-hot rows (`loss mse(one_hot=true)`)."""
    return bool(args and args.get("one_hot")) and component.target == "value"


def written_loss_task(train_decl) -> Optional[str]:
    """The task the `loss` a train block writes implies, read from the IR before the block is checked
    (None: no loss written, or one that does not say); `vector(auto)` measures a table by it, as fit does."""
    for s in train_decl.settings:
        if s.key == "loss" and s.args:
            name = getattr(s.args[0], "callee", getattr(s.args[0], "name", None))
            found = LOSSES.find(name) if isinstance(name, str) else None
            one_hot = any(kw.name == "one_hot" and getattr(kw.value, "value", False) is True
                          for kw in getattr(s.args[0], "kwargs", ()))
            return loss_task(found, {"one_hot": one_hot}) if found is not None else None
    return None


def scores_classes(component: Component) -> bool:
    """A loss over one score per class (a softmax across the class axis): class targets from logits or
    log-probabilities. The model must give as many outputs as the data has classes, and more than one."""
    return component.target == "class" and component.expects in ("logits", "log_probs")


def soft_target_losses() -> list:
    """The built-in losses that take soft targets, for hints."""
    return [c.name for c in LOSSES.values() if c.soft_targets and c.source == "built-in"]


def check_soft_targets(cfg) -> None:
    """mixup / cutmix in the data block need a loss that takes soft targets: a located error otherwise."""
    from ..data.route import soft_target_step
    from ..errors import DataError
    step = soft_target_step(cfg.data)
    loss = cfg.loss[0]
    if step is None or loss.soft_targets:
        return
    where = f" (line {cfg.locs['loss'].line})" if cfg.locs.get("loss") is not None else " (the default loss)"
    raise DataError(f"{step.name} makes soft targets (a mix of two labels), which loss {loss.name}{where} "
                    f"cannot take", step.loc,
                    hint=f"use loss {' or '.join(soft_target_losses())}, or remove {step.name}")


def is_soft_target(loss: Component, out, y) -> bool:
    """True for class-probability targets (the layout mixup and cutmix produce) given to a loss that takes them."""
    return loss.soft_targets and y.is_floating_point() and y.dim() == out.dim() and y.dim() > 1


def metric_target(loss: Component, out, y):
    """Metrics score a class loss's soft targets against their dominant class."""
    return y.argmax(1) if loss.target == "class" and is_soft_target(loss, out, y) else y
