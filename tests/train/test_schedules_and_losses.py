"""Losses, optimizers and schedules built from their settings."""
import math

import pytest
import torch

from dlspec.errors import UnknownNameError
from dlspec.schema.settings import Step
from dlspec.train.losses import LOSSES
from dlspec.train.optimizers import OPTIMIZERS
from dlspec.train.schedules import SCHEDULES
from dlspec.train.entries import bind


def lrs(name, epochs=4, steps=5, **kwargs):
    model = torch.nn.Linear(2, 1)
    opt_def, opt_args = bind(OPTIMIZERS, Step("sgd", (), {"lr": 1.0}, None), "optimizer")
    opt = opt_def.build(model.parameters(), opt_args)
    sched_def, args = bind(SCHEDULES, Step(name, (), kwargs, None), "schedule")
    sched = sched_def.build(opt, args, epochs, steps)
    out = []
    for _ in range(epochs * steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_ramps_linearly_then_cosine_decays():
    values = lrs("cosine", warmup=1)
    assert values[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert values[5] == pytest.approx(1.0) and values[-1] < 0.05
    assert all(a >= b for a, b in zip(values[5:], values[6:]))


def test_step_and_multistep():
    assert lrs("step", step_size=2, gamma=0.5)[::5] == pytest.approx([1, 1, 0.5, 0.5])
    assert lrs("multistep", milestones=[1, 3], gamma=0.1)[::5] == pytest.approx([1, 0.1, 0.1, 0.01])


def test_onecycle_peaks_in_the_middle():
    values = lrs("onecycle", peak=10)
    assert max(values) == pytest.approx(10, rel=1e-3) and values[0] < 1 and values[-1] < 0.01


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_builds_and_computes(name):
    loss_def, args = bind(LOSSES, Step(name, (), {}, None), "loss")
    fn = loss_def.build(args)
    out = torch.randn(4, 3)
    target = torch.randint(0, 3, (4,)) if name in ("cross_entropy", "nll", "dice") else torch.rand(4, 3)
    assert math.isfinite(float(fn(out.log_softmax(1) if name == "nll" else out, target)))


def test_unknown_schedule_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'cosine'"):
        bind(SCHEDULES, Step("cosin", (), {}, None), "schedule")
