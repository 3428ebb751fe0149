import torch
import torchvision

import dlspec
from conftest import ROOT


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
