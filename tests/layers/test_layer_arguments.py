"""Layer arguments that torch only refuses at run time (with no line to point at) are refused at compile.

Each rule is checked twice: its message and location through the planner, and its verdict against torch
itself over a grid of arguments, so the compile-time rule and torch's run-time one cannot drift apart.
"""
import itertools

import pytest
import torch

import dlspec
from dlspec.errors import ArgumentError, DlspecError, ShapeError
from dlspec.layers.registry import list_layers
from dlspec.schema.args import bind_args
from dlspec.shapes import Shape, ShapeProblem


def plan_error(inp, layer):
    """The error of planning `input INP -> LAYER` (the layer is on line 3, from column 5)."""
    with pytest.raises(DlspecError) as info:
        dlspec.loads(f"model M {{\n    input {inp}\n    {layer}\n}}\n", "m.dlspec").plan()
    return info.value


# (input, layer, error class, column of the caret on line 3, words of the message)
CASES = [
    ("image(1, 8, 8)", "conv(4, 3, padding=-1)", ArgumentError, 16,
     "conv: argument 'padding' must not be negative; received -1"),
    ("image(1, 8, 8)", "conv(4, 3, 1, -1)", ArgumentError, 19, "argument 'padding' must not be negative"),
    ("image(1, 8, 8)", "avgpool(3, padding=2)", ShapeError, 16,
     "avgpool: padding 2 is more than half the kernel 3; a pooling window may be padded by at most kernel // 2 (1 here)"),
    ("image(1, 8, 8)", "maxpool(2, 1, 2)", ShapeError, 19, "maxpool: padding 2 is more than half the kernel 2"),
    ("image(1, 8, 8)", "conv_transpose(4, 3, stride=2, output_padding=2)", ShapeError, 36,
     "output_padding 2 must be smaller than the stride (2) or the dilation (1) along each axis"),
    ("sequence(10, 4)", "upsample(0.01)", ShapeError, 14,
     "upsample(0.01) shrinks a side of 10 to nothing; scale must keep every side at least 1 (scale >= 0.1 here)"),
    ("sequence(10, 4)", "conv(4, 3, padding_mode=reflect, padding=20)", ShapeError, 38,
     "padding_mode=reflect needs a padding less than the input size it pads; padding 20 against an axis of size 10"),
    ("sequence(10, 4)", "conv(4, 21, padding_mode=reflect, padding=same)", ShapeError, 39,
     "padding_mode=reflect needs a padding less than the input size it pads; padding 10 against an axis of size 10"),
    ("image(1, 4, 4)", "conv(2, 3, padding_mode=circular, padding=[1, 5])", ShapeError, 39,
     "padding_mode=circular needs a padding at most the input size it pads; padding 5 against an axis of size 4"),
    ("sequence(1, 4)", "instancenorm", ShapeError, 5,
     "instancenorm needs more than 1 spatial (or time) position per channel to normalise over; this input has 1"),
    ("image(3, 1, 1)", "instancenorm(affine=true)", ShapeError, 5, "this input has 1"),
    ("vector(8)", "groupnorm(2)", ShapeError, 5,
     "groupnorm needs a channels-first input [C, L], [C, H, W] or [C, D, H, W], or a sequence [T, F]; "
     "it does not take a vector [8]"),
    ("image(6, 4, 4)", "groupnorm(4)", ShapeError, 15, "groupnorm(4) needs channels that divide into 4 groups; 6"),
    ("vector(8)", "conv(4, 3)", ShapeError, 5,
     "conv needs a channels-first input [C, L], [C, H, W] or [C, D, H, W], or a sequence [T, F]"),
    ("image(1, 8, 8)", "conv(4, 3, stride=2, padding=same)", ShapeError, 16, "padding=same needs stride 1"),
]


@pytest.mark.parametrize("inp, layer, kind, column, words", CASES, ids=[c[1] for c in CASES])
def test_refused_at_the_argument_or_layer_with_what_is_allowed(inp, layer, kind, column, words):
    err = plan_error(inp, layer)
    assert isinstance(err, kind)
    assert words in err.message
    assert (err.line, err.column) == (3, column)


