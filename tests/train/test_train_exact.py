"""What a run records is what it did: the logged lr is the rate an epoch trained at, a monitor that
cannot be recorded is refused at compile, and `checkpoint monitor=` decides best.ckpt on its own."""
import csv
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


def compile_report(path):
    from click.testing import CliRunner
    from dlspec.cli import main
    result = CliRunner().invoke(main, ["compile", str(path)])
    return result.exit_code, result.output


def test_early_stop_on_a_val_metric_without_val_split_fails_at_compile(tmp_path):
    """Issue 23: it passed compile, then fit trained a whole epoch before failing."""
    path = write(tmp_path, "s", "metrics accuracy\n  early_stop monitor=val_accuracy patience=2",
                 split="train=0.8 test=0.2")
    code, output = compile_report(path)
    assert code == 1
    assert output.splitlines()[:4] == [
        f"{path}:7:3: error: early_stop monitors 'val_accuracy', but data d has no val split, so there is no "
        "val_accuracy to monitor",
        "      early_stop monitor=val_accuracy patience=2",
        "      ^",
        "hint: add a val part (split train=0.7 val=0.15 test=0.15) or monitor=accuracy"]
    with pytest.raises(dlspec.DlspecError, match="early_stop monitors 'val_accuracy'"):
        dlspec.fit(str(path), out=str(tmp_path / "never"), log=lambda *a: None)
    assert not (tmp_path / "never" / "metrics.csv").exists()  # refused before any epoch


@pytest.mark.parametrize("settings, message", [
    ("checkpoint monitor=f1", "checkpoint monitors 'f1', which is not recorded.\n      checkpoint monitor=f1\n"
                              "      ^\nhint: recorded: loss; list a metric to record it (metrics f1)"),
    ("early_stop patience=3", "early_stop monitors 'val_loss', but data d has no val split"),
    ("checkpoint mode=max", None),  # monitor defaults to the training loss without a val split
])
def test_checkpoint_and_early_stop_monitors_are_checked_at_compile(tmp_path, settings, message):
    code, output = compile_report(write(tmp_path, "s", settings, split="train=0.8 test=0.2"))
    if message is None:
        assert code == 0, output
    else:
        assert code == 1 and f":6:3: error: {message}" in output


@pytest.mark.slow
def test_checkpoint_monitor_decides_best_ckpt(tmp_path):
    from dlspec.train.checkpoint import load_checkpoint
    run = fit(tmp_path, "acc", "metrics accuracy\n  checkpoint monitor=val_accuracy mode=max", epochs=3)
    values = [row["val_accuracy"] for row in run.history]
    expected = values.index(max(values)) + 1
    assert (run.results["monitor"], run.results["best_epoch"]) == ("val_accuracy", expected)
    assert load_checkpoint(str(tmp_path / "acc" / "best.ckpt"))["epoch"] == expected


@pytest.mark.slow
def test_early_stop_keeps_its_own_monitor_beside_checkpoint(tmp_path):
    """Stopping follows early_stop (val_loss, told to rise: it falls, so the run stops after epoch 2) while
    best.ckpt follows checkpoint (the training loss, which falls: epoch 2). One shared monitor would
    have kept epoch 1."""
    run = fit(tmp_path, "both", "early_stop monitor=val_loss mode=max patience=0\n  checkpoint monitor=loss",
              epochs=5)
    losses = [row["loss"] for row in run.history]
    assert len(run.history) == 2 and run.history[1]["val_loss"] < run.history[0]["val_loss"]
    assert losses[1] < losses[0]
    assert (run.results["monitor"], run.results["best_epoch"]) == ("loss", 2)


BLOCKS = """data d { source sklearn_digits; split train=0.8 val=0.2 }
model M { input image(1, 8, 8); flatten; linear(10) }
UNNAMEDtrain fast { model M; data d; epochs 2 }
train slow { model M; data d; epochs 5 }
"""


