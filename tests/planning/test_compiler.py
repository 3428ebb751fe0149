"""The build from a plan (dlspec/compiler.py): resnet18.dlspec equals torchvision's ResNet-18 weight for
weight and output for output; sequential bodies become nn.Sequential with readable names, graph bodies and
params compute what the spec says; torch.nn modules pass through (tuples to their first element) and export
to Python from the spec's arguments; a model too large for the machine, or a plugin whose declared shape
disagrees with its forward, is refused at its line."""
import pytest
import torch
import torchvision

import dlspec
from tests.conftest import ROOT


def test_resnet18_matches_torchvision_exactly():
    ours = dlspec.load(ROOT / "specs" / "resnet18.dlspec").build("ResNet18").eval()
    theirs = torchvision.models.resnet18().eval()
    assert sum(p.numel() for p in ours.parameters()) == 11_689_512
    ours_p, theirs_p = list(ours.named_parameters()), list(theirs.named_parameters())
    assert [p.shape for _, p in ours_p] == [p.shape for _, p in theirs_p]
    assert [b.shape for _, b in ours.named_buffers()] == [b.shape for _, b in theirs.named_buffers()]
    keys = list(ours.state_dict())
    ours.load_state_dict(dict(zip(keys, theirs.state_dict().values())))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


def test_sequential_body_becomes_nn_sequential_with_readable_names():
    model = dlspec.loads("model M { input vector(4)\n linear(8) -> relu -> linear(8) -> relu -> linear(2) }").build()
    assert isinstance(model, torch.nn.Sequential)
    assert [n for n, _ in model.named_children()] == ["linear", "relu", "linear_1", "relu_1", "linear_2"]


def test_graph_forward_follows_the_spec():
    spec = dlspec.loads("model M {\n input vector(4)\n y = input -> linear(4)\n add(y, input)\n}")
    model = spec.build()
    x = torch.randn(3, 4)
    assert torch.allclose(model(x), model.linear(x) + x)


def test_params_are_parameters_that_train():
    spec = dlspec.loads("model M {\n input vector(3)\n param gain(3) = 2.0\n param bias(3) = zeros\n"
                        " y = mul(input, gain)\n add(y, bias)\n}")
    model = spec.build()
    assert [n for n, _ in model.named_parameters()] == ["gain", "bias"]
    assert torch.equal(model(torch.ones(1, 3)), torch.full((1, 3), 2.0))
    model(torch.ones(1, 3)).sum().backward()
    assert model.gain.grad is not None


def test_torch_nn_module_layer_builds():
    model = dlspec.loads("model M { input image(8, 4, 4)\n torch.nn.PixelShuffle(2) -> flatten }").build()
    assert model(torch.randn(2, 8, 4, 4)).shape == (2, 128)


# ---- issue 10: sizes, torch.nn passthrough, plugin shapes ----------------------------------

def test_parameters_larger_than_the_machine_are_refused_at_their_line_before_allocation():
    from dlspec.errors import DlspecError
    import pytest
    spec = dlspec.loads("model Big {\n input vector(4)\n linear(8) -> linear(1000000000000)\n}", "big.dlspec")
    for device in ("cpu", "meta"):  # a real build and compile's meta build
        with torch.device(device), pytest.raises(DlspecError, match=r"parameters need [\d,.]+ GiB, more than the [\d,.]+ GiB this machine "
                                              r"has; linear_1 alone holds 9,000,000,000,000 parameters") as info:
            spec.build()
        assert (info.value.line, info.value.column) == (3, 15)
    param = dlspec.loads("model P {\n input tensor(1000000, 1000000)\n param w(1000000, 1000000) = zeros\n mul(input, w)\n}")
    with pytest.raises(DlspecError, match="w alone holds 1,000,000,000,000 parameters") as info:
        param.build()
    assert info.value.line == 3


def test_torch_nn_modules_returning_tuples_pass_on_their_first_element():
    spec = dlspec.loads("model L {\n input sequence(6, 3)\n torch.nn.LSTM(3, 5, batch_first=true) -> last -> linear(2)\n}")
    assert spec.plan().out_shape.dims == (2,)
    model = spec.build()
    out = model(torch.randn(4, 6, 3))
    assert out.shape == (4, 2)
    out.sum().backward()  # trains: the tuple no longer reaches `last`


TORCH_NN_STEPS = [  # every torch.nn module the tests and docs use, each with an input it takes
    ("image(8, 4, 4)", 'torch.nn.PixelShuffle(2)'),
    ("image(3, 8, 8)", 'torch.nn.Conv2d(3, 4, 3, padding=1, bias=false)'),
    ("sequence(6, 3)", 'torch.nn.LSTM(3, 5, batch_first=true, num_layers=2)'),
    ("sequence(6, 8)", 'torch.nn.GRU(8, 4, batch_first=true)'),
    ("sequence(6, 8)", 'torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=true)'),
    ("sequence(6, 8)", 'torch.nn.LayerNorm(8)'),
    ("vector(4)", 'torch.nn.GELU(approximate="tanh")'),
    ("vector(4)", 'torch.nn.Linear(4, 3)'),
    ("image(3, 8, 8)", 'torch.nn.Flatten(start_dim=2)'),
    ("image(3, 8, 8)", 'torch.nn.Upsample(scale_factor=2.0, mode="nearest")'),
]


@pytest.mark.parametrize("input_decl, step", TORCH_NN_STEPS)
def test_torch_nn_modules_export_to_python_from_the_spec_arguments(input_decl, step, tmp_path):
    from dlspec.runs.export import example_input, export_python
    spec = dlspec.loads(f"model T {{\n input {input_decl}\n {step}\n}}")
    model = spec.build().eval()
    path = export_python(model, spec.plan(), example_input(spec.plan()), str(tmp_path))  # checks outputs itself
    written = step.replace("torch.nn.", "nn.").replace("true", "True").replace("false", "False").replace('"', "'")
    assert written in open(path).read()


def test_a_plugin_whose_declared_shape_disagrees_with_its_forward_is_named_at_compile():
    import pytest
    from torch import nn
    from dlspec.errors import PluginError

    @dlspec.layer("test_liar_shape")
    class Liar(nn.Module):
        def __init__(self, in_features: int):
            super().__init__()
            self.lin = nn.Linear(in_features, 3)

        def forward(self, x):
            return self.lin(x)

        @staticmethod
        def output_shape(shape):
            return (5,)

    spec = dlspec.loads("model M {\n input vector(4)\n test_liar_shape -> linear(2)\n}", "liar.dlspec")
    with pytest.raises(PluginError, match=r"plugin layer test_liar_shape \(plugin [\w.<>]+Liar\) declares the output "
                                          r"shape \[5\] for input \[4\], but its forward returns \[3\]") as info:
        spec.build()
    assert info.value.line == 3
