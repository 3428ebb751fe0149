"""Exports rebuild the trained model without dlspec: identical outputs."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.runs.loaded import LoadedRun

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


def test_export_cli(runs, tmp_path):
    result = CliRunner().invoke(main, ["export", str(runs["graph"]), "--out", str(tmp_path), "--format", "python"])
    assert result.exit_code == 0 and "model.py" in result.output
    assert (tmp_path / "weights.pt").exists()


# ---- predict.py and metadata.json: an export answers as `dlspec predict` does ------------------

from tests.helpers.predict_runs import make_images, make_run  # noqa: E402


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    base = tmp_path_factory.mktemp("kinds")
    return base, {kind: make_run(base, kind) for kind in ("image", "text", "table", "categories", "series")}


def inputs_for(kind, base, tmp):
    """Inputs for `kind` that exercise its preprocessing: new images of another size, unknown words,
    a CSV with an unseen category and missing cells, a CSV series to continue."""
    if kind == "image":
        make_images(tmp / "new", per_class=2, size=20)
        return [str(tmp / "new"), str(base / "images" / "dark" / "1.png")]
    if kind == "text":
        (tmp / "more.txt").write_text("great acting\n\nnot good at all, zebra\n")
        return ["a very good film", "awful plot", str(tmp / "more.txt")]
    if kind in ("table", "categories"):
        (tmp / "new.csv").write_text("rooms,city,size\n3,paris,100\n2,,50\n1,berlin,\n")
        return [str(tmp / "new.csv")]
    (tmp / "recent.csv").write_text("t,v\n" + "".join(f"{i},{(i % 7) / 7}\n" for i in range(15)))
    return [str(tmp / "recent.csv")]


def predict_without_dlspec(folder, inputs, steps):
    """predict.py's predict(inputs) in a fresh interpreter where importing dlspec fails."""
    code = textwrap.dedent(f"""
        import json, sys
        sys.modules["dlspec"] = None  # any import of dlspec now raises ImportError
        sys.path.insert(0, {str(folder)!r})
        from predict import predict
        answers = predict({inputs!r}, top=2, steps={steps}, batch=3)
        assert not [m for m in sys.modules if m.startswith("dlspec") and sys.modules[m] is not None]
        print(json.dumps(answers))
    """)
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("kind", ["image", "text", "table", "categories", "series"])
def test_exported_predict_equals_dlspec_predict(kinds, kind, tmp_path):
    base, runs = kinds
    inputs = inputs_for(kind, base, tmp_path)
    dlspec.export(str(runs[kind]), "python", str(tmp_path / "export"))
    source = (tmp_path / "export" / "predict.py").read_text()
    assert "import dlspec" not in source and "from dlspec" not in source and "from ." not in source
    expected = dlspec.predict(str(runs[kind]), inputs, top=2, steps=3)
    got = predict_without_dlspec(tmp_path / "export", inputs, 3)
    assert len(got) == len(expected) == {"image": 5, "text": 4, "table": 3, "categories": 3, "series": 3}[kind]
    for g, e in zip(got, expected):
        assert g.keys() == e.keys() and g["input"] == e["input"] and g.get("label") == e.get("label")
        for key in ("probability", "prediction"):
            if key in e:
                assert g[key] == pytest.approx(e[key], rel=1e-6, abs=1e-6)


def test_metadata_holds_what_predict_needs(kinds, tmp_path):
    base, runs = kinds
    meta = {}
    for kind in ("image", "text", "table", "categories"):
        dlspec.export(str(runs[kind]), "python", str(tmp_path / kind))
        meta[kind] = json.loads((tmp_path / kind / "metadata.json").read_text())
    assert meta["image"]["classes"] == ["bright", "dark"] and meta["image"]["image"] == {
        "mode": "RGB", "steps": [["resize", {"size": 10}], ["center_crop", {"size": 8}]], "max_pixels": 50_000_000}
    assert len(meta["image"]["normalize"]["mean"]) == 3  # normalize(auto), measured on the training split
    assert meta["text"]["text"]["vocab"][:2] == ["<pad>", "<unk>"] and meta["text"]["text"]["max_len"] == 10
    columns = {c["name"]: c for c in meta["table"]["table"]["columns"]}
    assert columns["city"]["kind"] == "onehot" and columns["city"]["levels"] == ["lyon", "nice", "paris"]
    assert columns["size"]["kind"] == "number" and columns["size"]["fill"] is not None  # missing=median
    assert meta["table"]["target_scale"]["kind"] == "standard" and meta["table"]["task"] == "regression"
    city = meta["categories"]["table"]["columns"][1]  # onehot_max=2: three cities are embedded
    assert city["kind"] == "embed" and city["dim"] == 3 and city["levels"] == ["lyon", "nice", "paris"]
    assert meta["categories"]["normalize"]["mean"][1] == 0 and meta["categories"]["normalize"]["std"][1] == 1


def test_torchscript_export_writes_the_same_metadata(kinds, tmp_path):
    base, runs = kinds
    dlspec.export(str(runs["table"]), "python", str(tmp_path / "py"))
    dlspec.export(str(runs["table"]), "torchscript", str(tmp_path / "ts"))
    assert (tmp_path / "ts" / "metadata.json").read_text() == (tmp_path / "py" / "metadata.json").read_text()


def test_torchscript_export_of_embedded_categories_answers_as_the_run(kinds, tmp_path):
    base, runs = kinds
    dlspec.export(str(runs["categories"]), "torchscript", str(tmp_path / "ts"))
    scripted = torch.jit.load(str(tmp_path / "ts" / "model.pt"))
    run = LoadedRun(str(runs["categories"]))
    x = torch.tensor([[0.5, 3.0, 1.0], [-1.0, 1.0, 0.0], [2.0, 0.0, -0.5]])  # size, city index (0: unseen), rooms
    scale = run.record.data.target_scale  # the export answers in the data's units
    assert torch.allclose(scripted(x), run.model(x) * scale["spread"] + scale["center"], atol=1e-4)


def test_predict_py_as_a_script_prints_answers_and_one_error_line(kinds, tmp_path):
    base, runs = kinds
    dlspec.export(str(runs["table"]), "python", str(tmp_path / "export"))
    (tmp_path / "new.csv").write_text("rooms,city,size\n3,paris,100\n")
    script = str(tmp_path / "export" / "predict.py")
    done = subprocess.run([sys.executable, script, str(tmp_path / "new.csv")], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout)["input"].endswith("new.csv:2")
    done = subprocess.run([sys.executable, script, str(tmp_path / "nothing.csv")], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and "nothing.csv" in done.stderr
