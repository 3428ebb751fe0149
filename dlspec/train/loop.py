"""The inner loops: a StepSetup (the model, the loss entry and the step's settings) and a loader in,
per-epoch numbers out.

Written like a careful hand-made PyTorch loop: `zero_grad(set_to_none=True)`,
non-blocking copies, one autocast context, metrics summed on the device, the
loss kept in a LossTally (a list append per step, folded every 64 steps), and
host reads only for rate-limited progress, the CPU's finite check per fold and
the epoch's end; on a GPU nothing is read per step when nothing is shown.
tests/train/test_step_work.py counts what runs per step.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..errors import DlspecError, TrainError
from .devices import device_problem
from .faults import forward_failed, is_out_of_memory
from .entries import Component
from .losses import is_soft_target, metric_target
from .added_losses import AddedTally, loss_adders, take_added, with_added


@dataclass(frozen=True)
class StepSetup:
    """What every training and evaluation step uses, built once per run (Trainer._setup).

    `model` is the module the steps call (the model, or its torch.compile wrapper); `loss` the loss
    entry, whose declared target decides the targets' dtype and layout (prepare_target); `plan` (a
    sharding.StepPlan) weighs each micro-batch's loss and says when the optimizer steps (gradient
    accumulation, an uneven last batch over several processes); `reduce` sums the loss, sample count
    and metrics over the processes (distributed.Dist.reduce_totals). Evaluation reads only model,
    loss, loss_fn, device, amp_dtype and reduce."""

    model: torch.nn.Module
    loss: Component
    loss_fn: Callable
    device: torch.device
    amp_dtype: Optional[torch.dtype] = None
    optimizer: Optional[torch.optim.Optimizer] = None
    scaler: Optional[object] = None  # torch.amp.GradScaler with fp16 on CUDA
    per_step_scheduler: Optional[object] = None  # a schedule stepped after every optimizer step
    clip_norm: Optional[float] = None
    clip_value: Optional[float] = None
    plan: Optional[object] = None
    reduce: Optional[Callable] = None
    objective: Optional[Callable] = None  # several outputs: (out dict, y dict) -> weighted total (objective.py)
    target_input: bool = False  # `target input`: each batch's input is its target (an autoencoder)

    def autocast(self):
        """The mixed-precision context of a pass (a no-op context without amp_dtype); made once per pass."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext()

    def mean_loss(self, loss_sum: torch.Tensor, samples: int, metrics: dict) -> tuple:
        """(mean loss, samples) of a pass's sums, summed over the processes first (`reduce`, metrics too)."""
        if self.reduce is not None:
            loss_sum, samples = self.reduce(loss_sum, samples, metrics)
        return float(loss_sum) / max(samples, 1), samples

    def loss_of(self, out, y) -> torch.Tensor:
        """The loss of a batch's output against its raw targets (what a step computes); with several
        outputs, the objective's weighted sum of their losses."""
        if self.objective is not None:
            return self.objective(out, y)
        return self.loss_fn(out, prepare_target(self.loss, out, y))

    def metric_targets(self, out, y):
        """The targets metrics score against (several outputs: as given; one: see losses.metric_target)."""
        return y if self.objective is not None else metric_target(self.loss, out, y)


def check_device_name(name: str) -> None:
    """A device name dlspec knows (auto, cpu, cuda, cuda:N, mps), or an error with a suggestion."""
    problem = device_problem(name)
    if problem:
        raise TrainError(problem, hint="auto picks cuda, then mps, then cpu")


def select_device(name: str) -> torch.device:
    """auto picks cuda, then mps, then cpu; an unknown or unavailable device is an error."""
    check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainError(f"device {name} was asked for, but no CUDA GPU is available", hint="use device auto or cpu")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise TrainError(f"device {name} does not exist: {torch.cuda.device_count()} GPU(s) found")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TrainError("device mps was asked for, but MPS is not available", hint="use device auto or cpu")
    return torch.device(name)


