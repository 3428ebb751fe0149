"""Losses, optimizers and learning-rate schedules: names with typed arguments in,
torch objects out. Registries, so plugins can add their own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from ..schema.args import Arg, non_negative, positive
from ..schema.registry import register_entry
from ..settings import Step, bind_step


@dataclass(frozen=True)
class Component:
    name: str
    args: tuple
    build: Callable
    doc: str
    source: str = "built-in"
    # For losses, the targets they take: "class" (class indices), "binary" (0/1 floats, one
    # per output), "value" (numbers); None when unknown (plugin losses). Decides the task of a
    # table whose target column is numeric, and which metrics fit.
    target: Optional[str] = None


LOSSES: dict = {}
OPTIMIZERS: dict = {}
SCHEDULES: dict = {}


def register(table: dict, item: Component, override: bool = False) -> Component:
    what = {id(LOSSES): "loss", id(OPTIMIZERS): "optimizer", id(SCHEDULES): "schedule"}.get(id(table), "component")
    return register_entry(table, item, what, override)


def bind(table: dict, step: Step, what: str) -> tuple:
    """(Component, bound args) for a step, or an error with suggestions."""
    return bind_step(table, step, what)


def _nn():
    import torch.nn as nn
    return nn


# ---- losses -------------------------------------------------------------

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

# ---- optimizers ---------------------------------------------------------

_LR = Arg("lr", "float", 1e-3, positive)
_WD = Arg("weight_decay", "float", 0.0, non_negative)


def _optim(cls: str, rename: dict = None):
    def build(params, a: dict):
        import torch.optim as optim
        kwargs = {(rename or {}).get(k, k): v for k, v in a.items() if k != "lr_for"}
        return getattr(optim, cls)(params, **kwargs)
    return build


register(OPTIMIZERS, Component("sgd", (Arg("lr", "float", 0.01, positive), Arg("momentum", "float", 0.0, non_negative),
                                       Arg("nesterov", "bool", False), _WD, Arg("lr_for", "any", None)),
                               _optim("SGD"), "Stochastic gradient descent, optionally with (Nesterov) momentum."))
register(OPTIMIZERS, Component("adam", (_LR, _WD, Arg("beta1", "float", 0.9), Arg("beta2", "float", 0.999),
                                        Arg("lr_for", "any", None)),
                               lambda p, a: _optim("Adam")(p, _betas(a)), "Adam."))
register(OPTIMIZERS, Component("adamw", (_LR, Arg("weight_decay", "float", 0.01, non_negative),
                                         Arg("beta1", "float", 0.9), Arg("beta2", "float", 0.999),
                                         Arg("lr_for", "any", None)),
                               lambda p, a: _optim("AdamW")(p, _betas(a)), "Adam with decoupled weight decay."))
register(OPTIMIZERS, Component("rmsprop", (Arg("lr", "float", 0.01, positive), Arg("momentum", "float", 0.0),
                                           Arg("alpha", "float", 0.99), _WD, Arg("lr_for", "any", None)),
                               _optim("RMSprop"), "RMSprop."))


def _betas(a: dict) -> dict:
    a = dict(a)
    a["betas"] = (a.pop("beta1"), a.pop("beta2"))
    return a

# ---- schedules ----------------------------------------------------------
# Each schedule gives a factor of the base lr as a function of fractional
# epoch t (per step, through LambdaLR), so warmup composes with every one.

_WARMUP = Arg("warmup", "float", 0.0, non_negative)


def _factor_schedule(factor: Callable):
    def build(optimizer, a: dict, epochs: int, steps_per_epoch: int):
        import torch.optim.lr_scheduler as sched
        warmup = a["warmup"]

        def lr_lambda(step: int) -> float:
            t = step / max(steps_per_epoch, 1)
            if warmup and t < warmup:
                return (t + 1 / max(steps_per_epoch, 1)) / warmup
            return factor(t - warmup, max(epochs - warmup, 1e-9), a)
        return sched.LambdaLR(optimizer, lr_lambda)
    return build


def _cosine(t, total, a):
    return a["min_factor"] + (1 - a["min_factor"]) * 0.5 * (1 + math.cos(math.pi * min(t / total, 1.0)))


register(SCHEDULES, Component("constant", (_WARMUP,), _factor_schedule(lambda t, total, a: 1.0), "A fixed learning rate."))
register(SCHEDULES, Component("step", (Arg("step_size", "int", 10, positive), Arg("gamma", "float", 0.1, positive), _WARMUP),
                              _factor_schedule(lambda t, total, a: a["gamma"] ** int(t // a["step_size"])),
                              "Multiply the lr by gamma every step_size epochs."))
register(SCHEDULES, Component("multistep", (Arg("milestones", "ints"), Arg("gamma", "float", 0.1, positive), _WARMUP),
                              _factor_schedule(lambda t, total, a: a["gamma"] ** sum(
                                  t >= m for m in (a["milestones"] if isinstance(a["milestones"], tuple)
                                                   else (a["milestones"],)))),
                              "Multiply the lr by gamma at each milestone epoch."))
register(SCHEDULES, Component("cosine", (Arg("min_factor", "float", 0.0, non_negative), _WARMUP),
                              _factor_schedule(_cosine), "Cosine decay to min_factor * lr over the epochs."))


def _onecycle(optimizer, a, epochs, steps_per_epoch):
    import torch.optim.lr_scheduler as sched
    max_lrs = [g["lr"] * a["peak"] for g in optimizer.param_groups]
    return sched.OneCycleLR(optimizer, max_lr=max_lrs, epochs=epochs, steps_per_epoch=max(steps_per_epoch, 1),
                            pct_start=a["pct_start"])


def _plateau(optimizer, a, epochs, steps_per_epoch):
    import torch.optim.lr_scheduler as sched
    return sched.ReduceLROnPlateau(optimizer, mode=a["mode"] if a["mode"] != "auto" else (
        "min" if "loss" in a["monitor"] or a["monitor"].endswith(("mae", "mse")) else "max"),
        factor=a["factor"], patience=a["patience"])


register(SCHEDULES, Component("onecycle", (Arg("peak", "float", 10.0, positive), Arg("pct_start", "float", 0.3)),
                              _onecycle, "One-cycle policy: warm up to peak * lr, then anneal."))
register(SCHEDULES, Component("plateau", (Arg("monitor", "str", "val_loss"), Arg("factor", "float", 0.1, positive),
                                          Arg("patience", "int", 5, non_negative),
                                          Arg("mode", "str", "auto", choices=("auto", "min", "max"))),
                              _plateau, "Multiply the lr by factor when the monitored metric stops improving."))

PER_STEP_SCHEDULES = {"constant", "step", "multistep", "cosine", "onecycle"}
