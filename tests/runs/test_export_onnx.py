"""ONNX exports answer as `dlspec predict` does, for every kind of data; without the onnx extra, one line names it."""
import importlib.util
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError
from dlspec.runs.loaded import LoadedRun
from dlspec.runtime.preprocess import run_predictions
from tests.helpers.predict_runs import make_images, make_run

pytestmark = pytest.mark.slow  # each export traces the model with torch.export: seconds, not milliseconds

KINDS = ("image", "text", "text_gru", "table", "series")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("onnx_runs")
    return base, {kind: make_run(base, kind) for kind in KINDS}


class OnnxModel:
    """The .onnx file run by onnxruntime, called like the torch model."""

    def __init__(self, path):
        import onnxruntime
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def __call__(self, x):
        return torch.from_numpy(self.session.run(None, {"input": x.cpu().numpy()})[0])


def inputs_for(kind, base, tmp):
    """Inputs that exercise each kind: images of another size, sentences of many lengths (padding in
    every batch), a CSV with an unseen category and missing cells, a series to continue."""
    if kind == "image":
        make_images(tmp / "new", per_class=2, size=20)
        return [str(tmp / "new")]
    if kind.startswith("text"):
        return ["good", "a very good film with great acting and music", "awful plot", "not good at all, zebra",
                "fine", "very very slow and dull story", "bad"]
    if kind == "table":
        (tmp / "new.csv").write_text("rooms,city,size\n3,paris,100\n2,,50\n1,berlin,\n4,lyon,80\n")
        return [str(tmp / "new.csv")]
    (tmp / "recent.csv").write_text("t,v\n" + "".join(f"{i},{(i % 7) / 7}\n" for i in range(15)))
    return [str(tmp / "recent.csv")]


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_export_answers_as_dlspec_predict(runs, kind, tmp_path):
    base, made = runs
    path = dlspec.export(str(made[kind]), "onnx", str(tmp_path / "export"))
    assert path.endswith("model.onnx") and sorted(p.name for p in (tmp_path / "export").iterdir()) == [
        "metadata.json", "model.onnx"]
    meta = json.loads((tmp_path / "export" / "metadata.json").read_text())
    inputs = inputs_for(kind, base, tmp_path)
    got = run_predictions(OnnxModel(path), meta, inputs, top=2, steps=3, batch=3)
    expected = dlspec.predict(str(made[kind]), inputs, top=2, steps=3, batch=3)
    assert len(got) == len(expected) == {"image": 4, "table": 4, "series": 3}.get(kind, 7)
    for g, e in zip(got, expected):
        assert g.keys() == e.keys() and g["input"] == e["input"] and g.get("label") == e.get("label")
        for key in ("probability", "prediction", "probabilities"):
            if key in e:
                assert g[key] == pytest.approx(e[key], rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("kind", ["text", "text_gru"])
def test_onnx_recurrent_export_ignores_padding_like_the_model(runs, kind, tmp_path):
    """Logits of a padded batch of every length, from the .onnx file and from the trained model."""
    base, made = runs
    path = dlspec.export(str(made[kind]), "onnx", str(tmp_path))
    tokens = torch.tensor([[3 + (i * 5 + k) % 9 if k < n else 0 for k in range(10)]
                           for i, n in enumerate([1, 2, 5, 10, 7, 3, 9])])
    with torch.no_grad():
        expected = LoadedRun(str(made[kind])).model(tokens)
        alone = torch.cat([LoadedRun(str(made[kind])).model(row[None]) for row in tokens])
    got = OnnxModel(path)(tokens)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got.numpy(), alone.numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("absent", ["onnx", "onnxscript", "onnxruntime"])
def test_onnx_export_without_the_extra_names_it_in_one_line(runs, absent, tmp_path, monkeypatch):
    base, made = runs
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == absent else real(n, *a))
    with pytest.raises(DlspecError) as info:
        dlspec.export(str(made["table"]), "onnx", str(tmp_path / "out"))
    assert info.value.message == f"ONNX export needs {absent}, not installed: pip install 'dlspec[onnx]'"
    assert not (tmp_path / "out").exists()  # refused before anything is written
    result = CliRunner().invoke(main, ["export", str(made["table"]), "--format", "onnx", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "Traceback" not in result.output and "internal error" not in result.output
    assert result.output.strip() == f"error: {info.value.message}"
    assert not (tmp_path / "o").exists()


def test_onnx_extra_holds_what_the_export_needs():
    import configparser
    from tests.conftest import ROOT
    from dlspec.runs.export_onnx import NEEDS
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    extras = cfg["options.extras_require"]
    declared = {line.split(">")[0].split("=")[0].strip() for line in extras["onnx"].split("\n") if line.strip()}
    in_test = {line.split(">")[0].split("=")[0].strip() for line in extras["test"].split("\n") if line.strip()}
    assert declared == set(NEEDS) and declared <= in_test


@pytest.mark.parametrize("body", [
    "embedding(5) -> lstm_cell(6) -> last", "embedding(5) -> rnn(6, layers=2) -> max_time",
    "embedding(5) -> gru(6) -> last", "embedding(5) -> conv1d(6, 3, padding=1) -> lstm(4, bidirectional=true) -> hidden",
])
def test_every_sequence_head_exports_to_onnx_ignoring_padding(body, tmp_path):
    from dlspec.runs.export import example_input
    from dlspec.runs.export_onnx import onnx_files
    spec = dlspec.loads(f"model M {{\n input tokens(8, vocab=30)\n {body}\n linear(2)\n}}")
    plan, model = spec.plan(), spec.build().eval()
    path, files = onnx_files(model, example_input(plan), str(tmp_path))  # checked on two batches too
    for name, data in files.items():
        with open(name, "wb") as f:
            f.write(data)
    tokens = torch.tensor([[4, 9, 2, 0, 0, 0, 0, 0], list(range(1, 9)), [7] + [0] * 7, [5, 6, 7, 8, 9, 0, 0, 0]])
    with torch.no_grad():
        expected = model(tokens)
    np.testing.assert_allclose(OnnxModel(path)(tokens).numpy(), expected.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(OnnxModel(path)(tokens[:1]).numpy(), expected[:1].numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("body", [
    "embedding(8) -> positional(8) -> transformer_encoder(2, 2, ff=16, dropout=0) -> mean_time",
    "embedding(8, padding_idx=0) -> attention(2) -> last",
    "embedding(8) -> attention(4) -> max_time",
])
def test_attention_exports_to_onnx_masking_pads_exactly(body, tmp_path):
    from dlspec.runs.export import example_input
    from dlspec.runs.export_onnx import onnx_files
    torch.manual_seed(0)
    spec = dlspec.loads(f"model M {{\n input tokens(8, vocab=30)\n {body}\n linear(2)\n}}")
    plan, model = spec.plan(), spec.build().eval()
    path, files = onnx_files(model, example_input(plan), str(tmp_path))
    for name, data in files.items():
        with open(name, "wb") as f:
            f.write(data)
    tokens = torch.tensor([[4, 9, 2, 0, 0, 0, 0, 0], list(range(1, 9)), [7] + [0] * 7, [5, 6, 7, 8, 9, 0, 0, 0]])
    exported = OnnxModel(path)
    with torch.no_grad():
        expected = model(tokens)
    np.testing.assert_allclose(exported(tokens).numpy(), expected.numpy(), atol=1e-5, rtol=1e-5)
    for row in range(tokens.shape[0]):  # each sentence alone: the pads of the others change nothing
        np.testing.assert_allclose(exported(tokens[row:row + 1]).numpy(), expected[row:row + 1].numpy(),
                                   atol=1e-5, rtol=1e-5)
    fully_real = tokens[1:2]  # a batch with no pad at all takes the same path
    with torch.no_grad():
        np.testing.assert_allclose(exported(fully_real).numpy(), model(fully_real).numpy(), atol=1e-5, rtol=1e-5)


def test_an_export_failure_names_the_exporters_reason_not_its_step():
    from dlspec.runs.export_onnx import _export

    class Branching(torch.nn.Module):
        def forward(self, x):
            return x * 2 if bool((x > 3).any()) else x

    with pytest.raises(DlspecError) as info:
        _export(Branching(), torch.tensor([[1.0, 5.0]]), "unused.onnx")
    message = info.value.message
    assert message.startswith("the model could not be exported to ONNX: ")
    assert "data-dependent" in message and "step 1/3" not in message and "Next steps" not in message