def autocast_dtype(precision: str, device: torch.device):
    """The autocast dtype for a precision setting, or None for full fp32."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if precision == "bf16" else torch.float16


def prepare_target(loss: Component, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bring targets to the layout and dtype the loss entry's declared `target` asks for."""
    target = loss.target
    if target == "class":
        if is_soft_target(loss, out, y):  # class probabilities (mixup, cutmix)
            return y.float()
        return y.long()
    if target == "binary" and out.dim() == 2 and out.shape[1] > 1 and y.dim() == 1 \
            and not y.is_floating_point():
        # one logit per class and class indices: one-vs-rest targets (torch would refuse the shapes)
        return torch.nn.functional.one_hot(y.long(), out.shape[1]).to(out.dtype)
    # values (and binary 0/1 or soft targets, and a loss that does not say): the output's layout and dtype
    if out.shape != y.shape and out.numel() == y.numel():
        y = y.reshape(out.shape)
    return y.to(out.dtype) if out.is_floating_point() else y.float()


def move(t, device: torch.device, non_blocking: bool):
    """A batch's tensor, or its dict of named tensors (several inputs or outputs), on `device`."""
    if isinstance(t, dict):
        return {k: v.to(device, non_blocking=non_blocking) for k, v in t.items()}
    return t.to(device, non_blocking=non_blocking)


def first(t) -> torch.Tensor:
    """The tensor, or the first of a dict of named tensors (for a batch's size and device)."""
    return next(iter(t.values())) if isinstance(t, dict) else t


def detached(out, to_float: bool = False):
    """An output (or a dict of outputs) detached, in float32 when asked (metrics after autocast)."""
    if isinstance(out, dict):
        return {k: (v.detach().float() if to_float else v.detach()) for k, v in out.items()}
    return out.detach().float() if to_float else out.detach()


def forward(model, x, where: str, step: int):
    """model(x), or model(**x) for several named inputs; an exception from the model becomes a TrainError
    (out of memory included, even when a plugin layer's PluginError wraps it)."""
    try:
        return model(**x) if isinstance(x, dict) else model(x)
    except Exception as exc:
        if os.environ.get("DLSPEC_DEBUG"):
            raise
        cause = exc.__cause__ if isinstance(exc, DlspecError) else exc
        if isinstance(exc, DlspecError) and not (cause is not None and is_out_of_memory(cause)):
            raise  # a plugin layer's own report, naming the layer and its spec line
        raise forward_failed(cause, f"{where}, step {step}", first(x).shape[0], first(x).device) from exc


class NonFiniteLoss(Exception):
    def __init__(self, step: int):
        super().__init__(step)
        self.step = step


