"""Several outputs in the train block: `loss price: mse * 0.5, kind: cross_entropy`, `metrics price: mae,
kind: accuracy, f1`; the weighted loss, per-output metrics against scikit-learn, columns, monitors and errors.

The data is tests/helpers/multitask_data.py's Listing (a dotted source yielding dict samples)."""
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError
from dlspec.train.config import read_train
from dlspec.train.metrics import higher_is_better
from tests.helpers.multitask_data import LISTING_SPEC

MODEL = LISTING_SPEC
TRAIN = """train {
    loss price: mse * 0.5, kind: cross_entropy
    metrics price: mae, r2, kind: accuracy, f1
    epochs 2
    seed 3
}
"""


def spec(train: str = TRAIN):
    return dlspec.loads(MODEL + train, "m.dlspec")


def error_of(train: str) -> str:
    with pytest.raises(DlspecError) as info:
        read_train(spec(train))
    return str(info.value)


def test_a_loss_weight_and_metrics_per_output_are_read_in_output_order():
    cfg = read_train(spec())
    assert list(cfg.outputs) == ["price", "kind"]
    price, kind = cfg.outputs["price"], cfg.outputs["kind"]
    assert (price.loss[0].name, price.weight, kind.loss[0].name, kind.weight) == ("mse", 0.5, "cross_entropy", 1.0)
    assert cfg.metric_names() == ["price_loss", "price_mae", "price_r2", "kind_loss", "kind_accuracy", "kind_f1"]
    assert cfg.resolved()["outputs"]["price"] == {"loss": {"name": "mse", "one_hot": False}, "weight": 0.5, "metrics": ["mae", "r2"]}


def test_the_weight_may_come_first_and_a_loss_keeps_its_arguments():
    cfg = read_train(spec(TRAIN.replace("mse * 0.5", "2 * huber(delta=3)")))
    assert cfg.outputs["price"].weight == 2.0 and cfg.outputs["price"].loss[1] == {"delta": 3.0}


def test_the_formatter_keeps_the_space_after_an_output_label_and_a_device_tight():
    from dlspec.language.fmt import format_text
    text = "train {\n    loss price: mse * 0.5, kind: cross_entropy\n    device cuda:0\n}\n"
    assert format_text(text) == text


@pytest.mark.parametrize("change, expected", [
    (("price: mse", "prise: mse"), ("2:10", "loss: model Listing has no output 'prise'", "Did you mean 'price'?")),
    (("metrics price: mae", "metrics pirce: mae"), ("3:13", "metrics: model Listing has no output 'pirce'", "price")),
    ((", kind: cross_entropy", ""), ("2:5", "output 'kind' of model Listing has no loss", "kind: mse")),
    (("kind: accuracy", "kind: mae"), ("3:35", "metric mae measures regression, but output 'kind' is trained for "
                                               "classification (loss cross_entropy)", "accuracy")),
    (("price: mae, r2", "price: mae, f1"), ("3:25", "metric f1 measures classification, but output 'price' is "
                                                   "trained for regression (loss mse)", "mae")),
    (("mse * 0.5", "mse * 0"), ("2:23", "a loss weight must be a positive number, received 0", "mse * 0.5")),
    (("metrics price: mae", "metrics mae, price: mae"), ("3:13", "the first metric names its output", "price: mae")),
    (("metrics price: mae, r2, kind: accuracy, f1", "metrics accuracy"),
     ("3:5", "model Listing has 2 outputs (price, kind): name the output each metric measures",
      "e.g. metrics price: accuracy, kind: ... (recorded as price_accuracy)")),
    (("seed 3", "seed price: mse"), ("5:10", "'price: ...' names an output of the model; only loss and metrics",
                                     "loss price: mse")),
    (("kind: cross_entropy", "price: l1"), ("2:28", "output 'price' has two losses (first at line 14)", "one loss")),
])
def test_per_output_mistakes_are_located_with_a_hint(change, expected):
    where, message, hint = expected
    text = error_of(TRAIN.replace(*change))
    line, col = where.split(":")
    assert f"m.dlspec:{int(line) + MODEL.count(chr(10))}:{col}:" in text, text
    assert message in text and hint in text, text


def test_a_single_loss_for_several_outputs_asks_for_one_per_output():
    text = error_of(TRAIN.replace("loss price: mse * 0.5, kind: cross_entropy", "loss mse"))
    assert "model Listing has 2 outputs (price, kind): give each its loss" in text
    assert "loss price: ..., kind: ..." in text


