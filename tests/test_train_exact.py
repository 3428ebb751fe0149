"""What a run records is what it did: the logged lr is the rate an epoch trained at, a monitor that
cannot be recorded is refused at compile, and `checkpoint monitor=` decides best.ckpt on its own."""
import csv
import json
import warnings

import pytest

import dlspec
from dlspec.errors import DlspecWarning

LINEAR = """data d {{ source sklearn_digits; split {split} seed=0; batch 128 }}
model M {{ input image(1, 8, 8); flatten; linear(10) }}
train t {{
  model M; data d; epochs {epochs}; device cpu; seed 1
  optimizer sgd(lr=0.1)
  {settings}
}}
"""


def write(tmp_path, name, settings="", epochs=2, split="train=0.6 val=0.2 test=0.2"):
    path = tmp_path / f"{name}.dlspec"
    path.write_text(LINEAR.format(settings=settings, epochs=epochs, split=split))
    return path


def fit(tmp_path, name, settings="", **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DlspecWarning)
        return dlspec.fit(str(write(tmp_path, name, settings, **kw)), out=str(tmp_path / name),
                          log=lambda *a: None, progress=False)


def logged_lr(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [float(row["lr"]) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_logged_lr_is_the_rate_the_epoch_trained_at(tmp_path):
    """Issue 23: step(step_size=1, gamma=0.5) from 0.1 logged epoch 1 as 0.05 while it trained at 0.1."""
    halved = fit(tmp_path, "halved", "schedule step(step_size=1, gamma=0.5)", epochs=3)
    constant = fit(tmp_path, "constant", "", epochs=2)
    assert logged_lr(tmp_path / "halved") == pytest.approx([0.1, 0.05, 0.025], rel=1e-12)
    assert logged_lr(tmp_path / "constant") == [0.1, 0.1]
    first, second = halved.history[0], constant.history[0]
    # epoch 1 trained at 0.1 in both runs: the same training loss and, from the same weights, the same val loss
    assert (first["loss"], first["val_loss"]) == (second["loss"], second["val_loss"])
    assert halved.history[1]["loss"] != constant.history[1]["loss"]  # epoch 2 did train at another rate


@pytest.mark.slow
def test_per_step_schedule_logs_the_first_step_rate(tmp_path):
    """cosine moves the rate every step: the row holds the rate of the epoch's first step
    (over 2 epochs, epoch 2 starts half-way: 0.1 * (1 + cos(pi / 2)) / 2 = 0.05)."""
    fit(tmp_path, "cosine", "schedule cosine", epochs=2)
    assert logged_lr(tmp_path / "cosine") == pytest.approx([0.1, 0.05], rel=1e-9)