def train_epoch(setup: StepSetup, loader, metrics: dict, progress, frozen=()):
    """One pass over the training loader; returns (mean loss, metric values, samples, seconds).
    `frozen` lists the modules kept in eval mode (frozen parts: their BatchNorm statistics stay).

    Per step it does what a hand-written loop does, plus a list append (the loss tally) and, only
    when a bar or a logger is listening, one clock read: no host read of the loss (NonFiniteLoss is
    raised from the tally's checks, with the first bad step), no progress call when nothing can be
    shown, no device copy of a batch the loader already put on the device."""
    model, loss_entry, loss_fn, device = setup.model, setup.loss, setup.loss_fn, setup.device
    optimizer, scaler, plan, objective = setup.optimizer, setup.scaler, setup.plan, setup.objective
    model.train()
    for m in frozen:
        m.eval()  # BatchNorm statistics of frozen parts stay as they are
    non_blocking = device.type == "cuda"
    moves = getattr(loader, "device", None) != device  # the cached loader's batches are on the device already
    watched = progress.every is not None  # a bar or a logger: ask due() after each step, else never
    plan = None if plan is not None and plan.trivial else plan
    autocast = setup.autocast()
    tally = LossTally(device)
    adders, added = loss_adders(model), AddedTally()
    where = f"in epoch {progress.epoch}"  # formatted once: forward() uses it only in an error
    start = time.perf_counter()
    for step, (x, y) in enumerate(loader, 1):
        micro = plan[step - 1] if plan is not None else None
        if moves:
            x = move(x, device, non_blocking)
            y = move(y, device, non_blocking)
        if setup.target_input:
            y = x
        if micro is None or step == 1 or plan[step - 2].steps:
            optimizer.zero_grad(set_to_none=True)
        with no_sync_unless(model, micro is None or micro.steps):
            with autocast:
                out = forward(model, x, where, step)
                loss = loss_fn(out, prepare_target(loss_entry, out, y)) if objective is None else objective(out, y)
                if adders:  # add_loss terms of the model (added_losses.py)
                    terms = take_added(adders)
                    loss = with_added(loss, terms)
                    added.add(terms, first(x).shape[0] if micro is None else micro.count)
            weighted = loss if micro is None else loss * micro.weight
            if scaler is not None:
                scaler.scale(weighted).backward()
            else:
                weighted.backward()
        if micro is not None and not micro.steps:
            _count(micro, x, loss, tally, metrics, out, setup.metric_targets(out, y) if metrics else None, step)
            continue
        _optimizer_step(setup)
        _count(micro, x, loss, tally, metrics, out, setup.metric_targets(out, y) if metrics else None, step)
        if watched and progress.due():
            value = loss.item()  # read only when shown (a host sync on a GPU)
            if not math.isfinite(value):
                tally.raise_first_bad(step)
            progress.show(step, value, tally.samples)
    progress.close()
    loss_sum = tally.total()  # raises NonFiniteLoss at the first bad step
    metrics = {**metrics, **added.as_metrics()}  # the add_loss terms' columns, reduced with the metrics
    mean_loss, samples = setup.mean_loss(loss_sum, tally.samples, metrics)
    if not math.isfinite(mean_loss):
        raise NonFiniteLoss(len(loader))
    return mean_loss, {k: m.compute() for k, m in metrics.items()}, samples, time.perf_counter() - start


def _optimizer_step(setup: StepSetup) -> None:
    """The gradients accumulated so far applied: unscaled (fp16), clipped, stepped, then a per-step schedule."""
    model, optimizer, scaler = setup.model, setup.optimizer, setup.scaler
    if scaler is not None:
        scaler.unscale_(optimizer)
    if setup.clip_norm:
        torch.nn.utils.clip_grad_norm_(model.parameters(), setup.clip_norm)
    if setup.clip_value:
        torch.nn.utils.clip_grad_value_(model.parameters(), setup.clip_value)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if setup.per_step_scheduler is not None:
        setup.per_step_scheduler.step()


