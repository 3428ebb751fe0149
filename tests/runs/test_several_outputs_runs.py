"""A finished run of a two-input, two-output model (tests/helpers/multitask_data.py's Listing, a dotted
source): evaluate and predict per output, CSV/JSONL columns, and the python, TorchScript and ONNX exports
answering as the run's predictions."""
import importlib.util
import json
import sys

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.runs.predict import evaluate_run, predict_tensors
from dlspec.runs.writers import readable, write_predictions
from tests.helpers.multitask_data import KINDS, LISTING_SPEC

SPEC = LISTING_SPEC + """train {
    loss price: mse * 0.5, kind: cross_entropy
    metrics price: mae, kind: accuracy
    epochs 1
}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("several")
    (folder / "m.dlspec").write_text(SPEC)
    return dlspec.fit(str(folder / "m.dlspec"), out=str(folder / "run"), progress=False, log=lambda *_: None)


def batch():
    g = torch.Generator().manual_seed(11)
    return {"photo": torch.randn(4, 6, generator=g), "facts": torch.randn(4, 2, generator=g)}


def test_evaluate_gives_each_output_s_loss_and_metrics_as_fit_did(run):
    scores = evaluate_run(run.out_dir, trust=True)
    assert list(scores) == ["loss", "price_loss", "price_mae", "kind_loss", "kind_accuracy"]
    for key, value in scores.items():
        assert value == pytest.approx(run.results["test"][key], rel=1e-6), key


def test_predict_answers_per_output_from_the_trained_model(run):
    answers = predict_tensors(run.out_dir, batch(), top=2, trust=True)
    run.model.eval()
    with torch.no_grad():
        out = run.model(**batch())
    probs = torch.softmax(out["kind"], 1)
    for i, answer in enumerate(answers):
        assert set(answer) == {"input", "price", "kind"}
        assert answer["price"]["prediction"] == pytest.approx(float(out["price"][i, 0]), abs=1e-6)
        assert answer["kind"]["label"] == KINDS[int(probs[i].argmax())]
        assert answer["kind"]["probability"] == pytest.approx(float(probs[i].max()), abs=1e-6)
        assert [t["label"] for t in answer["kind"]["top"]] == [KINDS[j] for j in probs[i].topk(2).indices]


def test_csv_columns_are_prefixed_by_the_output_and_jsonl_nests_each(run, tmp_path):
    answers = predict_tensors(run.out_dir, batch(), top=2, trust=True)
    write_predictions(answers, str(tmp_path / "p.csv"))
    write_predictions(answers, str(tmp_path / "p.jsonl"))
    header = (tmp_path / "p.csv").read_text().splitlines()[0].split(",")
    assert header == ["input", "price_prediction", "kind_label", "kind_probability", "kind_label_1",
                      "kind_probability_1", "kind_label_2", "kind_probability_2"]
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert rows == answers
    line = readable(answers[0], top=1)
    assert line.startswith("0: price ") and f"; kind {answers[0]['kind']['label']} (" in line


def test_predict_from_files_is_refused_at_the_dotted_source_line(run):
    result = CliRunner().invoke(main, ["predict", run.out_dir, "rows.csv", "--trust"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "m.dlspec:9:12: data error: predict cannot read inputs for model Listing: it takes 2 inputs " \
           "(photo, facts), and data d's source records no way to read them" in result.output
    assert "predict_tensors" in result.output


def _predictions(run):
    """The run's own answers on batch(): price values and kind probabilities."""
    answers = predict_tensors(run.out_dir, batch(), top=3, trust=True)
    price = torch.tensor([a["price"]["prediction"] for a in answers])
    kind = torch.tensor([[next(t["probability"] for t in a["kind"]["top"] if t["label"] == k) for k in KINDS]
                         for a in answers])
    return price, kind


def _export(run, fmt, tmp_path):
    result = CliRunner().invoke(main, ["export", run.out_dir, "--format", fmt, "--out", str(tmp_path / fmt),
                                       "--trust"])
    assert result.exit_code == 0, result.output
    return tmp_path / fmt


def _load_python_export(folder):
    spec = importlib.util.spec_from_file_location("exported_several_model", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        return module.build(str(folder / "weights.pt")).eval()
    finally:
        sys.modules.pop(spec.name, None)


def test_python_and_torchscript_exports_answer_as_the_run_s_predictions(run, tmp_path):
    price, kind = _predictions(run)
    x = batch()
    python = _load_python_export(_export(run, "python", tmp_path))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(_export(run, "torchscript", tmp_path) / "model.pt"))
    for model in (python, scripted):
        with torch.no_grad():
            out = model(x["photo"], x["facts"])
        assert list(out) == ["price", "kind"]
        assert torch.allclose(out["price"][:, 0], price, atol=1e-5)
        assert torch.allclose(torch.softmax(out["kind"], 1), kind, atol=1e-5)


def test_onnx_has_a_named_graph_input_per_input_and_output_per_output(run, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime
    price, kind = _predictions(run)
    session = onnxruntime.InferenceSession(str(_export(run, "onnx", tmp_path) / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["photo", "facts"]
    assert [o.name for o in session.get_outputs()] == ["price", "kind"]
    got = session.run(["price", "kind"], {k: v.numpy() for k, v in batch().items()})
    assert torch.allclose(torch.from_numpy(got[0])[:, 0], price, atol=1e-5)
    assert torch.allclose(torch.softmax(torch.from_numpy(got[1]), 1), kind, atol=1e-5)
