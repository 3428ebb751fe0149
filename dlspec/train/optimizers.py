"""Optimizers: `optimizer NAME(args)` in, a torch optimizer builder out (param groups come from the trainer)."""
from __future__ import annotations

from ..schema.args import Arg, non_negative, positive
from ..schema.registry import Registry
from .entries import Component, register

OPTIMIZERS = Registry("optimizer")

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
