"""Losses from the model (add_loss), `target input` and `mse(one_hot=true)` in training and evaluation:
the KL column against a hand computation on a fixed batch, the columns of a real run, and every refusal
with its message and line."""
import csv

import pytest
import torch
import torch.nn.functional as F

import dlspec
from dlspec.errors import DlspecError
from dlspec.train.losses import LOSSES
from dlspec.train.loop import StepSetup, evaluate
from tests.conftest import ROOT

VAE_SPEC = ROOT / "specs" / "vae_digits.dlspec"
AE_SPEC = ROOT / "specs" / "autoencoder_digits.dlspec"
ONEHOT_SPEC = ROOT / "specs" / "mlp_onehot_mse.dlspec"


def quiet(*a):
    pass


def hand_kl(model, x, weight):
    """weight * the batch mean of KL(N(mu, exp(logvar)) || N(0, 1)) computed from the model's weights."""
    h = torch.relu(F.linear(x.flatten(1), model.linear.weight, model.linear.bias))
    mu, logvar = F.linear(h, model.linear_1.weight, model.linear_1.bias).chunk(2, dim=1)
    per_sample = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum(1)
    return weight * per_sample.mean()


def test_the_kl_column_of_an_evaluation_equals_a_hand_computation_on_a_fixed_batch():
    torch.manual_seed(0)
    model = dlspec.load(VAE_SPEC).build()
    loss_def, args = LOSSES.find("bce_with_logits"), {}
    setup = StepSetup(model, loss_def, loss_def.build(args), torch.device("cpu"), target_input=True)
    x = torch.rand(6, 1, 8, 8)
    labels = torch.arange(6)  # ignored: the target is the input
    result = evaluate(setup, [(x[:4], labels[:4]), (x[4:], labels[4:])], {})
    with torch.no_grad():
        kl = (hand_kl(model, x[:4], 1 / 64) * 4 + hand_kl(model, x[4:], 1 / 64) * 2) / 6
        model.eval()
        bce = (F.binary_cross_entropy_with_logits(model(x[:4]), x[:4]) * 4
               + F.binary_cross_entropy_with_logits(model(x[4:]), x[4:]) * 2) / 6
    assert result["kl"] == pytest.approx(float(kl), rel=1e-6)
    assert result["loss"] == pytest.approx(float(bce + kl), rel=1e-6)


def test_the_kl_column_of_a_training_epoch_equals_a_hand_computation_and_its_gradient_flows():
    """One step (SGD with lr 0: the weights the hand computation reads stay) adds the KL term to the loss it
    backpropagates: the encoder's mean layer gets the KL's gradient even with the decoder's loss cut off."""
    from dlspec.train.loop import train_epoch
    from dlspec.train.progress import EpochProgress
    torch.manual_seed(0)
    model = dlspec.load(VAE_SPEC).build()
    loss_def = LOSSES.find("bce_with_logits")
    setup = StepSetup(model, loss_def, lambda out, y: out.sum() * 0, torch.device("cpu"),
                      optimizer=torch.optim.SGD(model.parameters(), lr=0.0), target_input=True)
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        want = hand_kl(model, x, 1 / 64)
    loss, values, samples, _ = train_epoch(setup, [(x, torch.zeros(5))], {}, EpochProgress(1, 1, 1, enabled=False))
    assert values["kl"] == pytest.approx(float(want), rel=1e-6) and loss == pytest.approx(float(want), rel=1e-6)
    assert samples == 5 and model.linear_1.weight.grad.abs().sum() > 0
    assert model.decoder.linear_1.weight.grad.abs().sum() == 0


