"""Learning-rate schedules: `schedule NAME(args)` in, a torch scheduler out.

Each entry says whether it steps after every batch (`per_step`) or once per
epoch on a monitored value (plateau).
"""
from __future__ import annotations

import math
from typing import Callable

from ..schema.args import Arg, non_negative, positive
from ..schema.registry import Registry
from .entries import Component, register

SCHEDULES = Registry("schedule")

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
    from .metrics import higher_is_better  # auto: the direction the metric registry declares, as for early_stop
    return sched.ReduceLROnPlateau(optimizer, mode=a["mode"] if a["mode"] != "auto" else (
        "max" if higher_is_better(a["monitor"]) else "min"),
        factor=a["factor"], patience=a["patience"])


register(SCHEDULES, Component("onecycle", (Arg("peak", "float", 10.0, positive), Arg("pct_start", "float", 0.3)),
                              _onecycle, "One-cycle policy: warm up to peak * lr, then anneal."))
register(SCHEDULES, Component("plateau", (Arg("monitor", "str", "val_loss"), Arg("factor", "float", 0.1, positive),
                                          Arg("patience", "int", 5, non_negative),
                                          Arg("mode", "str", "auto", choices=("auto", "min", "max"))),
                              _plateau, "Multiply the lr by factor when the monitored metric stops improving.",
                              per_step=False))
