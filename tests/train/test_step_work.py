"""What train_epoch does per step, counted (not timed): an epoch of many tiny steps must not call the
progress hook, the loggers, the schedule or a host read of the loss on every step when nothing is due.
Each test counts calls with monkeypatched wrappers; the limits are a small constant per epoch, far below
the step count, so per-step work that grows back fails them."""
import math

import pytest
import torch

from dlspec.train.losses import LOSSES
from dlspec.train.loggers import Loggers
from dlspec.train.loop import LossTally, NonFiniteLoss, StepSetup, train_epoch
from dlspec.train.progress import EpochProgress

STEPS = 300


class Counting(EpochProgress):
    """The epoch's progress hook, counting the loop's calls into it."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.calls = {"due": 0, "show": 0}

    def due(self):
        self.calls["due"] += 1
        return super().due()

    def show(self, *a):
        self.calls["show"] += 1
        return super().show(*a)


class Recorder:
    """A logger that records its step calls; `every` seconds between step logs."""

    name = "recorder"

    def __init__(self, every):
        self.every, self.steps = every, []

    def step(self, global_step, scalars):
        self.steps.append(global_step)


@pytest.fixture
def host_reads(monkeypatch):
    """Counts host reads of tensors: .item(), float(t), int(t) and bool(t)."""
    counts = {"reads": 0}
    for name in ("item", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, **k):
            counts["reads"] += 1
            return _original(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


def setup_and_batches(scheduler=False, lr=0.01, steps=STEPS):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    per_step = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0) if scheduler else None
    x, y = torch.randn(steps * 2, 4), torch.randint(0, 3, (steps * 2,))
    batches = [(x[i:i + 2], y[i:i + 2]) for i in range(0, len(x), 2)]
    setup = StepSetup(model, LOSSES.get("cross_entropy"), torch.nn.CrossEntropyLoss(), torch.device("cpu"),
                      optimizer=optimizer, per_step_scheduler=per_step)
    return setup, batches


def test_nothing_listening_means_no_progress_call_and_few_host_reads(host_reads):
    setup, batches = setup_and_batches()
    progress = Counting(1, 1, len(batches), enabled=False)  # no terminal, no logger
    host_reads["reads"] = 0
    loss, _, samples, _ = train_epoch(setup, batches, {}, progress)
    assert samples == 2 * STEPS and math.isfinite(loss)
    assert progress.calls == {"due": 0, "show": 0}
    # the CPU reads one finite check per LossTally.CHUNK steps and the epoch's mean, not one per step
    assert host_reads["reads"] <= STEPS // LossTally.CHUNK + 3 < STEPS // 10


def test_a_slow_logger_is_asked_once_per_step_but_fed_at_most_once(host_reads):
    setup, batches = setup_and_batches()
    recorder = Recorder(every=3600.0)
    progress = Counting(1, 1, len(batches), enabled=False, loggers=Loggers([recorder]))
    host_reads["reads"] = 0
    train_epoch(setup, batches, {}, progress)
    assert progress.calls["due"] == STEPS  # one clock read a step: due() reads no tensor
    assert progress.calls["show"] == 0 and recorder.steps == []
    assert host_reads["reads"] <= STEPS // LossTally.CHUNK + 3


def test_a_per_step_schedule_steps_once_per_optimizer_step_and_nothing_else_runs_per_step(monkeypatch):
    setup, batches = setup_and_batches(scheduler=True)
    calls = {"schedule": 0}
    original = type(setup.per_step_scheduler).step

    def step(self, *a):
        calls["schedule"] += 1
        return original(self, *a)
    monkeypatch.setattr(type(setup.per_step_scheduler), "step", step)
    train_epoch(setup, batches, {}, Counting(1, 1, len(batches), enabled=False))
    assert calls["schedule"] == STEPS


def test_the_trainer_steps_an_epoch_schedule_once_per_epoch(monkeypatch, tmp_path):
    # plateau is the epoch-level schedule (the factor schedules step per batch by design: fractional epochs,
    # so warmup composes); the loop must not call it per step
    import dlspec
    calls = {"schedule": 0}
    original = torch.optim.lr_scheduler.ReduceLROnPlateau.step

    def step(self, *a, **k):
        calls["schedule"] += 1
        return original(self, *a, **k)
    monkeypatch.setattr(torch.optim.lr_scheduler.ReduceLROnPlateau, "step", step)
    text = """