def columns(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_a_vae_run_logs_the_kl_term_as_its_own_columns_and_its_test_result(tmp_path):
    run = dlspec.fit(VAE_SPEC, epochs=1, out=str(tmp_path / "run"), device="cpu", log=quiet, progress=False)
    rows = columns(tmp_path / "run")
    assert list(rows[0])[:6] == ["epoch", "lr", "loss", "kl", "val_loss", "val_kl"]
    assert 0 < float(rows[0]["kl"]) < float(rows[0]["loss"])
    assert set(run.results["test"]) >= {"loss", "kl"}
    again = dlspec.api.evaluate(str(tmp_path / "run"), "test")
    assert again["kl"] == pytest.approx(run.results["test"]["kl"], rel=1e-5)


def test_an_autoencoder_run_trains_on_its_input(tmp_path):
    run = dlspec.fit(AE_SPEC, epochs=2, out=str(tmp_path / "run"), device="cpu", log=quiet, progress=False)
    rows = columns(tmp_path / "run")
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert 0 < run.results["test"]["mae"] < 0.5  # pixels in [0, 1]
    assert "target: input" in (tmp_path / "run" / "run.yaml").read_text()


def test_mse_on_one_hot_rows_equals_torch_on_hand_made_rows():
    loss = LOSSES.find("mse").build({"one_hot": True})
    out, labels = torch.randn(5, 4), torch.tensor([0, 3, 1, 1, 2])
    assert torch.equal(loss(out, labels.float()), F.mse_loss(out, F.one_hot(labels, 4).float()))
    assert torch.equal(LOSSES.find("mse").build({})(out, out * 2), F.mse_loss(out, out * 2))


def test_lesson_05_mlp_with_mse_on_one_hot_reports_accuracy(tmp_path):
    run = dlspec.fit(ONEHOT_SPEC, epochs=2, out=str(tmp_path / "run"), device="cpu", log=quiet, progress=False)
    assert run.results["test"]["accuracy"] > 0.5


def spec_with(text: str, tmp_path):
    path = tmp_path / "m.dlspec"
    path.write_text(text)
    return path


AE = """model AE {{
    input image(1, 8, 8)
    {layers}
}}
data digits {{
    source sklearn_digits
    {data}
}}
train {{
    target input
    loss {loss}
    {extra}
}}
"""


def compile_error(tmp_path, layers="flatten -> linear(64) -> reshape(1, 8, 8)", data="", loss="mse", extra=""):
    path = spec_with(AE.format(layers=layers, data=data, loss=loss, extra=extra), tmp_path)
    with pytest.raises(DlspecError) as caught:
        dlspec.api.compile_spec(path)
    return caught.value


def test_target_input_with_an_output_of_another_shape_prints_both(tmp_path):
    e = compile_error(tmp_path, layers="flatten -> linear(10)")
    assert "target input: model AE outputs [F=10] per sample, but its input is [C=1, H=8, W=8]" in str(e)
    assert e.loc.line == 10 and "reshape(1, 8, 8)" in e.hint


def test_target_input_with_a_class_loss_is_refused_at_the_loss(tmp_path):
    e = compile_error(tmp_path, loss="cross_entropy")
    assert "target input compares the output with the input, and loss cross_entropy needs class labels" in str(e)
    assert e.loc.line == 11


def test_target_input_with_augment_is_refused(tmp_path):
    e = compile_error(tmp_path, data="augment { rotate(10) }")
    assert "target input with augment in data digits: the target would be the augmented input" in str(e)


def test_target_input_with_bce_on_normalized_inputs_is_refused_at_the_loss(tmp_path):
    """normalize centres the input (the target) on 0: bce_with_logits would train on a meaningless loss."""
    e = compile_error(tmp_path, data="transform { normalize(auto) }", loss="bce_with_logits")
    assert ("loss bce_with_logits needs targets in [0, 1], and target input makes the target the input after "
            "normalize (data digits, line 7)") in str(e)
    assert e.loc.line == 11 and "loss mse" in e.hint


def test_target_input_with_bce_on_unnormalized_inputs_compiles(tmp_path):
    path = spec_with(AE.format(layers="flatten -> linear(64) -> reshape(1, 8, 8)", data="", loss="bce_with_logits",
                               extra=""), tmp_path)
    dlspec.api.compile_spec(path)


def test_target_input_with_a_class_metric_is_refused_at_the_metric(tmp_path):
    e = compile_error(tmp_path, extra="metrics accuracy")
    assert "metric 'accuracy' measures classes, and target input makes the targets the input's values" in str(e)
    assert e.loc.line == 12


def test_target_input_without_a_loss_trains_with_mse(tmp_path):
    path = spec_with(AE.format(layers="flatten -> linear(64) -> reshape(1, 8, 8)", data="", loss="mse", extra="")
                     .replace("    loss mse\n", ""), tmp_path)
    from dlspec.train.config import read_train
    assert read_train(dlspec.load(path)).loss[0].name == "mse"
    said = []
    dlspec.fit(path, epochs=1, out=str(tmp_path / "run"), device="cpu", log=said.append, progress=False)
    assert "loss mse: the train block names no loss and its target is the input" in said


def test_a_misspelt_target_names_the_choices(tmp_path):
    e = compile_error(tmp_path, extra="target inputs")
    assert "inputs" in str(e) and "input" in (str(e) + e.hint)


def test_mse_on_one_hot_rows_needs_an_output_per_class(tmp_path):
    text = ONEHOT_SPEC.read_text().replace("linear(10)", "linear(8)")
    with pytest.raises(DlspecError) as caught:
        dlspec.fit(spec_with(text, tmp_path), epochs=1, out=str(tmp_path / "run"), device="cpu", log=quiet,
                   progress=False)
    assert "model MLP outputs 8 values per sample, but loss mse(one_hot=true) compares them with one-hot rows of " \
           "the 10 classes of data digits" in str(caught.value)


def test_mse_on_one_hot_rows_of_a_regression_task_says_to_drop_one_hot(tmp_path):
    text = ("model R {\n    input vector(1)\n    linear(1)\n}\ndata s {\n    source sine\n}\n"
            "train {\n    loss mse(one_hot=true)\n    epochs 1\n}\n")
    with pytest.raises(DlspecError) as caught:
        dlspec.fit(spec_with(text, tmp_path), out=str(tmp_path / "run"), device="cpu", log=quiet, progress=False)
    e = caught.value
    assert "loss mse(one_hot=true) compares class labels as one-hot rows, but data s is a regression task" in str(e)
    assert e.loc.line == 9 and e.hint == "drop one_hot=true: loss mse compares the numbers themselves"


def test_a_term_summed_over_processes_is_the_mean_of_one_pass():
    """Each process's AddedTally joins the pass's metrics, whose states reduce_totals sums over the ranks."""
    from dlspec.train.added_losses import AddedTally
    from dlspec.train.parallel.distributed import load_metric_state, metric_state
    batches = [(torch.tensor(0.5), 4), (torch.tensor(2.0), 2), (torch.tensor(1.0), 3)]
    whole, ranks = AddedTally(), [AddedTally(), AddedTally()]
    for k, (value, count) in enumerate(batches):
        whole.add({"kl": value}, count)
        ranks[k % 2].add({"kl": value}, count)
    ranks[1].add({"kl": torch.tensor(99.0)}, 0)  # a stand-in batch: counted nothing, still names the term
    mine = [r.as_metrics()["kl"] for r in ranks]
    load_metric_state(mine[0], [metric_state(m) for m in mine], torch.device("cpu"))
    assert mine[0].compute() == pytest.approx(whole.as_metrics()["kl"].compute()) == pytest.approx((2 + 4 + 3) / 9)


def test_a_term_named_like_a_listed_metric_is_refused_at_the_term(tmp_path):
    text = VAE_SPEC.read_text().replace("weight=1 / 64)", "weight=1 / 64, name=mae)").replace(
        "    seed 0\n}", "    seed 0\n    metrics mae\n}")
    with pytest.raises(DlspecError) as caught:
        dlspec.api.compile_spec(spec_with(text, tmp_path))
    assert "add_loss term 'mae' would be recorded in the metrics.csv column of metric 'mae'" in str(caught.value)
    assert caught.value.loc.line == 15
