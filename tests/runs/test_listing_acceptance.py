"""Issue 25's acceptance on the shipped listing spec: specs/listing.dlspec trained briefly answers both
outputs from NEW rows (a csv written here, with new photos beside it), and each export (python model.py,
its predict.py, TorchScript, ONNX) gives the same answers on the same rows; bad rows are one-line errors."""
import importlib.util
import sys
import warnings

import pytest
import torch
from click.testing import CliRunner

import dlspec
from dlspec.cli import main
from dlspec.runs.loaded import LoadedRun
from dlspec.runs.meta import run_meta
from dlspec.runs.predict import predict
from dlspec.runtime.preprocess import named_rows
from tests.conftest import ROOT

KINDS = ["flat", "house"]
ROWS = [("new/a.png", "bright flat near the tram", "52", "2", "north"),
        ("new/b.png", "big old house with a garden", "190", "6", "harbour"),
        ("new/c.png", "tiny studio never seen words", "31", "1", "centre")]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("listing")
    return dlspec.fit(str(ROOT / "specs" / "listing.dlspec"), epochs=1, out=str(folder / "run"), progress=False,
                      log=lambda *_: None)


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """A csv of new rows (no targets) with new photos of another size than training's, in a folder of its own."""
    from PIL import Image
    folder = tmp_path_factory.mktemp("rows")
    (folder / "new").mkdir()
    g = torch.Generator().manual_seed(5)
    for i, (photo, *_) in enumerate(ROWS):
        pixels = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / photo)
    lines = ["photo,description,sqm,rooms,district"] + [",".join(r) for r in ROWS]
    (folder / "rows.csv").write_text("\n".join(lines) + "\n")
    return folder / "rows.csv"


def _answers(run, rows):
    answers = predict(run.out_dir, [str(rows)], top=2)
    assert [list(a) for a in answers] == [["input", "price", "kind"]] * len(ROWS)
    price = torch.tensor([a["price"]["prediction"] for a in answers])
    kind = torch.tensor([[next(t["probability"] for t in a["kind"]["top"] if t["label"] == k) for k in KINDS]
                         for a in answers])
    return price, kind


def _row_tensors(run, rows):
    """The rows as the model's inputs, read by the run's recorded encoding, and the meta that unscales price."""
    meta = run_meta(LoadedRun(run.out_dir))
    names, samples = named_rows(str(rows), meta)
    assert names == [f"{rows}:{i}" for i in range(2, 2 + len(ROWS))]
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}, meta


def _in_units(out, meta):
    scale = meta["outputs"]["price"]["scale"]
    return out["price"][:, 0] * scale["spread"] + scale["center"], torch.softmax(out["kind"], 1)


def _export(run, fmt, folder):
    result = CliRunner().invoke(main, ["export", run.out_dir, "--format", fmt, "--out", str(folder / fmt)])
    assert result.exit_code == 0, result.output
    return folder / fmt


def _load(folder, module_file, name):
    spec = importlib.util.spec_from_file_location(name, folder / module_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        return module
    finally:
        sys.modules.pop(spec.name, None)


def test_the_run_reads_every_input_of_new_rows_by_its_recorded_encoding(run, rows):
    x, meta = _row_tensors(run, rows)
    assert list(x) == ["photo", "words", "facts"]
    assert x["photo"].shape == (3, 3, 32, 32) and x["words"].dtype == torch.long and x["words"].shape == (3, 12)
    vocab = meta["inputs_encoding"]["words"]["text"]["vocab"]
    assert x["words"][2, 3].item() == vocab.index("<unk>")  # "never" is not in the listings' descriptions
    assert meta["outputs"]["price"]["scale"]["kind"] == "standard"


def test_predict_from_new_rows_equals_the_python_torchscript_and_onnx_exports(run, rows, tmp_path):
    price, kind = _answers(run, rows)
    x, meta = _row_tensors(run, rows)
    python = _load(_export(run, "python", tmp_path), "model.py", "exported_listing_model")
    models = {"python": python.build(str(tmp_path / "python" / "weights.pt")).eval()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models["torchscript"] = torch.jit.load(str(_export(run, "torchscript", tmp_path) / "model.pt"))
    for fmt, model in models.items():
        with torch.no_grad():
            got_price, got_kind = _in_units(model(x["photo"], x["words"], x["facts"]), meta)
        assert torch.allclose(got_price, price, atol=1e-4), fmt
        assert torch.allclose(got_kind, kind, atol=1e-5), fmt
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(_export(run, "onnx", tmp_path) / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["photo", "words", "facts"]
    got = session.run(["price", "kind"], {k: v.numpy() for k, v in x.items()})
    got_price, got_kind = _in_units({"price": torch.from_numpy(got[0]), "kind": torch.from_numpy(got[1])}, meta)
    assert torch.allclose(got_price, price, atol=1e-3) and torch.allclose(got_kind, kind, atol=1e-4)


def test_the_exported_predict_py_reads_the_same_rows_and_answers_alike(run, rows, tmp_path):
    price, kind = _answers(run, rows)
    folder = _export(run, "python", tmp_path)
    answers = _load(folder, "predict.py", "exported_listing_predict").predict([str(rows)], top=2)
    assert torch.allclose(torch.tensor([a["price"]["prediction"] for a in answers]), price, atol=1e-4)
    assert [a["kind"]["label"] for a in answers] == [KINDS[i] for i in kind.argmax(1).tolist()]


@pytest.mark.parametrize("header, row, message", [
    ("photo,description,sqm,district", "new/a.png,a flat,52,north",
     "has no column 'rooms' (for input 'facts'); the model reads columns photo, description, sqm, rooms, district"),
    ("photo,description,sqm,rooms,district", "new/gone.png,a flat,52,2,north",
     "rows.csv, line 2, column 'photo': image file not found: "),
    ("photo,description,sqm,rooms,district", "new/a.png,a flat,many,2,north", "rows.csv, line 2, column 'sqm'"),
])
def test_bad_rows_are_one_line_errors_naming_the_file_line_and_column(run, rows, header, row, message):
    bad = rows.parent / "rows.csv"
    good = bad.read_text()
    bad.write_text(f"{header}\n{row}\n")
    try:
        result = CliRunner().invoke(main, ["predict", run.out_dir, str(bad)])
    finally:
        bad.write_text(good)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.output, result.output


def test_a_district_training_never_saw_is_read_as_no_level_with_a_warning(run, rows):
    bad = rows.parent / "rows.csv"
    good = bad.read_text()
    bad.write_text("photo,description,sqm,rooms,district\nnew/a.png,a flat,52,2,moon\n")
    try:
        with pytest.warns(UserWarning, match="levels the training rows never had.*district: moon"):
            answers = predict(run.out_dir, [str(bad)])
    finally:
        bad.write_text(good)
    assert set(answers[0]) == {"input", "price", "kind"}