class LossTally:
    """The epoch's loss sum, kept off the step: each step appends its loss tensor (no tensor op, no host
    read); every CHUNK steps, and at the epoch's end, the pending losses are folded into a float64 sum on
    their device with one stack. On the CPU the fold also reads whether the chunk is finite (one host read
    per CHUNK steps), so a NaN stops training within CHUNK steps; on a GPU nothing is read before the
    epoch's end or a progress update. Either way NonFiniteLoss names the first step whose loss was not
    finite, as the old per-step check did."""

    CHUNK = 64
    NO_BAD_STEP = 1 << 62  # the step a finite loss stands for when the first bad step is looked up

    def __init__(self, device: torch.device):
        self.device, self.read_each_chunk = device, device.type == "cpu"  # a host read is cheap on the CPU
        self.pending, self.counts, self.steps = [], [], []
        self.sum = None
        self.samples = 0
        self.bad_step = None  # a chunk's first non-finite step on a GPU, found at the end (a device tensor)

    def add(self, loss: torch.Tensor, count: int, step: int) -> None:
        self.pending.append(loss)
        self.counts.append(count)
        self.steps.append(step)
        self.samples += count
        if len(self.pending) >= self.CHUNK:
            self._fold()

    def _fold(self) -> None:
        if not self.pending:
            return
        # float64 before the product: a finite float32 loss near its limit (3e38) times the batch size
        # would overflow to inf in float32, a 'non-finite' chunk without a non-finite step to name
        losses = torch.stack(self.pending).double()
        part = (losses * _to_device(self.counts, losses.dtype, self.device)).sum()
        if self.read_each_chunk and not math.isfinite(float(part)):
            self._raise_in(losses)
        if not self.read_each_chunk:  # keep the first bad step on the device: found without a host read
            steps = _to_device(self.steps, torch.int64, self.device)
            bad = torch.where(torch.isfinite(losses), torch.full_like(steps, self.NO_BAD_STEP), steps).min()
            self.bad_step = bad if self.bad_step is None else torch.minimum(self.bad_step, bad)
        self.sum = part if self.sum is None else self.sum + part
        self.pending, self.counts, self.steps = [], [], []

    def _raise_if_bad_kept(self) -> None:
        """NonFiniteLoss at the first bad step the GPU folds kept on the device (one host read), if any."""
        if self.bad_step is not None and int(self.bad_step) < self.NO_BAD_STEP:
            raise NonFiniteLoss(int(self.bad_step))

    def _raise_in(self, losses: torch.Tensor):
        first = int(torch.nonzero(~torch.isfinite(losses))[0])
        raise NonFiniteLoss(self.steps[first])

    def raise_first_bad(self, step: int):
        """Raise NonFiniteLoss at the first non-finite step so far (a progress update saw a bad loss at
        `step`, which is named when the tally holds no bad loss: a stand-in batch, counted 0)."""
        self.read_each_chunk = True
        self._raise_if_bad_kept()
        self._fold()
        raise NonFiniteLoss(step)

    def total(self) -> torch.Tensor:
        """The float64 sum of loss * count over the epoch (zero without steps); NonFiniteLoss when a step's
        loss was not finite."""
        self._fold()
        self._raise_if_bad_kept()
        return self.sum if self.sum is not None else torch.zeros((), dtype=torch.float64, device=self.device)


def _to_device(values: list, dtype, device: torch.device) -> torch.Tensor:
    """A host list as a tensor on `device`; to a GPU through pinned memory, so the copy does not wait for
    the stream (a plain copy from pageable memory would be a host sync)."""
    t = torch.tensor(values, dtype=dtype)
    return t if device.type != "cuda" else t.pin_memory().to(device, non_blocking=True)


def no_sync_unless(model, syncing: bool):
    """DDP's no_sync() on the micro-steps of an accumulation that do not step (no gradient exchange)."""
    return nullcontext() if syncing or not hasattr(model, "no_sync") else model.no_sync()


def _count(micro, x, loss, tally, metrics, out, y, step: int):
    """Add a batch to the epoch's tally; a stand-in batch (count 0, see sharding.shard) adds nothing."""
    batch = first(x).shape[0] if micro is None else micro.count
    if batch:
        tally.add(loss.detach(), batch, step)
        if metrics:
            out = detached(out)
            for m in metrics.values():
                m.update(out, y)


@torch.no_grad()
def evaluate(setup: StepSetup, loader, metrics: dict) -> dict:
    """Mean loss and metrics over a loader, in eval mode; `setup.reduce` sums them over the processes."""
    model, device = setup.model, setup.device
    model.eval()
    autocast = setup.autocast()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    samples = 0
    adders, added = loss_adders(model), AddedTally()
    for step, (x, y) in enumerate(loader, 1):
        x = move(x, device, device.type == "cuda")
        y = x if setup.target_input else move(y, device, device.type == "cuda")
        with autocast:
            out = forward(model, x, "while evaluating", step)
            loss = setup.loss_of(out, y)
            if adders:  # the model's add_loss terms count in evaluation too
                terms = take_added(adders)
                loss = with_added(loss, terms)
                added.add(terms, first(x).shape[0])
        count = first(x).shape[0]
        loss_sum += loss.detach().double() * count
        samples += count
        if metrics:
            out, y = detached(out, to_float=True), setup.metric_targets(out, y)
            for m in metrics.values():
                m.update(out, y)
    metrics = {**metrics, **added.as_metrics()}
    mean_loss, _ = setup.mean_loss(loss_sum, samples, metrics)
    return {"loss": mean_loss, **{k: m.compute() for k, m in metrics.items()}}
