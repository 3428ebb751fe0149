"""Every registered layer, checked against torch: inferred shapes vs a real forward pass."""
import pytest
import torch

from dlspec.errors import ArgumentError
from dlspec.schema.args import bind_args
from dlspec.layers.registry import find_layer, list_layers
from dlspec.shapes import Shape

def shipped_layers():
    """Built-in layers and the example plugin's (test modules register throwaway test_* layers)."""
    return [layer for layer in list_layers() if not layer.name.startswith("test_")]


CASES = [(layer, dims, args) for layer in shipped_layers() for dims, args in layer.examples]


def test_every_layer_has_docs_and_examples():
    assert any(layer.plugin for layer in shipped_layers())  # the example plugin is included
    for layer in shipped_layers():
        assert layer.doc.strip(), layer.name
        # a layer that needs a particular predecessor (hidden) is tested in its own module
        assert layer.examples or layer.follows, f"{layer.name} has no example to test"


@pytest.mark.parametrize("layer, dims, args", CASES, ids=[f"{c[0].name}-{i}" for i, c in enumerate(CASES)])
def test_inferred_shape_matches_forward(layer, dims, args):
    bound = bind_args(layer.name, layer.args, [], dict(args), None)
    integer = layer.name == "embedding"
    shape = Shape(tuple(dims), integer=integer)
    expected = layer.infer(shape, bound)
    module = layer.build(shape, bound).eval()
    x = torch.randint(0, 5, (2,) + dims) if integer else torch.randn((2,) + dims)
    with torch.no_grad():
        y = module(x)
    assert tuple(y.shape[1:]) == expected.dims


@pytest.mark.parametrize("alias, canonical", [("Conv2d", "conv2d"), ("Linear", "linear"), ("BatchNorm2d", "batchnorm"),
                                              ("ReLU", "relu"), ("MaxPool2d", "maxpool"), ("Dropout", "dropout")])
def test_torch_class_names_are_aliases(alias, canonical):
    assert find_layer(alias) is find_layer(canonical)


def test_torch_nn_modules_are_layers_with_meta_shape_inference():
    layer = find_layer("torch.nn.PixelShuffle")
    bound = {"args": (2,), "kwargs": {}}
    assert layer.infer(Shape((8, 4, 4)), bound).dims == (2, 8, 8)
    assert find_layer("torch.nn.NoSuchThing") is None


def test_range_checks_quote_the_value():
    with pytest.raises(ArgumentError, match=r"argument 'p' must be in \[0, 1\); received 1.5"):
        bind_args("dropout", find_layer("dropout").args, [1.5], {}, None)
    with pytest.raises(ArgumentError, match="argument 'out' must be positive; received -3"):
        bind_args("linear", find_layer("linear").args, [-3], {}, None)


def test_wrong_type_and_missing_argument():
    with pytest.raises(ArgumentError, match="expects an integer, received 2.5"):
        bind_args("linear", find_layer("linear").args, [2.5], {}, None)
    with pytest.raises(ArgumentError, match="needs argument 'kernel'"):
        bind_args("conv", find_layer("conv").args, [8], {}, None)
