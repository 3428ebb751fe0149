"""Exports rebuild the trained model without dlspec: identical outputs."""
import subprocess
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.errors import DlspecError

GRAPH = """
block Res(ch) {
    param gain(ch, 1, 1) = ones
    y = input -> conv(ch, 3, padding=1) -> batchnorm -> relu
    z = mul(y, gain)
    add(z, input) -> relu
}
model Net {
    input image(1, 8, 8)
    conv(8, 3, padding=1) -> Res(8) -> Res(8)
    a = input -> flatten
    b = _prev_ -> global_avgpool -> flatten
    concat(a, b) -> linear(10)
}
data d { source sklearn_digits; split train=0.8 test=0.2 }
train { epochs 1 }
"""

TOKENS = f"""
model Net {{
    input tokens(12)
    embedding(8) -> lstm(6, bidirectional=true) -> hidden
    linear(2)
}}
data d {{ source text("sentences.tsv", max_len=12) }}
train {{ epochs 1 }}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    made = {}
    graph = GRAPH.replace("    b = _prev_ -> global_avgpool -> flatten\n", "").replace(
        "    conv(8, 3, padding=1) -> Res(8) -> Res(8)\n    a = input -> flatten\n    concat(a, b)",
        "    c = input -> conv(8, 3, padding=1) -> Res(8) -> Res(8) -> global_avgpool -> flatten\n"
        "    a = input -> flatten\n    concat(a, c)")
    words = ["good", "great", "fine", "bad", "awful", "poor", "film", "plot", "very", "not", "acting", "story",
             "music", "slow", "fun", "dull"]  # 16 words: the inputs below use token ids up to 12
    (base / "sentences.tsv").write_text("".join(  # a small labelled text file: tests need no ../shared
        f"{' '.join(words[(i * 7 + k) % 16] for k in range(3 + i % 6))}\t{i % 2}\n" for i in range(160)))
    for name, text in (("graph", graph), ("tokens", TOKENS)):
        (base / f"{name}.dlspec").write_text(text)
        dlspec.fit(base / f"{name}.dlspec", out=str(base / name), log=lambda *a: None)
        made[name] = base / name
    return made


def run_without_dlspec(folder, x):
    """Load the exported model in a fresh interpreter where importing dlspec fails."""
    torch.save(x, folder / "x.pt")
    code = textwrap.dedent(f"""
        import sys
        sys.modules["dlspec"] = None  # any import of dlspec now raises ImportError
        sys.path.insert(0, {str(folder)!r})
        import torch, model
        net = model.build({str(folder / 'weights.pt')!r}).eval()
        with torch.no_grad():
            torch.save(net(torch.load({str(folder / 'x.pt')!r})), {str(folder / 'y.pt')!r})
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    return torch.load(folder / "y.pt")


def reference(run_dir, x):
    from dlspec.runs.loaded import LoadedRun
    with torch.no_grad():
        return LoadedRun(str(run_dir)).model(x)


@pytest.mark.parametrize("name", ["graph", "tokens"])
def test_python_export_gives_identical_outputs_without_dlspec(runs, name, tmp_path):
    path = dlspec.export(str(runs[name]), "python", str(tmp_path))
    source = open(path).read()
    assert "import dlspec" not in source and "from dlspec" not in source
    x = torch.randn(3, 1, 8, 8) if name == "graph" else torch.tensor([[4, 5, 6] + [0] * 9, list(range(1, 13)),
                                                                          [7] + [0] * 11])
    assert torch.equal(run_without_dlspec(tmp_path, x), reference(runs[name], x))
    if name == "graph":
        assert "class Res(nn.Module):" in source and "def forward(self, input):" in source
        assert source.count("class Res") == 1  # both blocks share one class


def test_torchscript_export(runs, tmp_path):
    path = dlspec.export(str(runs["graph"]), "torchscript", str(tmp_path))
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(path)(x), reference(runs["graph"], x), atol=1e-6)


def test_onnx_export_without_onnx_says_what_to_install(runs, tmp_path, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "onnx" else real(n, *a))
    with pytest.raises(DlspecError, match="needs the onnx package") as info:
        dlspec.export(str(runs["graph"]), "onnx", str(tmp_path))
    assert "pip install onnx" in info.value.hint


def test_export_cli(runs, tmp_path):
    result = CliRunner().invoke(main, ["export", str(runs["graph"]), "--out", str(tmp_path), "--format", "python"])
    assert result.exit_code == 0 and "model.py" in result.output
    assert (tmp_path / "weights.pt").exists()
