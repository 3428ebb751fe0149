"""No silent wrong results: the task of a table, losses and metrics that fit it, original units in predictions."""
import importlib.util
import warnings

import pytest
import torch

import dlspec
from dlspec.data.config import read_data
from dlspec.data.pipeline import build_data
from dlspec.errors import DataError, DlspecWarning, TrainError
from dlspec.train.config import read_train


def quiet(*a):
    pass


def data_config(text, path="<string>"):
    spec = dlspec.loads(text, str(path))
    return read_data(next(iter(spec.program.data.values())), spec.program.global_env())


def write_spec(tmp_path, text, name="s.dlspec"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---- (4) scaled regression targets come back in original units ---------------------------------

def test_scaled_table_regression_predicts_and_exports_in_original_units(tmp_path):
    rows = "".join(f"{i / 100},{(i * 7 % 10) / 10},{100 + 50 * i / 100 + 20 * (i * 7 % 10) / 10}\n"
                   for i in range(200))
    (tmp_path / "t.csv").write_text("a,b,y\n" + rows)
    (tmp_path / "new.csv").write_text("a,b\n0.5,0.3\n1.5,0.9\n")
    path = write_spec(tmp_path, 'model R { input vector(2); linear(1) }\n'
                      'data t { source csv("t.csv", target="y"); split train=0.8 test=0.2; scale standard }\n'
                      'train { loss mse; optimizer adam(lr=0.05); epochs 60; metrics mae }')
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    assert run.results["test"]["mae"] < 2.0  # metrics were already in original units
    predicted = [p["prediction"] for p in dlspec.predict(str(tmp_path / "run"), [str(tmp_path / "new.csv")])]
    truth = [100 + 50 * 0.5 + 20 * 0.3, 100 + 50 * 1.5 + 20 * 0.9]
    assert predicted == pytest.approx(truth, abs=3.0)  # was about [-0.5, 1.3]: z-scores
    from dlspec.runs.export import export_run
    model_py = export_run(str(tmp_path / "run"), "python", str(tmp_path / "export"))
    spec = importlib.util.spec_from_file_location("exported_scaled", model_py)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    exported = module.build(str(tmp_path / "export" / "weights.pt")).eval()
    with torch.no_grad():
        out = exported(torch.tensor([[0.5, 0.3], [1.5, 0.9]])).flatten().tolist()
    assert out == pytest.approx(truth, abs=3.0)
    traced = torch.jit.load(export_run(str(tmp_path / "run"), "torchscript", str(tmp_path / "ts")))
    assert traced(torch.tensor([[0.5, 0.3]])).item() == pytest.approx(truth[0], abs=3.0)
    (tmp_path / "bad.csv").write_text("a,b\n0.5,0.3\n0.1,nan\n")
    with pytest.raises(DataError, match="bad.csv, line 3, column 'b': 'nan' is not a finite number"):
        dlspec.predict(str(tmp_path / "run"), [str(tmp_path / "bad.csv")])  # was a NaN prediction


# ---- (5) the task of a numeric target column --------------------------------------------------

def _decimal_table(tmp_path, n=200):
    # whole numbers written as decimals (151.0), 200 different values: a quantity, not labels
    (tmp_path / "t.csv").write_text("a,y\n" + "".join(f"{i / n},{100 + i}.0\n" for i in range(n)))


def test_whole_numbers_written_as_decimals_are_regression(tmp_path):
    _decimal_table(tmp_path)
    cfg = data_config(f'data d {{ source csv("{tmp_path}/t.csv", target="y") }}')
    for loss_task in (None, "regression"):
        bundle = build_data(cfg, loss_task=loss_task)
        assert bundle.task == "regression" and bundle.classes is None
        assert next(iter(bundle.loaders["train"]))[1].dtype == torch.float32


def test_a_classification_loss_keeps_integer_labels_and_warns_about_many_classes(tmp_path):
    (tmp_path / "few.csv").write_text("a,label\n" + "".join(f"{i},{i % 3}\n" for i in range(30)))
    cfg = data_config(f'data d {{ source csv("{tmp_path}/few.csv", target="label") }}')
    assert build_data(cfg, loss_task="classification").classes == ["0", "1", "2"]
    assert build_data(cfg).task == "classification"  # few integer levels, no loss to go by
    _decimal_table(tmp_path)
    cfg = data_config(f'\ndata d {{ source csv("{tmp_path}/t.csv", target="y") }}')
    with pytest.warns(DlspecWarning, match="target column 'y' has 200 different values in 200 rows") as info:
        bundle = build_data(cfg, loss_task="classification")
    assert bundle.task == "classification" and info[0].message.loc.line == 2
    assert "task=regression" in info[0].message.hint
    cfg = data_config(f'data d {{ source csv("{tmp_path}/t.csv", target="y", task=classification) }}')
    with pytest.warns(DlspecWarning):
        assert build_data(cfg).task == "classification"


# ---- (6) losses, metrics and last layers that do not fit the task ----------------------------

_REG = ('model R {{ input vector(1); linear(1) }}\n'
        'data t {{ source csv("t.csv", target="y"); split train=0.8 test=0.2 }}\n'
        'train {{\n    loss {loss}\n    epochs 1\n    metrics {metrics}\n}}\n')


def test_classification_metrics_on_a_regression_task_are_an_error_at_the_metric(tmp_path):
    _decimal_table(tmp_path)
    path = write_spec(tmp_path, _REG.format(loss="mse", metrics="mae, accuracy"))
    with pytest.raises(TrainError) as info:
        dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    err = info.value
    assert err.message.startswith("metric 'accuracy' measures classification, but data t is a regression task")
    assert (err.line, err.column) == (6, 18) and "mae, mse, r2" in err.hint
    assert not (tmp_path / "run" / "last.ckpt").exists()  # before the first step


def test_a_regression_loss_on_class_labels_is_an_error_at_the_loss(tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n" + "".join(f"{i},{'cat' if i % 2 else 'dog'}\n" for i in range(40)))
    path = write_spec(tmp_path, _REG.format(loss="mse", metrics="mae").replace("linear(1) }", "linear(2) }"))
    with pytest.raises(TrainError) as info:
        dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    assert info.value.message == "loss mse compares numbers, but data t holds class labels (2 classes: cat, dog)"
    assert info.value.line == 4 and "cross_entropy" in info.value.hint and "task=regression" in info.value.hint


def test_numbers_without_a_written_loss_train_with_mse_and_the_log_says_so(tmp_path):
    _decimal_table(tmp_path)
    path = write_spec(tmp_path, _REG.format(loss="mse", metrics="mae").replace("    loss mse\n", ""))
    lines = []
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=lines.append, progress=False)
    assert run.config.loss[0].name == "mse" and "mae" in run.results["final"]
    assert any(line.startswith("loss mse: the train block names no loss and data") for line in lines)


def test_regression_output_width_must_match_the_horizon(tmp_path):
    path = write_spec(tmp_path, 'model S { input sequence(10, 1)\n  flatten -> linear(1) }\n'
                      'data s { source sine(length=200, window=10, horizon=3) }\n'
                      'train { loss mse; epochs 1 }')
    with pytest.raises(TrainError, match="outputs 1 values per sample, but data s has 3 target") as info:
        dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    assert "linear(3)" in info.value.hint


@pytest.mark.parametrize("model, loss, line, words", [
    ("input vector(4)\n  linear(3)\n  softmax(1)", "cross_entropy", 3, "cross_entropy expects raw logits"),
    ("input vector(4)\n  linear(3)", "nll", 2, "loss nll expects log-probabilities, but the model ends with linear"),
    ("input vector(4)\n  y = input -> linear(8)\n  End(y)", "cross_entropy", 2, "ends with softmax"),
    ("input vector(4)\n  linear(1) -> sigmoid", "bce_with_logits", 2, "bce_with_logits expects raw logits"),
])
def test_last_layers_that_defeat_the_loss_warn_at_their_line(model, loss, line, words):
    text = (f"block End(x) {{\n  linear(3) -> softmax(1)\n}}\nmodel M {{\n  {model}\n}}\n"
            f"data d {{ source sklearn_digits }}\ntrain {{ loss {loss} }}\n")
    line = line + 4 if "End(y)" not in model else 2  # model M's lines start at 5; the block's softmax is on 2
    with pytest.warns(DlspecWarning, match=words) as info:
        read_train(dlspec.loads(text, "w.dlspec"))
    assert info[0].message.loc.line == line


def test_fitting_last_layers_do_not_warn():
    text = ("model M {\n  input vector(4)\n  a = input -> linear(3)\n  b = input -> linear(3) -> softmax(1)\n"
            "  add(a, b)\n}\nmodel N { input vector(4); linear(3) -> log_softmax(1) }\n"
            "data d { source sklearn_digits }\ntrain x { model M; loss cross_entropy }\n"
            "train y { model N; loss nll }\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DlspecWarning)
        read_train(dlspec.loads(text, "ok.dlspec"), "x")
        read_train(dlspec.loads(text, "ok.dlspec"), "y")


def test_bce_with_one_output_per_class_takes_class_labels(tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n" + "".join(f"{i / 40},{'cat' if i % 2 else 'dog'}\n" for i in range(40)))
    path = write_spec(tmp_path, _REG.format(loss="bce_with_logits", metrics="accuracy")
                      .replace("linear(1) }", "linear(2) }"))
    run = dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)  # was: a size error from torch
    assert 0 <= run.results["test"]["accuracy"] <= 1


def test_an_exported_scaled_series_model_takes_and_gives_original_units(tmp_path):
    path = write_spec(tmp_path, 'model S { input sequence(8, 1)\n  flatten -> linear(1) }\n'
                      'data s { source sine(length=120, window=8, horizon=1); scale minmax }\n'
                      'train { loss mse; epochs 2 }')
    dlspec.fit(path, out=str(tmp_path / "run"), log=quiet, progress=False)
    [first] = dlspec.predict(str(tmp_path / "run"), [], steps=1)
    from dlspec.runs.export import export_run
    from dlspec.train.checkpoint import load_checkpoint
    tail = load_checkpoint(str(tmp_path / "run"))["series"]["tail"]
    traced = torch.jit.load(export_run(str(tmp_path / "run"), "torchscript", str(tmp_path / "ts")))
    assert traced(torch.tensor(tail).view(1, -1, 1)).item() == pytest.approx(first["prediction"], abs=1e-4)


def test_scale_on_class_labels_points_at_the_scale_line(tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n" + "".join(f"{i},{i % 2}\n" for i in range(40)))
    cfg = read_data(dlspec.loads(f'data d {{\n source csv("{tmp_path}/t.csv", target="y")\n scale standard\n}}')
                    .program.data["d"], dlspec.loads("").program.global_env())
    with pytest.raises(DataError, match="scale applies to numeric series") as info:
        build_data(cfg, loss_task="classification")
    assert info.value.line == 3 and "task=regression" in info.value.hint
