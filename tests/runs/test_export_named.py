"""The python export's writer emits a model with several named inputs and outputs (compile-level use: such a
model cannot be trained yet, so no run holds one) that answers as the dlspec module does."""
import io

import pytest
import torch

import dlspec
from dlspec.runs.export_check import build_from_source
from dlspec.runs.python_source import PythonWriter
from tests.conftest import ROOT

LISTING = """
model Listing {
    input photo: image(3, 16, 16)
    input words: tokens(12, vocab=50)
    input facts: vector(8)
    p = photo -> conv(4, 3) -> relu -> global_avgpool -> flatten
    w = words -> embedding(6) -> lstm(6) -> max_time
    h = concat(p, w, facts) -> linear(16) -> relu
    output price = h -> linear(1)
    output kind = h -> linear(5)
}
"""


def exported(spec):
    plan, model = spec.plan(), spec.build().eval()
    source = PythonWriter(plan, model).source()
    weights = io.BytesIO()
    torch.save(model.state_dict(), weights)
    return model, build_from_source(source, weights.getvalue(), "model.py"), source


def test_the_exported_listing_takes_its_inputs_in_order_and_returns_the_dict():
    torch.manual_seed(0)
    model, copy, source = exported(dlspec.loads(LISTING, "m.dlspec"))
    assert "def forward(self, photo, words, facts):" in source
    assert "inputs, in this order: photo [B, 3, 16, 16], words [B, 12], facts [B, 8]" in source
    photo, facts = torch.randn(3, 3, 16, 16), torch.randn(3, 8)
    words = torch.randint(1, 50, (3, 12))
    words[1, 5:] = 0  # padded: the exported model measures the lengths of its tokens input too
    want, got = model(photo, words, facts), copy(photo, words, facts)
    assert list(got) == ["price", "kind"]
    for name in want:
        assert torch.allclose(got[name], want[name], atol=1e-6)


def test_the_exported_gcn_answers_as_the_spec():
    model, copy, source = exported(dlspec.load(ROOT / "examples" / "gcn" / "gcn.dlspec"))
    assert "torch.matmul(adjacency, support1)" in source
    x, adj = torch.randn(2, 34, 16), torch.rand(2, 34, 34)
    assert torch.allclose(copy(x, adj), model(x, adj), atol=1e-6)


ONE_NAMED = """
model M {
    input x: image(1, 8, 8)
    h = x -> flatten -> linear(16) -> relu
    output digit = h -> linear(10)
}
data d {
    source sklearn_digits
    split train=0.5 val=0.5 seed=0
    batch 256
}
train {
    model M
    data d
    epochs 1
    out "run"
}
"""


@pytest.mark.slow
def test_one_named_input_and_output_trains_and_exports_in_every_format(tmp_path):
    from click.testing import CliRunner
    from dlspec.cli import main
    spec = tmp_path / "s.dlspec"
    spec.write_text(ONE_NAMED)
    result = CliRunner().invoke(main, ["fit", str(spec)])
    assert result.exit_code == 0, result.output
    for kind, file in (("python", "model.py"), ("torchscript", "model.pt"), ("onnx", "model.onnx")):
        out = tmp_path / kind
        result = CliRunner().invoke(main, ["export", str(tmp_path / "run"), "--format", kind, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert (out / file).is_file()
