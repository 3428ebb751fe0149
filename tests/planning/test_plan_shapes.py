"""The planner's shapes and refusals (dlspec/planning/planner.py), through Spec.plan(): shape errors name
the layer, its line and the shapes; merges and params broadcast or say which axis disagrees; graph bodies,
repeats, block defaults and arguments, labels and the leading `input` plan or fail at their line. (Labels
over chains, repeat inputs, unreachable steps and limits: test_plan_semantics.py.)"""
import pytest

import dlspec
from dlspec.errors import ArgumentError, DlspecError, ShapeError, UnknownNameError


def plan(text):
    return dlspec.loads(text, "m.dlspec").plan()


@pytest.mark.parametrize("body, line, words", [
    ("input image(1, 8, 8)\nconv(4, 9)", 2, "kernel 9 (padding 0, dilation 1) is larger than the 8x8 input"),
    ("input image(1, 8, 8)\nflatten\nconv(4, 3)", 3, "conv needs a channels-first input"),
    ("input image(1, 8, 8)\nlinear(3)", 2, "put flatten"),
    ("input vector(6)\nbatchnorm -> groupnorm(4)", 2, "groupnorm needs a channels-first input"),
    ("input vector(6)\nembedding(4)", 2, "embedding needs integer token ids"),
    ("input tokens(6)\nembedding(4)", 2, "needs the vocabulary size"),
])
def test_shape_errors_name_the_layer_line_and_shapes(body, line, words):
    with pytest.raises(ShapeError) as info:
        plan("model M {\n" + body + "\n}")
    assert info.value.line == line + 1
    assert words in info.value.message and "its input has shape" in info.value.message


def test_add_of_different_shapes():
    with pytest.raises(ShapeError, match=r"add of y \[C=4, H=6, W=6\] and input \[C=1, H=8, W=8\]: "
                                         r"H 6 against 8, W 6 against 8: sizes must be equal or 1"):
        plan("model M {\n input image(1, 8, 8)\n y = input -> conv(4, 3)\n add(y, input)\n}")


@pytest.mark.parametrize("param, words", [
    ("param s(8, 3, 1) = zeros", "add of y [C=8, H=4, W=4] and param s [8, 3, 1]: H 4 against 3: a param's sizes "
                                 "must equal the tensor's or be 1"),
    ("param s(8, 4, 4, 4) = zeros", "add of y [C=8, H=4, W=4] and param s [8, 4, 4, 4]: the param has more axes "
                                    "than the 3 of each sample"),
])
def test_add_of_a_param_that_does_not_fit_names_it_and_the_axis(param, words):
    with pytest.raises(ShapeError) as info:
        plan("model M {\n input image(8, 4, 4)\n " + param + "\n y = input -> conv(8, 3, padding=1)\n add(y, s)\n}")
    assert words in info.value.message and "(param" not in info.value.message
    assert info.value.line == 5


def test_graph_with_concat_and_mid_chain_merge():
    node = plan("model M {\n input image(2, 8, 8)\n a = input -> conv(3, 3, padding=1)\n"
                " b = input -> conv(5, 1)\n concat(a, b) -> conv(2, 1) -> add(input)\n}")
    assert node.graph and node.out_shape.dims == (2, 8, 8)


def test_params_broadcast_and_unknown_operand():
    node = plan("model M {\n input image(4, 5, 5)\n param scale(1, 4, 1, 1) = ones\n mul(input, scale)\n}")
    assert node.params[0].shape == (1, 4, 1, 1)
    with pytest.raises(UnknownNameError, match="'scal' is not a bound name.*Did you mean 'scale'"):
        plan("model M {\n input image(4, 5, 5)\n param scale(4, 1, 1) = ones\n mul(input, scal)\n}")


def test_repeat_and_block_defaults():
    node = plan("block B(ch, n=2) { repeat n { linear(ch) -> relu } }\n"
                "model M { input vector(3)\n B(5)\n B(ch=7, n=1) }")
    assert [len(c.children) for c in node.children] == [4, 2]
    assert node.out_shape.dims == (7,)


def test_labels_name_submodules_and_must_be_unique():
    node = plan("model M { input vector(3)\n body: linear(4)\n head: linear(2) }")
    assert [c.name for c in node.children] == ["body", "head"]
    with pytest.raises(DlspecError, match="label 'x' is used twice"):
        plan("model M { input vector(3)\n x: linear(4)\n x: linear(2) }")


def test_block_argument_errors():
    with pytest.raises(ArgumentError, match="B needs argument 'ch'"):
        plan("block B(ch) { linear(ch) }\nmodel M { input vector(3); B() }")
    with pytest.raises(ArgumentError, match="B has no argument 'cha'. Did you mean 'ch'"):
        plan("block B(ch) { linear(ch) }\nmodel M { input vector(3); B(cha=3) }")


def test_model_needs_an_input_first():
    with pytest.raises(DlspecError, match="must start with an `input` declaration"):
        plan("model M { linear(3) }")
    with pytest.raises(UnknownNameError, match="unknown input kind 'imge'. Did you mean 'image'"):
        plan("model M { input imge(1, 2, 2) }")