model M { input image(1, 8, 8); flatten -> linear(10) }
data d { source sklearn_digits; split train=0.8 val=0.2 seed=0; batch 32 }
train { model M; data d; optimizer sgd(lr=0.01); schedule plateau(monitor=val_loss); epochs 2; seed 0 }
"""
    run = dlspec.fit(dlspec.loads(text, str(tmp_path / "s.dlspec")), out=str(tmp_path / "run"),
                     log=lambda *a: None, progress=False)
    assert len(run.history) == 2 and math.ceil(0.8 * 1797 / 32) > 40
    assert calls["schedule"] == 2  # once per epoch, on the monitored value


def test_the_gpu_path_reads_nothing_until_the_epoch_ends(host_reads):
    # the CUDA path of the tally (read_each_chunk False) on CPU tensors: no host read while steps are added
    tally = LossTally(torch.device("cpu"))
    tally.read_each_chunk = False
    host_reads["reads"] = 0
    for step in range(1, STEPS + 1):
        tally.add(torch.tensor(0.5), 2, step)
    assert host_reads["reads"] == 0
    assert float(tally.total()) == pytest.approx(0.5 * 2 * STEPS)
    assert host_reads["reads"] <= 2


@pytest.mark.parametrize("gpu_like", [False, True])
@pytest.mark.parametrize("bad", [1, 63, 64, 65, 200, STEPS])
def test_a_non_finite_loss_is_reported_at_its_first_step(gpu_like, bad):
    tally = LossTally(torch.device("cpu"))
    tally.read_each_chunk = not gpu_like
    with pytest.raises(NonFiniteLoss) as info:
        for step in range(1, STEPS + 1):
            value = float("nan") if step == bad else (float("inf") if step == bad + 5 else 0.5)
            tally.add(torch.tensor(value), 2, step)
        tally.total()
    assert info.value.step == bad


def test_train_epoch_stops_at_the_first_bad_step_within_a_chunk():
    setup, batches = setup_and_batches()
    x, y = batches[99]
    batches[99] = (torch.full_like(x, float("nan")), y)
    seen = []

    class Watched(list):
        def __iter__(self):
            for i, b in enumerate(super().__iter__(), 1):
                seen.append(i)
                yield b
    with pytest.raises(NonFiniteLoss) as info:
        train_epoch(setup, Watched(batches), {}, EpochProgress(1, 1, len(batches), False))
    assert info.value.step == 100
    assert max(seen) < 100 + LossTally.CHUNK  # the CPU stops within a chunk, not at the epoch's end


def test_a_bad_loss_seen_at_a_progress_update_names_the_first_bad_step_on_the_gpu_path():
    tally = LossTally(torch.device("cpu"))
    tally.read_each_chunk = False  # as on a GPU: nothing read while steps are added
    for step in range(1, 100):
        tally.add(torch.tensor(float("nan") if step >= 70 else 0.5), 2, step)
    with pytest.raises(NonFiniteLoss) as info:
        tally.raise_first_bad(99)
    assert info.value.step == 70


@pytest.mark.parametrize("gpu_like", [False, True])
@pytest.mark.parametrize("huge_at", [3, LossTally.CHUNK])
def test_a_huge_but_finite_loss_is_summed_not_taken_for_a_non_finite_one(gpu_like, huge_at):
    # 3e38 is a finite float32; times a batch of 32 it overflowed float32 before the float64 sum, and the
    # CPU path then looked for a non-finite step in a chunk that had none (an IndexError, a traceback)
    tally = LossTally(torch.device("cpu"))
    tally.read_each_chunk = not gpu_like
    for step in range(1, LossTally.CHUNK + 1):
        tally.add(torch.tensor(3e38 if step == huge_at else 1.0), 32, step)
    expected = (float(torch.tensor(3e38)) + LossTally.CHUNK - 1) * 32
    assert float(tally.total()) == pytest.approx(expected)
