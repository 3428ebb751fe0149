"""The shipped multi-task table (specs/multitask_table.dlspec: a csv of numbers and a category predicting a
class and a number): its per-output test metrics equal scikit-learn's on the same predictions, and
predict reads new rows of the csv's columns into the same answers as the model."""
import pytest
import torch

import dlspec
from dlspec.data.pipeline import build_data
from dlspec.runs.predict import predict
from tests.conftest import ROOT

SPEC = ROOT / "specs" / "multitask_table.dlspec"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return dlspec.fit(str(SPEC), epochs=3, out=str(tmp_path_factory.mktemp("multitask") / "run"), progress=False,
                      log=lambda *_: None)


def _test_split(run):
    """(state predicted, state true, cost predicted, cost true) on the test split, costs in the data's units."""
    data = build_data(run.config.data, loss_task=run.config.loss_task)
    scale = data.targets["cost"]["scale"]
    run.model.eval()
    state, state_true, cost, cost_true = [], [], [], []
    with torch.no_grad():
        for x, y in data.loaders["test"]:
            out = run.model(x)
            state.append(out["state"].argmax(1))
            state_true.append(y["state"])
            cost.append(out["cost"][:, 0] * scale["spread"] + scale["center"])
            cost_true.append(y["cost"] * scale["spread"] + scale["center"])
    return [torch.cat(p).numpy() for p in (state, state_true, cost, cost_true)]


def test_the_table_s_targets_are_one_class_and_one_number(run):
    outputs = run.config.outputs
    assert list(outputs) == ["state", "cost"]
    assert [o.task for o in outputs.values()] == ["classification", "regression"]
    data = build_data(run.config.data, loss_task=run.config.loss_task)
    assert data.targets["state"]["classes"] == ["failing", "ok", "worn"]
    assert data.targets["cost"]["task"] == "regression" and data.targets["cost"]["scale"]["kind"] == "standard"
    assert data.inputs["input"]["shape"] == [6]  # temperature, vibration, hours and three models one-hot


def test_per_output_test_metrics_equal_scikit_learn_on_the_same_predictions(run):
    from sklearn import metrics as skm
    test = run.results["test"]
    state, state_true, cost, cost_true = _test_split(run)
    assert test["state_accuracy"] == pytest.approx(skm.accuracy_score(state_true, state))
    assert test["state_f1"] == pytest.approx(skm.f1_score(state_true, state, average="macro",
                                                          labels=sorted(set(state_true))), rel=1e-6)
    assert test["cost_mae"] == pytest.approx(skm.mean_absolute_error(cost_true, cost), rel=1e-5)
    assert test["cost_r2"] == pytest.approx(skm.r2_score(cost_true, cost), rel=1e-4)
    assert test["loss"] == pytest.approx(test["state_loss"] + 0.5 * test["cost_loss"], rel=1e-6)


def test_predict_reads_new_rows_of_the_table_s_columns_as_training_read_them(run, tmp_path):
    """The test split's rows written without their targets: predict's answers equal the model's outputs on
    the same rows as the data pipeline encoded them (levels, fills and normalisation from the run's record)."""
    data = build_data(run.config.data, loss_task=run.config.loss_task)
    view = data.loaders["test"].dataset
    lines = (ROOT / "examples" / "tables" / "machines.csv").read_text().splitlines()
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(line.split(",")[:4]) for line in [lines[0]] + [lines[1 + i] for i in
                                                                                     view.indices[:5]]) + "\n")
    answers = predict(run.out_dir, [str(rows)], top=3)
    x = torch.stack([view[i][0] for i in range(5)])
    scale = data.targets["cost"]["scale"]
    with torch.no_grad():
        out = run.model.eval()(x)
    assert [a["input"] for a in answers] == [f"{rows}:{n}" for n in range(2, 7)]
    cost = torch.tensor([a["cost"]["prediction"] for a in answers])
    assert torch.allclose(cost, out["cost"][:, 0] * scale["spread"] + scale["center"], atol=1e-3)
    classes = data.targets["state"]["classes"]
    probs = torch.tensor([[next(t["probability"] for t in a["state"]["top"] if t["label"] == c) for c in classes]
                          for a in answers])
    assert torch.allclose(probs, torch.softmax(out["state"], 1), atol=1e-5)


def test_each_output_s_loss_decides_its_own_whole_number_target_s_task(tmp_path):
    """`rooms` holds a few whole numbers (read as classes when nothing says otherwise): under `rooms: mse` it is
    a number, while `kind`, the first output, trains with cross_entropy; each target follows its own loss."""
    csv = ROOT / "examples" / "listings" / "listings.csv"
    (tmp_path / "m.dlspec").write_text(f"""
model M {{
    input facts: vector(auto)
    h = facts -> linear(8) -> relu
    output kind = h -> linear(2)
    output rooms = h -> linear(1)
}}
data d {{
    source csv("{csv.as_posix()}", inputs={{facts: ["sqm", "district"]}}, target=["kind", "rooms"])
    split train=0.8 test=0.2
}}
train {{
    model M
    data d
    loss kind: cross_entropy, rooms: mse
    metrics rooms: mae
    epochs 1
}}
""")
    run = dlspec.fit(str(tmp_path / "m.dlspec"), out=str(tmp_path / "run"), progress=False, log=lambda *_: None)
    data = build_data(run.config.data, loss_task=run.config.loss_task)
    assert data.targets["kind"]["task"] == "classification" and data.targets["rooms"]["task"] == "regression"
    assert "rooms_mae" in run.results["test"]