def test_a_planned_size_of_zero_is_refused_whatever_the_layer():
    # a registered layer whose rule lets a 0 through still cannot plan it: the planner checks every output
    from dlspec.layers._base import layer
    from dlspec.layers.registry import LAYERS
    from dlspec.schema.args import Arg
    layer("test_shrink", (Arg("to", "int"),), infer=lambda s, a: s.with_dims((s.dims[0], a["to"])),
          build=lambda s, a: torch.nn.Identity(), doc="test only: sets the last size")
    try:  # registered for this test only: the registry-derived tests elsewhere must not meet it
        err = plan_error("sequence(10, 4)", "test_shrink(0)")
    finally:
        LAYERS.remove("test_shrink")
    assert isinstance(err, ShapeError)
    assert "test_shrink: its output would have shape [T=10, F=0]; every size must be at least 1" in err.message


# ---- registry-derived: every example plans a non-empty shape; every padding refuses -1 ----------------

SHIPPED = [layer for layer in list_layers() if not layer.name.startswith("test_")]
EXAMPLES = [(layer, dims, args) for layer in SHIPPED for dims, args in layer.examples]


@pytest.mark.parametrize("layer, dims, args", EXAMPLES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(EXAMPLES)])
def test_every_registry_example_plans_sizes_of_at_least_1(layer, dims, args):
    bound = bind_args(layer.name, layer.args, [], dict(args), None)
    out = layer.infer(Shape(tuple(dims), integer=layer.name == "embedding"), bound)
    assert out.dims and min(out.dims) >= 1, (layer.name, dims, args, out.dims)


PADDED = [layer for layer in SHIPPED if any(a.name == "padding" and a.kind in ("ints", "int_or_str")
                                              for a in layer.args)]


@pytest.mark.parametrize("layer", PADDED, ids=[layer.name for layer in PADDED])
def test_every_layer_with_a_padding_refuses_a_negative_one_at_the_argument(layer):
    assert {"conv", "maxpool", "avgpool", "conv_transpose"} <= {p.name for p in PADDED}
    args = {a.name: 3 for a in layer.args if a.required}
    with pytest.raises(ArgumentError, match=f"{layer.name}: argument 'padding' must not be negative; received -1"):
        bind_args(layer.name, layer.args, [], {**args, "padding": -1}, None)


# ---- the compile-time rule agrees with torch over a grid ---------------------------------------------

def verdicts(layer_name, dims, args, module_args=None, train=True):
    """(planned dims or None when refused, torch's output dims or None when torch raises)."""
    layer = next(layer for layer in SHIPPED if layer.name == layer_name)
    bound = bind_args(layer_name, layer.args, [], dict(args), None)
    shape = Shape(tuple(dims))
    try:
        planned = layer.infer(shape, bound).dims
    except ShapeProblem:
        planned = None
    try:
        module = layer.build(shape, bound).train(train)
        with torch.no_grad():
            actual = tuple(module(torch.randn((2,) + tuple(dims))).shape[1:])
        actual = actual if min(actual) > 0 else None
    except (RuntimeError, ValueError):
        actual = None
    return planned, actual


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
def test_pool_padding_rule_matches_torch(kind):
    for kernel, padding, dilation in itertools.product((1, 2, 3, 4), (0, 1, 2, 3), (1, 2)):
        args = {"kernel": kernel, "padding": padding, **({"dilation": dilation} if kind == "maxpool" else {})}
        planned, actual = verdicts(kind, (2, 9), args)
        assert planned == actual, (kind, args, planned, actual)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_padding_mode_rule_matches_torch(mode):
    for size, padding in itertools.product((2, 5), (0, 1, 2, 4, 5, 6, "same")):
        args = {"out": 2, "kernel": 3 if padding != "same" else 2 * size + 1, "padding": padding, "padding_mode": mode}
        planned, actual = verdicts("conv", (2, size), args)
        assert planned == actual, (mode, size, args, planned, actual)


def test_conv_transpose_output_padding_rule_matches_torch():
    for stride, dilation, output_padding in itertools.product((1, 2, 3), (1, 2), (0, 1, 2)):
        args = {"out": 2, "kernel": 3, "stride": stride, "dilation": dilation, "output_padding": output_padding}
        planned, actual = verdicts("conv_transpose", (2, 4, 4), args)
        assert planned == actual, (args, planned, actual)


@pytest.mark.parametrize("dims", [(3, 1), (3, 2), (3, 1, 1), (3, 1, 2), (3, 1, 1, 1)])
def test_instancenorm_rule_matches_torch_in_training(dims):
    planned, actual = verdicts("instancenorm", dims, {})
    assert planned == actual


@pytest.mark.parametrize("scale", [0.01, 0.09, 0.1, 0.25, 0.5, 1.5])
def test_upsample_rule_matches_torch(scale):
    planned, actual = verdicts("upsample", (2, 10), {"scale": scale})
    assert planned == actual