def test_a_label_on_a_model_with_one_output_is_refused():
    one = MODEL.replace("    output kind = h -> linear(3)\n", "")
    with pytest.raises(DlspecError) as info:
        read_train(dlspec.loads(one + "train {\n    loss price: mse\n}\n", "m.dlspec"))
    assert "'price: ...' names an output, but model Listing has one output" in str(info.value)


def test_an_unknown_monitor_lists_the_per_output_columns():
    text = error_of(TRAIN.replace("epochs 2", "epochs 2\n    early_stop monitor=val_kind_acc"))
    assert "early_stop monitors 'val_kind_acc', which is not recorded" in text
    assert "val_kind_accuracy" in text and "val_price_mae" in text
    text = error_of(TRAIN.replace("epochs 2", "epochs 2\n    early_stop monitor=val_kind_precision"))
    assert "list a metric to record it (metrics kind: precision)" in text


def _output_columns():
    """(column, higher is better) for every built-in metric and the loss, on outputs with and without '_'."""
    from dlspec.train.metrics import METRICS, metric_name
    bases = [(metric_name(m, {a.name: a.default for a in m.args}), m.higher_is_better) for m in METRICS.values()
             if m.source == "built-in"]
    bases += [("loss", False)]
    return [(f"{split}{output}_{b}", h) for split in ("", "val_") for output in ("kind", "my_out") for b, h in bases]


@pytest.mark.parametrize("column, higher", _output_columns())
def test_an_output_column_has_its_metric_s_direction(column, higher):
    assert higher_is_better(column) is higher


def test_the_loss_is_the_weighted_sum_of_the_outputs_losses_on_a_fixed_batch():
    from dlspec.train.output_losses import Objective
    cfg = read_train(spec())
    g = torch.Generator().manual_seed(0)
    out = {"price": torch.randn(5, 1, generator=g), "kind": torch.randn(5, 3, generator=g)}
    y = {"price": torch.randn(5, generator=g), "kind": torch.tensor([0, 2, 1, 1, 0])}
    expected = 0.5 * F.mse_loss(out["price"][:, 0], y["price"]) + F.cross_entropy(out["kind"], y["kind"])
    assert torch.allclose(Objective(cfg.outputs)(out, y), expected)


def _test_predictions(run, cfg):
    """The run's model on the test split, as fit splits it: (price predictions, price targets, kind ...)."""
    from dlspec.data.pipeline import build_data
    data = build_data(cfg.data)
    run.model.eval()
    parts = {"price": ([], []), "kind": ([], [])}
    with torch.no_grad():
        for x, y in data.loaders["test"]:
            out = run.model(**x)
            parts["price"][0].append(out["price"][:, 0])
            parts["price"][1].append(y["price"])
            parts["kind"][0].append(out["kind"].argmax(1))
            parts["kind"][1].append(y["kind"])
    return {k: (torch.cat(p).numpy(), torch.cat(t).numpy()) for k, (p, t) in parts.items()}


def test_per_output_test_metrics_equal_scikit_learn_on_the_same_predictions(tmp_path):
    from sklearn import metrics as skm
    run = dlspec.fit(spec(), out=str(tmp_path / "run"), progress=False)
    test = run.results["test"]
    predicted = _test_predictions(run, run.config)
    price, price_true = predicted["price"]
    kind, kind_true = predicted["kind"]
    assert test["price_mae"] == pytest.approx(skm.mean_absolute_error(price_true, price), rel=1e-5)
    assert test["price_r2"] == pytest.approx(skm.r2_score(price_true, price), rel=1e-4)
    assert test["kind_accuracy"] == pytest.approx(skm.accuracy_score(kind_true, kind))
    assert test["kind_f1"] == pytest.approx(skm.f1_score(kind_true, kind, average="macro",
                                                         labels=sorted(set(kind_true))), rel=1e-6)
    assert test["price_loss"] == pytest.approx(skm.mean_squared_error(price_true, price), rel=1e-5)
    assert test["loss"] == pytest.approx(0.5 * test["price_loss"] + test["kind_loss"], rel=1e-6)
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:9] == ["epoch", "lr", "loss", "price_loss", "price_mae", "price_r2", "kind_loss", "kind_accuracy",
                          "kind_f1"]
    assert {"val_loss", "val_price_loss", "val_price_mae", "val_kind_accuracy", "val_kind_f1"} <= set(header)


