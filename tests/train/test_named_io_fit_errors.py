"""A model with several inputs or outputs trains only on data that names them and with a loss per output:
otherwise one located error (at the data block, or the train block) before any step runs."""
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


@pytest.mark.parametrize("text, expected", [
    (TWO_INPUTS, "m.dlspec:7:6: train error: model M has 2 inputs (a, b), but data d gives one tensor of inputs "
                 "per sample"),
    (TWO_OUTPUTS, "m.dlspec:11:1: error: model M has 2 outputs (digit, odd): give each its loss"),
])
def test_fit_of_several_inputs_or_outputs_without_fitting_data_or_losses_is_one_located_error(tmp_path, text,
                                                                                              expected):
    path = tmp_path / "m.dlspec"
    path.write_text(text)
    result = run("fit", path, "--out", tmp_path / "run")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert expected in result.output, result.output
    assert result.output.count("error:") == 1


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