def test_compile_train_name_beside_an_unnamed_block(tmp_path):
    """Issue 23: `compile --train fast` failed with "choose one with --train" beside an unnamed `train { }`."""
    from click.testing import CliRunner
    from dlspec.cli import main
    from dlspec.train.config import read_train
    path = tmp_path / "blocks.dlspec"
    path.write_text(BLOCKS.replace("UNNAMED", "train { model M; data d; epochs 1 }\n"))
    for args in (["--train", "fast"], []):
        result = CliRunner().invoke(main, ["compile", str(path), *args])
        assert result.exit_code == 0 and result.output.strip() == f"{path}: ok (M)", result.output
    spec = dlspec.load(path)
    assert [(read_train(spec, n).name, read_train(spec, n).epochs) for n in ("fast", None)] == [("fast", 2),
                                                                                               (None, 1)]
    for command in ("compile", "fit"):
        result = CliRunner().invoke(main, [command, str(path), "--train", "fats"])
        assert result.exit_code == 1
        assert result.output.splitlines() == [
            f"error: {path} has no train block named 'fats'. Did you mean 'fast'? Its train blocks: fast (line 4), "
            "slow (line 5), the unnamed `train { }` (line 3).",
            "hint: --train NAME picks a named block; without --train the unnamed `train { }` (or the only block) "
            "runs"]


@pytest.mark.parametrize("unnamed, listed", [
    ("", "Its train blocks: fast (line 3), slow (line 4)."),
    ("train { model M; data d }\n",
     "Its train blocks: fast (line 4), slow (line 5), the unnamed `train { }` (line 3)."),
])
def test_an_unknown_train_name_lists_the_blocks_in_the_message_itself(tmp_path, unnamed, listed):
    """The API's error (str, .message) names the file and every block, not only the CLI's hint line."""
    from dlspec.train.config import read_train
    path = tmp_path / "blocks.dlspec"
    path.write_text(BLOCKS.replace("UNNAMED", unnamed))
    with pytest.raises(dlspec.DlspecError) as info:
        read_train(dlspec.load(path), "nope")
    assert info.value.message == f"{path} has no train block named 'nope'. {listed}"


def test_an_unknown_train_name_in_a_spec_without_train_blocks(tmp_path):
    from dlspec.train.config import read_train
    path = tmp_path / "none.dlspec"
    path.write_text(BLOCKS.split("UNNAMED")[0])
    with pytest.raises(dlspec.DlspecError) as info:
        read_train(dlspec.load(path), "fast")
    assert info.value.message == f"{path} has no train block named 'fast'. It has no train blocks."


def test_several_named_train_blocks_need_train(tmp_path):
    path = tmp_path / "blocks.dlspec"
    path.write_text(BLOCKS.replace("UNNAMED", ""))
    from dlspec.train.config import read_train
    with pytest.raises(dlspec.DlspecError) as info:
        read_train(dlspec.load(path))
    assert info.value.message == f"{path} has several train blocks; choose one with --train (fast, slow)"
    assert info.value.hint == "or leave one unnamed (`train { ... }`): it is the default"


@pytest.mark.parametrize("settings, objective", [
    ("metrics accuracy\n  checkpoint monitor=val_accuracy\n  early_stop monitor=val_loss",
     ("val_accuracy", "maximize")),
    ("metrics accuracy\n  early_stop monitor=val_accuracy mode=min", ("val_accuracy", "minimize")),
    ("", ("val_loss", "minimize")),
])
def test_tune_scores_trials_by_what_decides_best_ckpt(tmp_path, settings, objective):
    """results.json's best row is best.ckpt's epoch, so a trial is scored by the same monitor."""
    from dlspec.train.config import read_train
    from dlspec.tuning.study import objective_of
    assert objective_of(read_train(dlspec.load(write(tmp_path, "s", settings)))) == objective


@pytest.mark.parametrize("settings, message", [
    ("metrics f1(average=binary)\n  schedule plateau(monitor=val_f1)",
     ":7:3: error: schedule monitors 'val_f1', which is not recorded. Did you mean 'val_f1_binary'?"),
    ("schedule plateau", ":6:3: error: schedule monitors 'val_loss', but data d has no val split"),
])
def test_plateau_monitor_is_checked_like_early_stop(tmp_path, settings, message):
    """The plateau schedule stepped on the training loss when its monitor was not in the row."""
    split = "train=0.8 test=0.2" if "val_loss" in message else "train=0.6 val=0.2 test=0.2"
    code, output = compile_report(write(tmp_path, "s", settings, split=split))
    assert code == 1 and message in output, output