def test_early_stop_and_best_checkpoint_follow_an_output_metric(tmp_path):
    train = TRAIN.replace("epochs 2", "epochs 6\n    optimizer sgd(lr=1e-9)\n"
                                      "    early_stop monitor=val_kind_accuracy patience=1\n"
                                      "    checkpoint monitor=val_price_mae")
    logged = []
    run = dlspec.fit(spec(train), out=str(tmp_path / "run"), progress=False, log=logged.append)
    assert len(run.history) == 3  # epoch 1 sets the best; 2 and 3 do not beat it; patience 1 stops after 3
    assert any("early stop: val_kind_accuracy has not improved for 1 epochs" in line for line in logged), logged
    maes = [row["val_price_mae"] for row in run.history]
    assert run.results["monitor"] == "val_price_mae"
    assert run.results["best_epoch"] == 1 + maes.index(min(maes))  # lower is better for an output's mae


def test_the_checkpoint_records_each_output_s_task_and_classes(tmp_path):
    from dlspec.train.checkpoint import load_record
    dlspec.fit(spec(), out=str(tmp_path / "run"), progress=False)
    record = load_record(str(tmp_path / "run" / "last.ckpt"))
    outputs = record.spec.outputs
    assert list(outputs) == ["price", "kind"]
    assert outputs["kind"]["task"] == "classification" and outputs["kind"]["classes"] == ["flat", "house", "loft"]
    assert outputs["price"]["task"] == "regression" and outputs["price"]["weight"] == 0.5


def test_a_loss_that_does_not_suit_the_data_s_target_is_located(tmp_path):
    train = TRAIN.replace("kind: cross_entropy", "kind: mse").replace("kind: accuracy, f1", "kind: mae")
    (tmp_path / "m.dlspec").write_text(MODEL + train)
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "m.dlspec"), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "m.dlspec:14:28: error: output 'kind' is trained with loss mse (regression), but its target in data d " \
           "is a classification" in result.output, result.output


@pytest.mark.parametrize("monitor, direction", [("val_price_mae", "minimize"), ("val_kind_f1", "maximize"),
                                                ("val_kind_loss", "minimize")])
def test_tune_scores_trials_by_an_output_column_in_its_direction(monitor, direction):
    from dlspec.tuning.study import objective_of
    cfg = read_train(spec(TRAIN.replace("epochs 2", f"epochs 2\n    checkpoint monitor={monitor}")))
    assert objective_of(cfg) == (monitor, direction)


ONE_OUTPUT = """model M {
    input photo: vector(6)
    input facts: vector(WIDTH)
    concat(photo, facts) -> linear(16) -> relu -> linear(3)
}
data d {
    source tests.helpers.multitask_data.Listing(n=48, only="kind")
    split train=0.5 val=0.25 test=0.25
    batch 8
}
train {
    metrics accuracy
    epochs 1
}
"""


def test_several_inputs_and_one_output_train_with_today_s_loss_and_metrics(tmp_path):
    run = dlspec.fit(dlspec.loads(ONE_OUTPUT.replace("WIDTH", "2"), "m.dlspec"), out=str(tmp_path / "run"),
                     progress=False, log=lambda *_: None)
    assert set(run.history[0]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert 0.0 <= run.results["test"]["accuracy"] <= 1.0


def test_an_input_whose_samples_have_another_shape_is_an_error_at_its_line(tmp_path):
    (tmp_path / "m.dlspec").write_text(ONE_OUTPUT.replace("WIDTH", "3"))
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "m.dlspec"), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    # the data side checks each input's samples against its declaration before any model is built
    assert "m.dlspec:6:6: data error: data d: input 'facts' gets samples of shape [2] after its steps, and the " \
           "model declares vector(3) at line 3" in result.output, result.output


def test_a_class_output_narrower_than_its_target_s_classes_is_an_error_at_its_output_line(tmp_path):
    (tmp_path / "m.dlspec").write_text(MODEL.replace("output kind = h -> linear(3)", "output kind = h -> linear(2)")
                                       + TRAIN)
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "m.dlspec"), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "m.dlspec:6:12: train error: output 'kind' gives 2 values per sample, but its target in data d has 3 " \
           "classes" in result.output, result.output
    assert "linear(3)" in result.output


def test_explain_shows_the_loss_of_each_output_with_its_weight():
    from dlspec.views.explain import explain
    rows = {r.key: r for r in explain(spec()) if r.block == "train"}
    assert rows["loss"].value == "price: mse(one_hot=false) * 0.5, kind: cross_entropy(label_smoothing=0.0)"
    assert rows["metrics"].value == ["price_loss", "price_mae", "price_r2", "kind_loss", "kind_accuracy", "kind_f1"]


