"""Train settings that would run and quietly measure or keep the wrong thing: average=binary over more than
two classes (an error at the argument), and a monitor mode against the metric's direction (a warning)."""
import warnings

import pytest

import dlspec
from dlspec.api import compile_spec
from dlspec.errors import DlspecWarning, TrainError
from dlspec.train.metrics import METRICS, higher_is_better

BINARY_AVERAGED = sorted(name for name, m in METRICS.items() if any(
    a.name == "average" and "binary" in a.choices for a in m.args))


def quiet(*a):
    pass


def spec(tmp_path, width, train, classes=5):
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 3},c{i % classes}\n" for i in range(40)))
    path = tmp_path / "s.dlspec"
    path.write_text(f"model M {{\n    input vector(2)\n    linear({width})\n}}\n"
                    'data d { source csv("t.csv", target="y"); split train=0.6 val=0.2 test=0.2 }\n'
                    f"train {{\n    epochs 1\n{train}\n}}\n")
    return path


@pytest.mark.parametrize("name", BINARY_AVERAGED)
def test_binary_average_over_more_classes_is_an_error_at_compile_from_the_model(tmp_path, name):
    assert {"f1", "precision", "recall"} <= set(BINARY_AVERAGED)
    path = spec(tmp_path, 5, f"    loss cross_entropy\n    metrics accuracy, {name}(average=binary)")
    with pytest.raises(TrainError) as info:
        compile_spec(str(path))
    err = info.value
    assert err.message == (f"metric {name}: average=binary scores the positive class of two classes, but model M "
                           "gives 5 class logits per sample")
    assert (err.line, err.column) == (9, 24 + len(name))  # at the average= argument
    assert "average=macro" in err.hint and "micro" in err.hint and "weighted" in err.hint


@pytest.mark.parametrize("stage", ["compile", "fit"])
def test_binary_average_over_more_classes_is_an_error_from_the_data(tmp_path, stage):
    # no written loss: the model's width alone cannot say (the default loss may yet become mse), the data does
    path = spec(tmp_path, 5, "    metrics f1(average=binary)")
    with pytest.raises(TrainError) as info:
        if stage == "compile":
            compile_spec(str(path))
        else:
            dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    assert info.value.message == ("metric f1: average=binary scores the positive class of two classes, but data d "
                                  "has 5 classes: c0, c1, c2, c3, ...")
    assert (info.value.line, info.value.column) == (8, 16)
    assert not (tmp_path / "run" / "last.ckpt").exists()


def test_binary_average_over_two_classes_trains(tmp_path):
    path = spec(tmp_path, 2, "    loss cross_entropy\n    metrics f1(average=binary), f1(average=micro)", classes=2)
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    assert "f1_binary" in run.results["final"] and "f1_micro" in run.results["final"]


def warned(path):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        compile_spec(str(path))
    # compile reads the train block more than once; the CLI prints each report once
    unique = {(w.message.message, w.message.loc.line): w.message for w in seen if issubclass(w.category, DlspecWarning)}
    return list(unique.values())


# (setting line, the monitored column): each mode that contradicts the column's registered direction warns
MONITORED = [("checkpoint monitor={m} mode={mode}", "checkpoint", "best.ckpt would keep the worst epoch's weights"),
             ("early_stop monitor={m} mode={mode}", "early_stop", "training would stop while {m} improves"),
             ("schedule plateau(monitor={m}, mode={mode})", "schedule", "the learning rate would drop while {m} improves")]


@pytest.mark.parametrize("setting, key, effect", MONITORED, ids=[m[1] for m in MONITORED])
@pytest.mark.parametrize("monitor", ["val_accuracy", "val_loss", "f1", "val_top_5"])
def test_a_mode_against_the_metric_direction_warns_at_the_setting(tmp_path, setting, key, effect, monitor):
    better = "higher" if higher_is_better(monitor) else "lower"
    wrong, right = ("min", "max") if better == "higher" else ("max", "min")
    train = f"    loss cross_entropy\n    metrics accuracy, f1, top_k(k=5)\n    {setting}"
    reports = warned(spec(tmp_path, 5, train.format(m=monitor, mode=wrong)))
    assert [(r.message, r.loc.line) for r in reports] == [
        (f"{key} monitors '{monitor}' with mode={wrong}, but {better} {monitor} is better: "
         + effect.format(m=monitor), 10)]
    assert f"mode=auto follows the metric's direction (here {right})" in reports[0].hint
    assert warned(spec(tmp_path, 5, train.format(m=monitor, mode=right))) == []
    assert warned(spec(tmp_path, 5, train.format(m=monitor, mode="auto"))) == []


# ---- batchnorm over one value per channel: a last batch of 1 sample fails in torch -----------------------

def batchnorm_spec(tmp_path, rows, batch, layers="linear(8) -> batchnorm -> relu -> linear(3)"):
    (tmp_path / "b.csv").write_text("a,b,y\n" + "".join(f"{i},{i % 4},c{i % 3}\n" for i in range(rows)))
    path = tmp_path / "b.dlspec"
    path.write_text(f"model M {{\n    input vector(2)\n    {layers}\n}}\n"
                    f'data d {{ source csv("b.csv", target="y"); split train=1.0; batch {batch} }}\n'
                    "train {\n    epochs 1\n}\n")
    return path


def test_batchnorm_on_one_value_per_channel_with_a_last_batch_of_one_is_an_error_at_its_line(tmp_path):
    with pytest.raises(TrainError) as info:
        compile_spec(str(batchnorm_spec(tmp_path, 41, 8)))
    err = info.value
    assert err.message == ("batchnorm on [F=8] has one value per channel in each sample, and the last batch of data "
                           "d holds 1 sample (41 train samples, batch 8): torch cannot normalise over a single value "
                           "in training")
    assert (err.line, err.column) == (3, 18) and "e.g. batch 9" in err.hint and "layernorm" in err.hint


@pytest.mark.parametrize("rows, batch, layers", [
    (41, 9, "linear(8) -> batchnorm -> relu -> linear(3)"),  # a last batch of 5
    (40, 8, "linear(8) -> batchnorm -> relu -> linear(3)"),  # no partial batch
    (41, 8, "linear(8) -> layernorm -> relu -> linear(3)"),
    (41, 8, "linear(8) -> reshape(2, 4) -> batchnorm -> flatten -> linear(3)"),  # 4 values per channel in each sample
])
def test_batchnorm_batches_that_torch_trains_on_are_accepted(tmp_path, rows, batch, layers):
    path = batchnorm_spec(tmp_path, rows, batch, layers)
    compile_spec(str(path))
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    assert run.results["final"]["loss"] == run.results["final"]["loss"]  # trained through the last batch


@pytest.mark.parametrize("name", sorted(METRICS) + ["loss"])
def test_plateau_auto_mode_follows_the_registered_direction(name):
    import torch
    from dlspec.train.schedules import SCHEDULES
    plateau = SCHEDULES["plateau"]
    args = {**{a.name: a.default for a in plateau.args}, "monitor": "val_" + name}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = plateau.build(optimizer, args, 1, 1)
    assert scheduler.mode == ("max" if higher_is_better(name) else "min")
