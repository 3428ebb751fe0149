"""Training (and so evaluate, predict and export, which read the train block the same way) refuses a model
with several inputs or several outputs: one located error at its second `input` or first `output` line."""
import pytest
from click.testing import CliRunner

from dlspec.cli import main

DATA_AND_TRAIN = """
data d {
    source sklearn_digits
}
train {
    model M
    data d
    epochs 1
}
"""

TWO_INPUTS = """model M {
    input a: vector(64)
    input b: vector(64)
    add(a, b) -> linear(10)
}
""" + DATA_AND_TRAIN

TWO_OUTPUTS = """model M {
    input vector(64)
    h = linear(16)
    output digit = h -> linear(10)
    output odd = h -> linear(2)
}
""" + DATA_AND_TRAIN

ONE_OUTPUT = """model M {
    input x: vector(64)
    output digit = x -> linear(10)
}
""" + DATA_AND_TRAIN


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("text, where, count", [(TWO_INPUTS, "3:5", "2 inputs"), (TWO_OUTPUTS, "4:12", "2 outputs")])
def test_fit_refuses_several_inputs_or_outputs_at_one_located_line(tmp_path, text, where, count):
    path = tmp_path / "m.dlspec"
    path.write_text(text)
    result = run("fit", path, "--out", tmp_path / "run")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"m.dlspec:{where}: error: model M has {count}: training, evaluate, predict and export of a model " \
           "with several inputs or outputs are not supported yet" in result.output
    assert result.output.count("error:") == 1
    assert not (tmp_path / "run").exists()


def test_compile_of_the_model_alone_is_fine(tmp_path):
    path = tmp_path / "m.dlspec"
    path.write_text(TWO_INPUTS.split("data d")[0])
    result = run("compile", path, "--show")
    assert result.exit_code == 0, result.output
    assert "Model M: inputs a [F=64], b [F=64]" in result.output


def test_one_named_input_and_output_still_reads_its_train_block():
    import dlspec
    from dlspec.train.config import read_train
    cfg = read_train(dlspec.loads(ONE_OUTPUT, "m.dlspec"))
    assert cfg.model == "M"