def test_shards_of_dict_batches_rebuild_each_global_batch():
    from dlspec.train.parallel.sharding import shard
    batches = [({"a": torch.arange(i, i + 5.0), "b": torch.arange(i, i + 5.0) * 2}, {"t": torch.arange(i, i + 5)})
               for i in (0, 5)]
    parts = [list(shard(batches, r, 2, keep_empty=False)) for r in range(2)]
    for i, (x, y) in enumerate(batches):
        assert torch.equal(torch.cat([parts[r][i][0]["b"] for r in range(2)]), x["b"])
        assert torch.equal(torch.cat([parts[r][i][1]["t"] for r in range(2)]), y["t"])


def test_per_output_metric_states_summed_over_ranks_equal_one_pass():
    from dlspec.train.output_losses import Objective, make_output_metrics
    from dlspec.train.parallel.distributed import load_metric_state, metric_state
    cfg = read_train(spec())
    g = torch.Generator().manual_seed(1)
    out = {"price": torch.randn(40, 1, generator=g), "kind": torch.randn(40, 3, generator=g)}
    y = {"price": torch.randn(40, generator=g), "kind": torch.randint(0, 3, (40,), generator=g)}

    def fed(rows):
        objective = Objective(cfg.outputs)
        metrics = make_output_metrics(cfg.outputs, objective, {})
        part = ({k: v[rows] for k, v in out.items()}, {k: v[rows] for k, v in y.items()})
        objective(*part)
        for m in metrics.values():
            m.update(*part)
        return metrics
    whole, ranks = fed(slice(0, 40)), [fed(slice(0, 20)), fed(slice(20, 40))]
    for name in whole:
        load_metric_state(ranks[1][name], [metric_state(r[name]) for r in ranks], torch.device("cpu"))
        assert ranks[1][name].compute() == pytest.approx(whole[name].compute(), rel=1e-6), name  # float32 sums per part


def test_a_weight_may_be_a_let_and_set_from_the_command_line():
    text = "let w = 0.25\n" + MODEL + TRAIN.replace("mse * 0.5", "mse * w")
    assert read_train(dlspec.loads(text, "m.dlspec")).outputs["price"].weight == 0.25
    assert read_train(dlspec.loads(text, "m.dlspec", overrides={"w": 2.0})).outputs["price"].weight == 2.0


@pytest.mark.parametrize("name, split", [("val", "val"), ("test", "test"), ("val_price", "val"), ("test_kind", "test")])
def test_an_output_named_like_a_split_s_prefix_is_refused_at_its_line(name, split):
    """Output `val`'s training loss would be the column val_loss, the val split's total, overwriting it."""
    renamed = MODEL.replace("output price =", f"output {name} =")
    with pytest.raises(DlspecError) as info:
        read_train(dlspec.loads(renamed + TRAIN.replace("price:", f"{name}:"), "m.dlspec"))
    text = str(info.value)
    assert "m.dlspec:5:12:" in text, text
    assert f"output '{name}' would name metrics.csv columns like a split's ({name}_loss reads as the {split} split's)" in text
    assert "rename the output" in text


def test_an_output_whose_name_only_begins_like_a_split_is_fine():
    renamed = MODEL.replace("output price =", "output value =")
    cfg = read_train(dlspec.loads(renamed + TRAIN.replace("price:", "value:"), "m.dlspec"))
    assert cfg.metric_names()[:2] == ["value_loss", "value_mae"]


@pytest.mark.parametrize("written, column", [("mse * 0.5 * 2", 17), ("mse + l1", 17), ("2 * mse * 0.5", 17)])
def test_a_loss_of_more_than_one_loss_and_one_weight_is_a_located_error(written, column):
    """These read as arithmetic on the loss's name ('unknown name mse'); the error says what the form is."""
    text = error_of(TRAIN.replace("mse * 0.5", written))
    assert f"m.dlspec:{MODEL.count(chr(10)) + 2}:{column}:" in text, text
    assert "an output's loss is one loss, optionally times one number (LOSS * WEIGHT)" in text, text
    assert "e.g. loss price: mse * 0.5" in text


def test_a_weight_from_a_let_may_come_first():
    cfg = read_train(dlspec.loads("let w = 0.25\n" + MODEL + TRAIN.replace("mse * 0.5", "w * mse"), "m.dlspec"))
    assert (cfg.outputs["price"].loss[0].name, cfg.outputs["price"].weight) == ("mse", 0.25)


def test_an_unknown_loss_lists_the_losses():
    assert "hint: losses: bce_with_logits, cross_entropy" in error_of(TRAIN.replace("mse * 0.5", "msee"))
