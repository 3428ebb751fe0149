"""The command line (dlspec/cli/) through click's runner: compile's ok line, --show table, --json
(checked against the built module of every shipped spec), --format torch, --model and --set; errors exit 1
with file:line:col and a caret, never a traceback; fit, --resume, evaluate and predict from the command line;
compile checks train blocks without loading data."""
import json

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT, SPECS, load_shipped
from dlspec.cli import main
from dlspec.train.measure import measure


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_compile_ok():
    result = run("compile", ROOT / "specs" / "lenet5.dlspec")
    assert result.exit_code == 0 and "ok (LeNet5)" in result.output


def test_show_prints_a_table_with_totals_and_lines():
    result = run("compile", ROOT / "specs" / "resnet18.dlspec", "--show")
    assert result.exit_code == 0
    assert "Total params:      11,689,512" in result.output
    assert "Estimated MACs" in result.output and "Parameter memory" in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("linear "))
    assert "[F=1000]" in row and "513,000" in row and row.split()[-1] == "21"


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_json_matches_the_built_module(path):
    result = run("compile", path, "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    spec = load_shipped(path)
    for model in data["models"]:
        module = spec.build(model["name"], measure(spec, model["name"]).facts)  # vector(auto): its data's width
        assert model["params"] == sum(p.numel() for p in module.parameters())
        assert model["trainable"] + model["frozen"] == model["params"]
        assert {"name", "type", "output_shape", "params", "line"} <= set(model["layers"][0])


def test_format_torch_prints_the_module_repr():
    result = run("compile", ROOT / "specs" / "lenet5.dlspec", "--show", "--format", "torch")
    assert "Conv2d(1, 6, kernel_size=(5, 5)" in result.output


def test_set_and_model_options(tmp_path):
    path = tmp_path / "s.dlspec"
    path.write_text("let w = 3\nmodel A { input vector(2); linear(w) }\nmodel B { input vector(2); linear(1) }")
    result = run("compile", path, "--model", "A", "--set", "w=5", "--json")
    layers = json.loads(result.output)["models"][0]["layers"]
    assert result.exit_code == 0 and layers[0]["output_shape"] == [5]


def test_errors_exit_1_with_caret_and_no_traceback(tmp_path):
    path = tmp_path / "bad.dlspec"
    path.write_text("model M {\n    input image(1, 8, 8)\n    conv(4, 3, paddin=1)\n}\n")
    result = run("compile", path)
    assert result.exit_code == 1
    assert f"{path}:3:16: error: conv has no argument 'paddin'. Did you mean 'padding'" in result.output
    assert "    conv(4, 3, paddin=1)\n" + " " * 19 + "^" in result.output
    assert "Traceback" not in result.output


def test_unknown_model_and_missing_file():
    assert "no model named 'Lenet'" in run("compile", ROOT / "specs" / "lenet5.dlspec", "--model", "Lenet").output
    result = run("compile", "does/not/exist.dlspec")
    assert result.exit_code == 1 and "file not found" in result.output


@pytest.mark.slow
def test_fit_evaluate_predict_from_the_command_line(tmp_path):
    spec = tmp_path / "d.dlspec"
    spec.write_text((ROOT / "specs" / "digits.dlspec").read_text().replace("epochs 15", "epochs 2"))
    out = tmp_path / "run"
    result = run("fit", spec, "--out", out, "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert "epoch 1/1" in result.output and "val_accuracy" in result.output and "test: loss" in result.output
    result = run("fit", "--resume", out, "--epochs", "2")
    assert result.exit_code == 0 and "epoch 2/2" in result.output and "epoch 1/2" not in result.output
    result = run("evaluate", out)
    assert result.exit_code == 0 and "test_accuracy:" in result.output
    result = run("predict", out, tmp_path / "missing.png")
    assert result.exit_code == 1 and "file not found" in result.output


def test_compile_checks_train_blocks_without_loading_data(tmp_path):
    spec = tmp_path / "d.dlspec"
    spec.write_text((ROOT / "specs" / "digits.dlspec").read_text().replace("optimizer adamw", "optimizer adamx"))
    result = run("compile", spec)
    assert result.exit_code == 1 and "unknown optimizer 'adamx'. Did you mean" in result.output and "'adamw'" in result.output
